import { BLOCK } from './header.js';

const encoder = new TextEncoder();

/** The end-of-archive marker: two zero blocks. */
export const TAR_END: Uint8Array = new Uint8Array(2 * BLOCK);

/**
 * A ustar header for a regular file, with everything but the name and size fixed (mode 0644,
 * uid and gid 0, no owner names, mtime 0): the same member always gives the same bytes, so a
 * packed shard is a pure function of its samples.
 *
 * @example
 * const header = tarHeader('000000000.jpg', 110_000);
 */
export function tarHeader(name: string, size: number): Uint8Array {
  const block = new Uint8Array(BLOCK);
  const nameBytes = encoder.encode(name);
  if (nameBytes.length > 100 || nameBytes.includes(0)) throw new RangeError(`tar member name ${JSON.stringify(name)} does not fit a ustar name field`);
  if (!Number.isSafeInteger(size) || size < 0 || size > 0o77777777777) throw new RangeError(`tar member size ${size} does not fit an octal size field`);
  block.set(nameBytes, 0);
  writeOctal(block, 100, 8, 0o644);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, 0);
  block[156] = 0x30;
  block.set(encoder.encode('ustar\u000000'), 257);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  writeOctal(block, 148, 7, sum);
  block[155] = 0x20;
  return block;
}

/** Zero bytes after `size` bytes of data, up to the next block. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

/** `value` as zero-padded octal digits and a terminating NUL, filling `length` bytes. */
function writeOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  block.set(encoder.encode(value.toString(8).padStart(length - 1, '0')), offset);
  block[offset + length - 1] = 0;
}
