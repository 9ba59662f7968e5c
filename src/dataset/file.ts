import { createHash } from 'node:crypto';
import { isFkdError } from '../errors.js';
import { readFileCapped } from '../io/read-file.js';
import { imageError } from './image-error.js';

/**
 * Bytes of an image's content hash: the first 8 bytes of the SHA-256 of its file. An accidental
 * change passes with probability 2^-64. SHA-256 is in every language's standard library and runs
 * at ~1.6 GB/s here with the CPU's SHA extensions (0.07 ms for a 110 KB JPEG, ~1% of its decode),
 * so a 64-bit non-cryptographic hash (xxHash) would save little and cost other readers a dependency.
 */
export const CONTENT_HASH_BYTES = 8;

/** Largest image file read: what one Node read can return (2 GiB − 1). */
const MAX_IMAGE_FILE_BYTES = 2 ** 31 - 1;

/** An image file's bytes, read once, and their content hash. */
export interface ImageFile {
  bytes: Uint8Array;
  hash: Uint8Array;
}

/**
 * The content hash of an image file's bytes (docs/FORMAT.md, "Content hashes").
 *
 * @example
 * contentHash(new TextEncoder().encode('abc')); // Uint8Array [0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea]
 */
export function contentHash(bytes: Uint8Array): Uint8Array {
  const digest = createHash('sha256').update(bytes).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, CONTENT_HASH_BYTES);
}

/**
 * Reads an image file whole, so it is hashed and decoded from the same bytes: a file that
 * changes between the two can never pass as the one that was labelled.
 *
 * @example
 * const { bytes, hash } = await readImageFile('train/n01440764/x.JPEG', 'n01440764/x.JPEG');
 */
export async function readImageFile(file: string, name: string): Promise<ImageFile> {
  const bytes = await readImageBytes(file, name);
  return { bytes, hash: contentHash(bytes) };
}

/** An image file's bytes, for a reader with no hash to compare them with (a format 1 store). */
export async function readImageBytes(file: string, name: string): Promise<Uint8Array> {
  let buffer: Buffer;
  try {
    // A path swapped for a FIFO or device after the scan is refused, not waited on.
    buffer = await readFileCapped(file, MAX_IMAGE_FILE_BYTES, name);
  } catch (error) {
    const reason = isFkdError(error) || error instanceof Error ? error.message : String(error);
    throw imageError('E_IO', name, `cannot read the file (${reason}).`, error);
  }
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** The hash as lower-case hex, for messages and manifests. */
export function hashHex(hash: Uint8Array): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex');
}
