/**
 * An HTTP proxy on 127.0.0.1 that breaks a share of the requests it forwards, the ways object
 * storage breaks in practice: 500 and 503 answers, answers too slow to wait for, connections
 * dropped before any answer, and answers cut off halfway through the body.
 *
 * Which request gets which fault comes from a seeded generator, so a sequential test meets
 * the same faults on every run. Everything is bounded: delays are capped, and the proxy stops
 * itself after `lifetimeMs` even if a test forgets to.
 */
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type Fault = 'error500' | 'error503' | 'delay' | 'drop' | 'truncate';

export const ALL_FAULTS: readonly Fault[] = ['error500', 'error503', 'delay', 'drop', 'truncate'];

export interface FaultyProxyOptions {
  /** Where healthy requests go, e.g. the s3rver endpoint. */
  target: string;
  /** Share of requests that meet a fault, 0..1. Can be changed later through `proxy.rate`. */
  rate: number;
  seed?: number;
  /** Kinds of fault to draw from; default all. */
  faults?: readonly Fault[];
  /** How long a `delay` fault holds a request before forwarding it. Default 2 s, at most 30 s. */
  delayMs?: number;
  /** At most this many faults in a row, then one healthy request. Default unlimited. */
  maxConsecutive?: number;
  /** The proxy closes itself after this long. Default 2 minutes. */
  lifetimeMs?: number;
  /**
   * Honour `If-None-Match: *` on PUT as S3 does (412 when the object exists or another such
   * PUT to it came first) in front of a server that ignores it (s3rver). Objects are known
   * from the PUTs and DELETEs this proxy forwarded, so every write must go through it.
   */
  conditionalPuts?: boolean;
  /**
   * Refuse the first `count` conditional PUTs with `status` whatever exists: 409 is S3's
   * answer while another conditional write to the key is in flight (a write that may yet fail),
   * 412 its answer to a write that lost. A real server gives neither on demand.
   */
  refuseConditional?: { status: 409 | 412; count: number };
}

export interface FaultyProxy {
  /** `http://127.0.0.1:<port>`, to use as the S3 endpoint. */
  readonly endpoint: string;
  rate: number;
  /** How many requests met each fault, and how many went through (`ok`). */
  readonly counts: Record<Fault | 'ok', number>;
  /** Conditional PUTs refused with 412 (with `conditionalPuts`). */
  readonly preconditionFailed: number;
  /** Conditional PUTs refused by `refuseConditional`. */
  readonly refused: number;
  stop(): Promise<void>;
}

/** Hop-by-hop headers: they describe one connection, not the request, and are not signed by SigV4. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'expect', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

/**
 * Starts a fault-injecting proxy in front of `target`.
 *
 * @example
 * const proxy = await startFaultyProxy({ target: server.endpoint, rate: 0.3, seed: 7 });
 * const store = new S3Store(`s3://${server.bucket}/x`, { endpoint: proxy.endpoint });
 * // ...
 * await proxy.stop();
 */
