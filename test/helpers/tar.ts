import type { ByteSource } from '../../src/dataset/tar/read.js';

const encoder = new TextEncoder();

/** Fields of a hand-built tar header; anything left out is what a plain ustar writer puts. */
export interface HeaderFields {
  name?: string | Uint8Array;
  size?: number;
  /** Raw size field bytes (12), overriding `size`. */
  sizeField?: Uint8Array;
  type?: string;
  prefix?: string;
  /** 'ustar' (POSIX, default), 'gnu' or 'v7' (no magic). */
  magic?: 'ustar' | 'gnu' | 'v7';
  /** Added to the correct checksum: nonzero gives a bad one. */
  checksumError?: number;
}

/** One 512-byte header, built byte by byte so a test can break exactly one field. */
export function header(fields: HeaderFields): Uint8Array {
  const block = new Uint8Array(512);
  const name = typeof fields.name === 'string' ? encoder.encode(fields.name) : (fields.name ?? encoder.encode('x.jpg'));
  block.set(name.subarray(0, 100), 0);
  octal(block, 100, 8, 0o644);
  octal(block, 108, 8, 0);
  octal(block, 116, 8, 0);
  if (fields.sizeField) block.set(fields.sizeField, 124);
  else octal(block, 124, 12, fields.size ?? 0);
  octal(block, 136, 12, 0);
  block[156] = (fields.type ?? '0').charCodeAt(0);
  const magic = fields.magic ?? 'ustar';
  if (magic === 'ustar') block.set(encoder.encode('ustar\u000000'), 257);
  if (magic === 'gnu') block.set(encoder.encode('ustar  \u0000'), 257);
  if (fields.prefix) block.set(encoder.encode(fields.prefix), 345);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  octal(block, 148, 7, sum + (fields.checksumError ?? 0));
  block[155] = 0x20;
  return block;
}

function octal(block: Uint8Array, offset: number, length: number, value: number): void {
  block.set(encoder.encode(value.toString(8).padStart(length - 1, '0')), offset);
  block[offset + length - 1] = 0;
}

/** A member: its header, then its data padded to the block. */
export function member(name: string | Uint8Array, data: Uint8Array | string, fields: HeaderFields = {}): Uint8Array {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data;
  return concat([header({ name, size: bytes.length, ...fields }), bytes, new Uint8Array((512 - (bytes.length % 512)) % 512)]);
}

/** A pax extended header record set (`LEN key=value\n` each), as the data of an `x` member. */
export function paxRecords(records: Record<string, string>): Uint8Array {
  const lines = Object.entries(records).map(([key, value]) => {
    const body = ` ${key}=${value}\n`;
    let length = encoder.encode(body).length + 1;
    while (String(length).length + encoder.encode(body).length !== length) length++;
    return `${length}${body}`;
  });
  return encoder.encode(lines.join(''));
}

export const END = new Uint8Array(1024);

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A ByteSource over bytes in memory that counts what it was asked for. */
export function memorySource(bytes: Uint8Array): ByteSource & { readBytes: number } {
  const source = {
    size: bytes.length,
    readBytes: 0,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (offset < 0 || length < 0 || offset + length > bytes.length) throw new Error(`read out of bounds: ${offset}+${length} of ${bytes.length}`);
      source.readBytes += length;
      return bytes.slice(offset, offset + length);
    },
  };
  return source;
}
