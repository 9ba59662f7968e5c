import { createHash } from 'node:crypto';

/**
 * Lower-case hex SHA-256 of `bytes`: the one digest the manifest uses for shards, blocks,
 * teacher files and dataset fingerprints, so every reader compares strings the same way.
 *
 * @example
 * sha256Hex(new Uint8Array()); // 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
 */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * True for a string that can be a `sha256Hex` result.
 *
 * @example
 * isSha256Hex('ab'); // false
 */
export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);
}
