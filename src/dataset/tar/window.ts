import type { ByteSource } from './read.js';

/**
 * A `ByteSource` that reads ahead in windows of `windowBytes`: the many small header reads of
 * a walk through a shard become a few large sequential reads (one ranged GET per window on
 * object storage, instead of one per member). One window is held at a time.
 *
 * @example
 * const source = windowedSource(size, (offset, length) => store.getRange('shard-000000.tar', offset, length), 8 << 20);
 */
export function windowedSource(size: number, read: (offset: number, length: number) => Promise<Uint8Array>, windowBytes: number): ByteSource {
  let start = 0;
  let window: Uint8Array = new Uint8Array(0);
  return {
    size,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (offset < start || offset + length > start + window.length) {
        start = offset;
        window = await read(offset, Math.min(size - offset, Math.max(windowBytes, length)));
      }
      return window.subarray(offset - start, offset - start + length);
    },
  };
}
