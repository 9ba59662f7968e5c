// A local S3 server for benchmarks: the JS twin of test/helpers/s3-server.ts (bench code runs
// without a TypeScript loader). s3rver runs in a child process because its ListObjectsV2
// continuation tokens need `--openssl-legacy-provider` on Node >= 17, a startup-only flag, and
// so that the server's work does not share an event loop with the client being measured.
//
// Also a byte-counting pass-through proxy, to measure what actually crosses the wire.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

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
 * Starts s3rver on 127.0.0.1 with one bucket, and points the AWS SDK's credential chain (in
 * this process and the children it spawns) at s3rver's fixed key pair.
 * @example
 * const server = await startS3rver('bench');
 * // ... new S3Store(`s3://${server.bucket}/x`, { endpoint: server.endpoint })
 * await server.stop();
 */
export async function startS3rver(bucket = 'fkd-bench') {
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  process.env.AWS_REGION = 'us-east-1';
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
  const directory = mkdtempSync(join(tmpdir(), 'fkd-bench-s3rver-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', SERVER_SOURCE, directory, bucket], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
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
      async stop() {
        child.stdin.end();
        const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(force);
        rmSync(directory, { recursive: true, force: true });
      },
    };
  } catch (error) {
    child.kill();
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

/**
 * A pass-through HTTP proxy that counts requests and body bytes in each direction.
 * @example
 * const proxy = await startCountingProxy(server.endpoint);
 * // use proxy.endpoint as the S3 endpoint, then read proxy.counts
 */
export async function startCountingProxy(target) {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const counts = { requests: 0, bytesUp: 0, bytesDown: 0, byMethod: {} };
  const server = createServer((incoming, response) => {
    counts.requests += 1;
    counts.byMethod[incoming.method] = (counts.byMethod[incoming.method] ?? 0) + 1;
    const headers = {};
    for (const [name, value] of Object.entries(incoming.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value;
    const forward = request({ host: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, headers, agent }, (answer) => {
      const answerHeaders = {};
      for (const [name, value] of Object.entries(answer.headers)) if (name !== 'connection' && name !== 'keep-alive') answerHeaders[name] = value;
      response.writeHead(answer.statusCode ?? 502, answerHeaders);
      answer.on('data', (chunk) => (counts.bytesDown += chunk.length));
      answer.pipe(response);
    });
    forward.on('error', () => response.socket?.destroy());
    incoming.on('data', (chunk) => (counts.bytesUp += chunk.length));
    incoming.pipe(forward);
  });
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    endpoint: `http://127.0.0.1:${server.address().port}`,
    counts,
    reset() {
      Object.assign(counts, { requests: 0, bytesUp: 0, bytesDown: 0, byMethod: {} });
    },
    stop() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        agent.destroy();
      });
    },
  };
}
