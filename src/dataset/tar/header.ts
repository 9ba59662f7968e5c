import { TarError } from './error.js';

/** Tar's unit: every header and every member's padded data is a whole number of blocks. */
export const BLOCK = 512;

/** One parsed 512-byte header, before GNU long names or pax records are applied. */
export interface TarHeader {
  /** The name field, joined to the ustar prefix when there is one; raw, not yet checked. */
  name: string;
  /** Size from the header's own field (a pax `size` record may override it). */
  size: number;
  /** Type flag as a character; `'\0'` is an old-style regular file. */
  type: string;
}

/** Where a header is, for error messages before its name is known. */
export interface HeaderPlace {
  shard: string;
  offset: number;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** True when every byte of the block is zero: the end-of-archive marker. */
export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * Parses one header block. The checksum is checked first, so no field of a damaged block is
 * trusted; names are decoded as strict UTF-8 and a byte after a name's terminating NUL is
 * refused (a name that hides a second name behind a NUL).
 *
 * @example
 * const header = parseHeader(block, { shard: 'train-000000.tar', offset: 0 });
 */
export function parseHeader(block: Uint8Array, place: HeaderPlace): TarHeader {
  const where = `at byte ${place.offset}`;
  const fail = (rule: ConstructorParameters<typeof TarError>[2], detail: string) => new TarError(place.shard, where, rule, detail);
  const stored = octal(block, 148, 8);
  if (stored === undefined) throw fail('bad-checksum', 'the header checksum field is not an octal number');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  // Old writers summed signed bytes; both are the same for names in ASCII.
  if (stored !== unsigned && stored !== signed) throw fail('bad-checksum', `the header checksum is ${stored}, its bytes sum to ${unsigned}`);
  const type = String.fromCharCode(block[156]!);
  const size = sizeField(block, fail);
  const posix = ascii(block, 257, 6) === 'ustar\0' && ascii(block, 263, 2) === '00';
  const name = nameField(block, 0, 100, fail);
  const prefix = posix ? nameField(block, 345, 155, fail) : '';
  return { name: prefix ? `${prefix}/${name}` : name, size, type };
}

type Fail = (rule: ConstructorParameters<typeof TarError>[2], detail: string) => TarError;

/** The size field: octal, or GNU base-256 (high bit set) for sizes past 8 GiB. */
function sizeField(block: Uint8Array, fail: Fail): number {
  const first = block[124]!;
  if (first & 0x80) {
    if (first === 0xff) throw fail('bad-number', 'the size field is a negative base-256 number');
    let value = first & 0x7f;
    for (let i = 125; i < 136; i++) {
      value = value * 256 + block[i]!;
      // Past 2^53 a number is no longer exact; it is absurd anyway, and the caller's cap refuses it.
      if (value > Number.MAX_SAFE_INTEGER) return Number.POSITIVE_INFINITY;
    }
    return value;
  }
  const size = octal(block, 124, 12);
  if (size === undefined) throw fail('bad-number', 'the size field is not an octal number');
  return size;
}

/** An octal field: optional leading spaces, digits 0-7, then only spaces or NULs. Empty is 0. */
function octal(block: Uint8Array, start: number, length: number): number | undefined {
  let i = start;
  const end = start + length;
  while (i < end && block[i] === 0x20) i++;
  let value = 0;
  for (; i < end; i++) {
    const byte = block[i]!;
    if (byte < 0x30 || byte > 0x37) break;
    value = value * 8 + (byte - 0x30);
  }
  for (; i < end; i++) if (block[i] !== 0x20 && block[i] !== 0) return undefined;
  return value;
}

function ascii(block: Uint8Array, start: number, length: number): string {
  return String.fromCharCode(...block.subarray(start, start + length));
}

/** A NUL-terminated (or full-width) name field as UTF-8. */
function nameField(block: Uint8Array, start: number, length: number, fail: Fail): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  const used = end < 0 ? field : field.subarray(0, end);
  if (end >= 0 && !isZeroBlock(field.subarray(end))) throw fail('nul-in-name', 'a name field holds bytes after its terminating NUL');
  return utf8(used, fail);
}

/** Bytes as strict UTF-8: a name that does not decode could never be named back. */
export function utf8(bytes: Uint8Array, fail: Fail): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw fail('bad-name', 'a name that is not valid UTF-8');
  }
}
