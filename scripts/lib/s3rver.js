// A real S3 API on 127.0.0.1 for tests and benchmarks: s3rver in a child process, on an
// ephemeral port, over a temporary directory. Plain JS so that bench scripts (no TypeScript
// loader) and the tests share it; types are in s3rver.d.ts.
//
// Why a child process: s3rver's ListObjectsV2 continuation tokens use DES, which Node >= 17's
// OpenSSL 3 offers only with `--openssl-legacy-provider`, a startup-only flag; and in its own
// process the server does not share an event loop with the client being tested or measured.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

// CommonJS run with `node -e`, so `require` resolves s3rver from the repository root (cwd).
// A key pair other than s3rver's built-in S3RVER/S3RVER is registered before it starts.
// The server exits when stdin closes, so a crashed parent never leaves one behind.
//
// deleteObject is replaced: s3rver's also removes the folders the deletion left empty, and a
// PUT to a key in such a folder that has made the folder but not yet opened its file then
// fails with an 'error' event nobody handles, which kills the server (seen when writers put
// and delete claim marks under one prefix at once). S3 has no folders; empty ones are kept.
const SERVER_SOURCE = `
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');
const { unlink } = require('node:fs/promises');
FilesystemStore.prototype.deleteObject = async function deleteObject(bucket, key) {
  const gone = (error) => { if (error.code !== 'ENOENT') throw error; };
  await Promise.all(['object', 'object.md5', 'metadata.json'].map((kind) => unlink(this.getResourcePath(bucket, key, kind)).catch(gone)));
};
const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account');
const [directory, bucket, accessKeyId, secretAccessKey] = process.argv.slice(1);
if (accessKeyId !== 'S3RVER') DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
server.run().then(
  (address) => process.stdout.write(JSON.stringify({ port: address.port }) + '\\n'),
  (error) => { process.stderr.write(String(error && error.stack || error) + '\\n'); process.exit(1); },
);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

/**
 * Starts s3rver with one bucket and points the AWS SDK's credential chain of this process
 * at the key pair (a profile would shadow environment credentials, and a stray session token
 * would be sent along, so both are cleared). `env` holds the same for child processes.
 *
 * @example
 * const server = await startS3rver({ bucket: 'fkd-test' });
 * // new S3Store(`s3://${server.bucket}/x`, { endpoint: server.endpoint })
 * await server.stop();
 */
export async function startS3rver({ bucket = 'fkd-test', accessKeyId = 'S3RVER', secretAccessKey = 'S3RVER' } = {}) {
  const env = { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_REGION: 'us-east-1' };
  Object.assign(process.env, env);
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
  const directory = await mkdtemp(join(tmpdir(), 'fkd-s3rver-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', SERVER_SOURCE, directory, bucket, accessKeyId, secretAccessKey], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('s3rver did not start within 20 s')), 20_000);
      child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code} before listening`)));
      createInterface({ input: child.stdout }).once('line', (line) => {
        clearTimeout(timer);
        resolve(JSON.parse(line).port);
      });
    });
    return {
      endpoint: `http://127.0.0.1:${port}`,
      bucket,
      directory,
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
