import { FkdError } from '../errors.js';

/** Most names a pattern may expand to: more is a typo (`{0..99999999}`), not a shard set. */
export const MAX_EXPANSION = 1_000_000;

/**
 * Expands a shell-style brace pattern, as webdataset's shard URLs use it: `{000..127}` is a
 * zero-padded numeric range (padded to the width of the first bound when it starts with 0 or
 * both bounds are the same width), `{a,b,c}` a list. Groups may repeat; they do not nest.
 * The count is checked before anything is expanded.
 *
 * @example
 * expandBraces('train-{000..002}.tar'); // ['train-000.tar', 'train-001.tar', 'train-002.tar']
 */
export function expandBraces(pattern: string): string[] {
  const groups: string[][] = [];
  const literals: string[] = [];
  let rest = pattern;
  for (;;) {
    const open = rest.indexOf('{');
    const close = rest.indexOf('}');
    if (open < 0) {
      if (close >= 0) throw bad(pattern, 'a "}" without its "{"');
      literals.push(rest);
      break;
    }
    if (close < open) throw bad(pattern, 'a "{" without its "}"');
    const inner = rest.slice(open + 1, close);
    if (inner.includes('{')) throw bad(pattern, 'nested braces');
    literals.push(rest.slice(0, open));
    groups.push(alternatives(inner, pattern));
    rest = rest.slice(close + 1);
  }
  const count = groups.reduce((product, group) => product * group.length, 1);
  if (count > MAX_EXPANSION) throw bad(pattern, `${count} names, more than ${MAX_EXPANSION}`);
  let names = [literals[0]!];
  groups.forEach((group, g) => {
    names = names.flatMap((name) => group.map((part) => `${name}${part}${literals[g + 1]!}`));
  });
  return names;
}

function alternatives(inner: string, pattern: string): string[] {
  const range = /^([0-9]{1,9})\.\.([0-9]{1,9})$/.exec(inner);
  if (range) {
    const [, low, high] = range as unknown as [string, string, string];
    const from = Number(low);
    const to = Number(high);
    if (to < from) throw bad(pattern, `a range {${inner}} that counts down`);
    if (to - from + 1 > MAX_EXPANSION) throw bad(pattern, `a range {${inner}} of more than ${MAX_EXPANSION} names`);
    const width = low.startsWith('0') || low.length === high.length ? low.length : 0;
    return Array.from({ length: to - from + 1 }, (_, i) => String(from + i).padStart(width, '0'));
  }
  if (!inner.includes(',')) throw bad(pattern, `{${inner}}, which is neither a range {a..b} nor a list {a,b}`);
  return inner.split(',');
}

function bad(pattern: string, what: string): FkdError {
  return new FkdError('E_BAD_SHARD_SET', `The shard pattern "${pattern}" has ${what}. Write it as webdataset does: train-{000000..001023}.tar.`, { path: pattern });
}
