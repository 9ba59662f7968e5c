/**
 * s3rver with a key pair of our choosing, for tests that must prove a credential never leaks.
 *
 * test/helpers/s3-server.ts starts the same server, but s3rver's built-in pair is
 * `S3RVER`/`S3RVER`: one short word for both halves, so a leak of the secret could not be told
 * from a leak of the key id. Here a second pair, with two distinct, unmistakable strings, is
 * registered in s3rver's account registry before the server starts. The server runs in a child
 * process for the same reasons as the shared helper (legacy OpenSSL provider for s3rver's
 * continuation tokens; its own event loop).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface KeyedS3Server {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Credentials for a child process that should talk to this server (the test process has them too). */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const SERVER_SOURCE = `
const S3rver = require('s3rver');
const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account');
const [directory, bucket, accessKeyId, secretAccessKey] = process.argv.slice(1);
DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
server.run().then(
  (address) => process.stdout.write(JSON.stringify({ port: address.port }) + '\\n'),
  (error) => { process.stderr.write(String(error && error.stack || error) + '\\n'); process.exit(1); },
);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

/**
 * Starts s3rver accepting `accessKeyId`/`secretAccessKey`, and sets them in `process.env` (the
 * SDK's credential chain) for in-process clients.
 *
 * @example
 * const server = await startKeyedS3Server();
 * await runCli(['info', `s3://${server.bucket}/x`], { env: server.env });
 */
export async function startKeyedS3Server(options: { bucket?: string; accessKeyId?: string; secretAccessKey?: string } = {}): Promise<KeyedS3Server> {
  const bucket = options.bucket ?? 'fkd-keyed';
  const accessKeyId = options.accessKeyId ?? 'AKIAFKDTESTKEY7Q2Z9X';
  const secretAccessKey = options.secretAccessKey ?? 'fkdSecret+Never/Print+ThisValue0123456789';
  const directory = await mkdtemp(join(tmpdir(), 'fkd-s3rver-keyed-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', SERVER_SOURCE, directory, bucket, accessKeyId, secretAccessKey], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('s3rver did not start within 20 s')), 20_000);
      child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code} before listening`)));
      createInterface({ input: child.stdout }).once('line', (line) => {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      });
    });
    const env: NodeJS.ProcessEnv = {
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      AWS_REGION: 'us-east-1',
    };
    process.env['AWS_ACCESS_KEY_ID'] = accessKeyId;
    process.env['AWS_SECRET_ACCESS_KEY'] = secretAccessKey;
    process.env['AWS_REGION'] = 'us-east-1';
    delete process.env['AWS_PROFILE'];
    delete process.env['AWS_SESSION_TOKEN'];
    return {
      endpoint: `http://127.0.0.1:${port}`,
      bucket,
      accessKeyId,
      secretAccessKey,
      env,
      async stop() {
        child.stdin.end();
        const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(force);
        await rm(directory, { recursive: true, force: true });
      },
    };
  } catch (error) {
    child.kill();
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
}
