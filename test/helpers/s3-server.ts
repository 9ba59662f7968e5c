/**
 * A real S3 API for tests: s3rver on 127.0.0.1, an ephemeral port and a temp directory.
 *
 * s3rver runs in a child process for two reasons. Its ListObjectsV2 continuation tokens use
 * DES, which OpenSSL 3 (Node >= 17) only offers with `--openssl-legacy-provider`, a flag that
 * can only be given at startup; without it any truncated listing answers 500. And in its own
 * process, the server's event loop does not share time with the client under test.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface S3TestServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  bucket: string;
  stop(): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

// CommonJS run with `node -e`, so `require` resolves s3rver from the repository root (cwd).
// Exits when stdin closes, so a crashed test process never leaves a server behind.
const SERVER_SOURCE = `
const S3rver = require('s3rver');
const [directory, bucket] = process.argv.slice(1);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
server.run().then(
  (address) => process.stdout.write(JSON.stringify({ port: address.port }) + '\\n'),
  (error) => { process.stderr.write(String(error && error.stack || error) + '\\n'); process.exit(1); },
);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

/**
 * Starts s3rver with one bucket and points the AWS SDK's credential chain at its fixed keys.
 *
 * @example
 * let server: S3TestServer;
 * beforeAll(async () => { server = await startS3Server(); });
 * afterAll(() => server.stop());
 */
export async function startS3Server(bucket = 'fkd-test'): Promise<S3TestServer> {
  // s3rver only accepts its own fixed key pair. A profile would shadow environment
  // credentials in the SDK's chain, and a stray session token would be sent along.
  process.env['AWS_ACCESS_KEY_ID'] = 'S3RVER';
  process.env['AWS_SECRET_ACCESS_KEY'] = 'S3RVER';
  process.env['AWS_REGION'] = 'us-east-1';
  delete process.env['AWS_PROFILE'];
  delete process.env['AWS_SESSION_TOKEN'];

  const directory = await mkdtemp(join(tmpdir(), 'fkd-s3rver-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', SERVER_SOURCE, directory, bucket], {
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
    return {
      endpoint: `http://127.0.0.1:${port}`,
      bucket,
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