export async function startFaultyProxy(options: FaultyProxyOptions): Promise<FaultyProxy> {
  const target = new URL(options.target);
  const random = xorshift32(options.seed ?? 1);
  const faults = options.faults ?? ALL_FAULTS;
  const delayMs = Math.min(options.delayMs ?? 2_000, 30_000);
  const maxConsecutive = options.maxConsecutive ?? Number.POSITIVE_INFINITY;
  const agent = new Agent({ keepAlive: true });
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const counts: Record<Fault | 'ok', number> = { ok: 0, error500: 0, error503: 0, delay: 0, drop: 0, truncate: 0 };
  let consecutive = 0;
  let requestNumber = 0;

  const pick = (rate: number): Fault | 'ok' => {
    // Two draws every time, so the sequence does not depend on which branch was taken.
    const roll = random();
    const which = random();
    if (roll >= rate || consecutive >= maxConsecutive) {
      consecutive = 0;
      return 'ok';
    }
    consecutive += 1;
    return faults[Math.floor(which * faults.length)] ?? 'ok';
  };

  const later = (ms: number, run: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
  };

  const forward = (incoming: IncomingMessage, body: Buffer, response: ServerResponse, truncate: boolean): void => {
    const headers: IncomingHttpHeaders = {};
    for (const [name, value] of Object.entries(incoming.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value;
    if (headers['content-length'] === undefined && body.length > 0) headers['content-length'] = String(body.length);
    const upstream = request(
      { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers, agent },
      (answer) => {
        const answerHeaders: IncomingHttpHeaders = {};
        for (const [name, value] of Object.entries(answer.headers)) if (name !== 'connection' && name !== 'keep-alive') answerHeaders[name] = value;
        if (!truncate) {
          response.writeHead(answer.statusCode ?? 502, answerHeaders);
          answer.pipe(response);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          const whole = Buffer.concat(chunks);
          response.writeHead(answer.statusCode ?? 502, answerHeaders);
          // Headers promise the full length; send half, then hang up.
          response.write(whole.subarray(0, Math.floor(whole.length / 2)), () => response.socket?.destroy());
          if (whole.length === 0) response.socket?.destroy();
        });
      },
    );
    upstream.on('error', () => response.socket?.destroy());
    upstream.end(body);
  };

  const written = new Set<string>();
  let preconditionFailed = 0;
  let refused = 0;
  const refuse = (response: ServerResponse, status: 409 | 412): void => {
    const [code, message] = status === 412 ? ['PreconditionFailed', 'At least one of the pre-conditions you specified did not hold'] : ['ConditionalRequestConflict', 'A conflicting conditional operation is currently in progress against this resource.'];
    response.writeHead(status, { 'content-type': 'application/xml' });
    response.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
  };
  /** With `conditionalPuts` or `refuseConditional`: answers a conditional PUT itself; true when it did. */
  const refusedAsExisting = (incoming: IncomingMessage, response: ServerResponse): boolean => {
    const conditional = incoming.method === 'PUT' && incoming.headers['if-none-match'] === '*';
    if (conditional && options.refuseConditional !== undefined && refused < options.refuseConditional.count) {
      refused += 1;
      incoming.resume();
      refuse(response, options.refuseConditional.status);
      return true;
    }
    if (!options.conditionalPuts) return false;
    const path = (incoming.url ?? '').split('?')[0]!;
    if (incoming.method === 'DELETE') written.delete(path);
    if (incoming.method !== 'PUT') return false;
    if (conditional && written.has(path)) {
      preconditionFailed += 1;
      incoming.resume();
      refuse(response, 412);
      return true;
    }
    // Taken as soon as the PUT arrives, so of two racing conditional PUTs the second is refused.
    written.add(path);
    return false;
  };

  const server = createServer((incoming, response) => {
    requestNumber += 1;
    if (refusedAsExisting(incoming, response)) return;
    const fault = pick(proxy.rate);
    counts[fault] += 1;
    if (fault === 'drop') {
      incoming.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      switch (fault) {
        case 'error500':
        case 'error503': {
          const status = fault === 'error500' ? 500 : 503;
          // Not "SlowDown": the SDK treats that as throttling, with second-long backoffs.
          const code = status === 500 ? 'InternalError' : 'ServiceUnavailable';
          response.writeHead(status, { 'content-type': 'application/xml' });
          response.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>Injected fault</Message><RequestId>fault-${requestNumber}</RequestId></Error>`);
          return;
        }
        case 'delay':
          // Forward only if the client is still waiting: a late PUT must not land after a retry.
          later(delayMs, () => {
            if (!incoming.socket.destroyed) forward(incoming, body, response, false);
          });
          return;
        default:
          forward(incoming, body, response, fault === 'truncate');
      }
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= new Promise<void>((resolve) => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
      agent.destroy();
    });
    return stopped;
  };
  const lifetime = setTimeout(() => void stop(), options.lifetimeMs ?? 120_000);
  lifetime.unref();

  const proxy: FaultyProxy = {
    endpoint: `http://127.0.0.1:${port}`,
    rate: options.rate,
    counts,
    get preconditionFailed() {
      return preconditionFailed;
    },
    get refused() {
      return refused;
    },
    stop: () => {
      clearTimeout(lifetime);
      return stop();
    },
  };
  return proxy;
}

/** Xorshift32: quality is irrelevant here, repeatability is not. */
function xorshift32(seed: number): () => number {
  let state = (seed >>> 0) || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
}
