import { LABEL_SCHEMA } from '../generate/options.js';
import { TRAIN_SCHEMA } from '../train/options.js';
import { VERIFY_SCHEMA } from '../check/options.js';
import { LOADER_SCHEMA, MIX_SCHEMA, TARGET_SCHEMA } from '../loader/options.js';
import type { Schema } from '../options/schema.js';

/**
 * The command-line flag of every library option, read from the option schemas: the library
 * names options by their property (`details.option` of an `FkdError`), the CLI by their flag.
 * Nested options are named by their path (`mix.alpha`, `target.mode`). A name two schemas
 * spell differently is refused here, at load, so one option never prints as two flags.
 */
function flagTable(schemas: ReadonlyArray<readonly [prefix: string, schema: Schema]>): ReadonlyMap<string, string> {
  const flags = new Map<string, string>();
  for (const [prefix, schema] of schemas) {
    for (const [key, field] of Object.entries(schema)) {
      const name = `${prefix}${key}`;
      const known = flags.get(name);
      if (known !== undefined && known !== field.flag) throw new Error(`Option ${name} is ${known} in one schema and ${field.flag} in another.`);
      flags.set(name, field.flag);
    }
  }
  return flags;
}

const FLAGS = flagTable([
  ['', LABEL_SCHEMA],
  ['', TRAIN_SCHEMA],
  ['', VERIFY_SCHEMA],
  ['', LOADER_SCHEMA],
  ['mix.', MIX_SCHEMA],
  ['target.', TARGET_SCHEMA],
]);

/**
 * The flag of a library option, or undefined when no command has one.
 *
 * @example
 * flagOf('shardImages'); // '--shard-images'
 */
export function flagOf(option: string): string | undefined {
  return FLAGS.get(option);
}

