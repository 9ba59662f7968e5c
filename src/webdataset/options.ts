import type { BadEntryPolicy } from '../dataset/scan.js';
import { FkdError } from '../errors.js';
import { checkOptions, choice, decimal, integer, nameOf, text, type Naming, type SchemaValues } from '../options/schema.js';

/** `fkd pack`'s options: the CLI builds its flags and `pack()` checks its input from this one table. */
export const PACK_SCHEMA = {
  out: text({ flag: '--out', value: '<dest>', summary: 'where the shards and index.json go: a directory or s3://bucket/prefix' }),
  shardMiB: decimal({ flag: '--shard-mib', value: '<MiB>', summary: 'target shard size; a shard closes before the sample that would pass it (one shard is held in memory while it is written)', min: 0.002, max: 65_536 }),
  prefix: text({ flag: '--prefix', value: '<prefix>', summary: 'shard file names: <prefix>-000000.tar, … (letters, digits, ".", "_", "-")' }),
  onBadEntry: choice<BadEntryPolicy>({ flag: '--on-bad-entry', value: '<policy>', summary: 'bad entries of the tree: skip them (as the label pass does), or throw at the first ("fail" is the deprecated spelling)', choices: ['skip', 'throw'], deprecated: { fail: 'throw' } }),
  concurrency: integer({ flag: '--concurrency', summary: 'images read ahead of the writer', min: 1, max: 1024 }),
};

export type PackSchemaValues = SchemaValues<typeof PACK_SCHEMA>;

/** Every pack default, written once. */
export const PACK_DEFAULTS = {
  shardMiB: 256,
  prefix: 'shard',
  onBadEntry: 'skip' as BadEntryPolicy,
  concurrency: 16,
} satisfies Partial<PackSchemaValues>;

/**
 * The pack options with every default applied, each checked against its field.
 *
 * @example
 * resolvePackOptions({ out: 'wds', shardMiB: 0 }, 'api'); // throws: Expected a number in [0.002, 65536] for shardMiB but received 0.
 */
export function resolvePackOptions(input: Partial<Record<keyof typeof PACK_SCHEMA, unknown>>, naming: Naming): Required<Omit<PackSchemaValues, 'out'>> & Pick<PackSchemaValues, 'out'> {
  const checked = checkOptions(PACK_SCHEMA, input, naming);
  if (checked.out === undefined) throw new FkdError('E_USAGE', `Expected ${nameOf(PACK_SCHEMA, 'out', naming)}: where to write the shards.`);
  const resolved = { ...PACK_DEFAULTS, ...checked, out: checked.out };
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(resolved.prefix)) {
    throw new FkdError('E_USAGE', `Expected letters, digits, ".", "_" or "-" (at most 100) for ${nameOf(PACK_SCHEMA, 'prefix', naming)} but received "${resolved.prefix}".`);
  }
  return resolved;
}
