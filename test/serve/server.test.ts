import { existsSync, openSync, readSync, closeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoader } from '../../src/loader/loader.js';
import { slotLayout } from '../../src/serve/layout.js';
import { serveBatches } from '../../src/serve/server.js';
import { openLabels } from '../../src/store/labels.js';
import { collectBatches } from '../helpers/batches.js';
import { FIXTURE_IMAGES } from '../helpers/cli.js';

const STORE = new URL('../../fixtures/reference-store', import.meta.url).pathname;
let shm: string;

beforeAll(async () => {
  shm = await mkdtemp(join(tmpdir(), 'fkd-serve-'));
});
afterAll(async () => {
  await rm(shm, { recursive: true, force: true });
});

type Message = Record<string, unknown>;

/** A server on in-memory pipes, and a client side that reads its answers one by one. */
function start() {
  const input = new PassThrough();
  const output = new PassThrough();
  const served = serveBatches({ input, output, directory: shm });
  served.catch(() => undefined);
  let buffered = '';
  const waiting: Array<(message: Message) => void> = [];
  const queue: Message[] = [];
  output.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
      const message = JSON.parse(buffered.slice(0, end)) as Message;
      buffered = buffered.slice(end + 1);
      const take = waiting.shift();
      if (take) take(message);
      else queue.push(message);
    }
  });
  return {
    served,
    send: (message: Message) => input.write(`${JSON.stringify(message)}\n`),
    receive: (): Promise<Message> => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((resolve) => waiting.push(resolve))),
    end: () => input.end(),
  };
}

const OPTIONS = { data: FIXTURE_IMAGES, labels: STORE, batchSize: 5, size: 8, dtype: 'uint8', layout: 'nchw', shuffle: 3, workers: 0 };

describe('fkd serve', () => {
  it('lays every section of a slot on a 64-byte boundary, one after another', () => {
    const { sections, slotBytes } = slotLayout({ batchSize: 3, imageSize: 5, dtype: 'uint8', numClasses: 7, width: 2 });
    expect(sections.every((section) => section.offset % 64 === 0)).toBe(true);
    expect(sections[0]).toEqual({ name: 'images', type: 'uint8', perSample: 75, offset: 0 });
    expect(sections[1]!.offset).toBe(256); // 3 × 75 bytes, rounded up
    expect(slotBytes % 64).toBe(0);
  });

  it('writes the loader batches into the ring slots it names, and removes the ring when the client goes', async () => {
    const expected = await collectBatches(createLoader({ ...OPTIONS, labels: await openLabels(STORE), epoch: 1, copy: true } as never));
    const server = start();
    server.send({ type: 'open', version: 1, options: OPTIONS, slots: 3 });
    const ready = await server.receive();
    expect(ready).toMatchObject({ type: 'ready', slots: 3, batches: expected.length, numClasses: 4 });
    const path = ready.path as string;
    expect(existsSync(path)).toBe(true);
    server.send({ type: 'epoch', epoch: 1, startBatch: 0 });
    const fd = openSync(path, 'r');
    const images = (ready.sections as Array<{ name: string; offset: number }>).find((section) => section.name === 'images')!;
    for (const [b, batch] of expected.entries()) {
      const message = await server.receive();
      expect(message).toMatchObject({ type: 'batch', epoch: 1, index: b, size: batch.size });
      const bytes = Buffer.alloc(batch.images.byteLength);
      readSync(fd, bytes, 0, bytes.length, (message.slot as number) * (ready.slotBytes as number) + images.offset);
      expect(bytes.equals(Buffer.from(batch.images.buffer, batch.images.byteOffset, batch.images.byteLength)), `batch ${b}`).toBe(true);
      server.send({ type: 'release', slot: message.slot });
    }
    closeSync(fd);
    expect(await server.receive()).toMatchObject({ type: 'end', epoch: 1, batches: expected.length });
    server.end();
    await server.served;
    expect(existsSync(path)).toBe(false);
  });

  it('refuses options the loader refuses, with its code, and options that stay in-process', async () => {
    for (const [options, pattern] of [
      [{ ...OPTIONS, dtype: 'float16' }, /dtype/],
      [{ ...OPTIONS, transforms: [] }, /Unknown or per-epoch option "transforms"/],
      [{ ...OPTIONS, startBatch: 2 }, /"startBatch"/],
    ] as const) {
      const server = start();
      server.send({ type: 'open', version: 1, options });
      expect(await server.receive()).toMatchObject({ type: 'error', code: 'E_USAGE', message: expect.stringMatching(pattern) as unknown });
      await expect(server.served).rejects.toMatchObject({ code: 'E_USAGE' });
    }
  });

  it('answers a release of a slot the client does not hold with E_USAGE, ending the epoch only', async () => {
    const server = start();
    server.send({ type: 'open', version: 1, options: OPTIONS, slots: 3 });
    await server.receive();
    server.send({ type: 'epoch', epoch: 0 });
    server.send({ type: 'release', slot: 2 });
    let message = await server.receive();
    while (message.type === 'batch') message = await server.receive();
    expect(message).toMatchObject({ type: 'error', code: 'E_USAGE', message: expect.stringMatching(/release of a slot the client holds/) as unknown });
    server.send({ type: 'epoch', epoch: 0, startBatch: 14 });
    expect(await server.receive()).toMatchObject({ type: 'batch', index: 14 });
    server.send({ type: 'close' });
    await server.served;
  });
});
