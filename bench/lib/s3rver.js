// A local S3 server for benchmarks (the launcher the tests use too), and a byte-counting
// pass-through proxy, to measure what actually crosses the wire.
import { Agent, createServer, request } from 'node:http';
import { startS3rver as startShared } from '../../scripts/lib/s3rver.js';

/**
 * The shared launcher (scripts/lib/s3rver.js) with s3rver's fixed key pair.
 * @example
 * const server = await startS3rver('bench');
 */
export function startS3rver(bucket = 'fkd-bench') {
  return startShared({ bucket });
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
