import { createHash } from 'node:crypto';

/**
 * A manifest's JSON without what differs between two runs of the same job: its creation time,
 * and in format 2 the self-hash that covers it.
 */
export function comparableManifest(text: string | Uint8Array): Record<string, unknown> {
  const source = typeof text === 'string' ? text : new TextDecoder().decode(text);
  return { ...(JSON.parse(source) as Record<string, unknown>), createdAt: null, integrity: null };
}

/**
 * An edited manifest sealed the way a writer who recomputes every hash would (docs/FORMAT.md
 * §2.3), so the edit reaches the field rules instead of stopping at the integrity check.
 */
export function sealManifest(manifest: object): string {
  const zeroes = '0'.repeat(64);
  const zeroed = `${JSON.stringify({ ...manifest, integrity: zeroes }, null, 2)}\n`;
  const hash = createHash('sha256').update(zeroed).digest('hex');
  return zeroed.slice(0, zeroed.length - 68) + `${hash}"\n}\n`;
}
