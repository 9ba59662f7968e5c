import { FkdError } from '../errors.js';
import { warnDeprecated } from './deprecated.js';

/**
 * One option of a command, shared by the CLI and the library: the CLI parses its text with
 * `parse`, the library checks a value with `check`, and both refuse with the same rule.
 * `range` is printed in `--help` and in every refusal, so the two never drift apart.
 */
export interface Field<T> {
  /** The CLI spelling, e.g. `--shard-images`; the library name is the schema key. */
  flag: string;
  /** The placeholder after the flag in `--help`, e.g. `<n>`; empty for switches. */
  value: string;
  summary: string;
  /** What is accepted, in words: `an integer in 1..10000`. */
  range: string;
  /** Strict parse of command-line text (no hex, no exponents for integers, no rounding). */
  parse(text: string, name: string): T;
  /** Checks a value given to the library. */
  check(value: unknown, name: string): T;
}

/** A command's options: library name → field. */
export type Schema = Record<string, Field<unknown>>;

/** The value type of each field of a schema. */
export type SchemaValues<S extends Schema> = { [K in keyof S]: S[K] extends Field<infer T> ? T : never };

/** How options are named in messages: by flag for the CLI, by property for the library. */
export type Naming = 'cli' | 'api';

export function refuse(range: string, name: string, received: unknown, advice = ''): FkdError {
  return new FkdError('E_USAGE', `Expected ${range} for ${name} but received ${show(received)}.${advice ? ` ${advice}` : ''}`);
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === null || value === undefined) return String(value);
  return typeof value;
}

/** Decimal digits only: `0x10`, `1e3`, `1.0` and `+5` are not integers on a command line. */
const INTEGER_TEXT = /^-?[0-9]+$/;
/** A plain decimal, optionally with an exponent, or a fraction `p/q` (as in `3/4,4/3`). */
const DECIMAL_TEXT = /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)(e[-+]?[0-9]+)?$/i;
const FRACTION_TEXT = /^([-+]?[0-9]+(?:\.[0-9]+)?)\/([0-9]+(?:\.[0-9]+)?)$/;

/** Parses integer text exactly: refuses what a double would round (`9007199254740993`). */
export function integerFromText(text: string): number | undefined {
  const trimmed = text.trim();
  if (!INTEGER_TEXT.test(trimmed)) return undefined;
  const number = Number(trimmed);
  if (!Number.isSafeInteger(number) || BigInt(trimmed) !== BigInt(number)) return undefined;
  return number;
}

/** Parses a finite decimal or fraction; `undefined` for anything else (hex, `Infinity`, `NaN`, empty). */
export function decimalFromText(text: string): number | undefined {
  const trimmed = text.trim();
  const fraction = FRACTION_TEXT.exec(trimmed);
  const number = fraction ? Number(fraction[1]) / Number(fraction[2]) : DECIMAL_TEXT.test(trimmed) ? Number(trimmed) : Number.NaN;
  return Number.isFinite(number) ? number : undefined;
}

interface Base {
  flag: string;
  value?: string;
  summary: string;
}

/**
 * An integer in `min..max`. `cap`, when given, adds a limit known only at run time (cores,
 * memory) with the reason in the message.
 *
 * @example
 * const crops = integer({ flag: '--crops', summary: 'crops per image per epoch', min: 1, max: 10_000 });
 * crops.parse('0x10', '--crops'); // throws E_USAGE: Expected an integer in 1..10000 for --crops but received "0x10".
 */
export function integer(options: Base & { min: number; max: number; cap?: () => { max: number; why: string } }): Field<number> {
  const range = (): { range: string; max: number; why: string } => {
    const cap = options.cap?.();
    const max = cap && cap.max < options.max ? cap.max : options.max;
    return { range: `an integer in ${options.min}..${max}`, max, why: cap && cap.max < options.max ? cap.why : '' };
  };
  const check = (value: unknown, name: string): number => {
    const { range: text, max, why } = range();
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < options.min || value > max) throw refuse(text, name, value, why);
    return value;
  };
  return {
    flag: options.flag,
    value: options.value ?? '<n>',
    summary: options.summary,
    get range() {
      return range().range;
    },
    parse: (text, name) => {
      const number = integerFromText(text);
      if (number === undefined) throw refuse(range().range, name, text);
      return check(number, name);
    },
    check,
  };
}

/** A finite number in `[min, max]`, or `(min, max]` with `openMin`. */
export function decimal(options: Base & { min: number; max: number; openMin?: boolean }): Field<number> {
  const range = `a number in ${options.openMin ? '(' : '['}${options.min}, ${options.max === Infinity ? '∞)' : `${options.max}]`}`;
  const check = (value: unknown, name: string): number => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value > options.max || (options.openMin ? value <= options.min : value < options.min)) {
      throw refuse(range, name, value);
    }
    return value;
  };
  return {
    flag: options.flag,
    value: options.value ?? '<x>',
    summary: options.summary,
    range,
    parse: (text, name) => check(decimalFromText(text) ?? text, name),
    check,
  };
}

/** `count` comma-separated finite numbers, each in the element's range. */
export function numbers<N extends 2 | 3>(options: Base & { count: N; min: number; max: number; openMin?: boolean; ascending?: boolean }): Field<N extends 2 ? [number, number] : [number, number, number]> {
  type T = N extends 2 ? [number, number] : [number, number, number];
  const element = decimal(options);
  const range = `${options.count} comma-separated numbers, each ${element.range.replace(/^a number /, '')}${options.ascending ? ', the first ≤ the second' : ''}`;
  const check = (value: unknown, name: string): T => {
    if (!Array.isArray(value) || value.length !== options.count) throw refuse(range, name, value);
    for (const item of value) if (typeof item !== 'number' || !Number.isFinite(item)) throw refuse(range, name, value);
    try {
      for (const item of value) element.check(item, name);
    } catch {
      throw refuse(range, name, value);
    }
    if (options.ascending && (value[0] as number) > (value[1] as number)) throw refuse(range, name, value);
    return [...(value as number[])] as T;
  };
  return {
    flag: options.flag,
    value: options.value ?? (options.count === 2 ? '<low,high>' : '<a,b,c>'),
    summary: options.summary,
    range,
    parse: (text, name) => {
      const parts = text.split(',').map((part) => decimalFromText(part));
      if (parts.some((part) => part === undefined)) throw refuse(range, name, text);
      return check(parts, name);
    },
    check,
  };
}

/** One of a fixed list of words. */
export function choice<T extends string>(options: Base & { choices: readonly T[]; deprecated?: Readonly<Record<string, T>> }): Field<T> {
  const range = `one of ${options.choices.join(', ')}`;
  const check = (value: unknown, name: string): T => {
    // An old spelling kept for one release: accepted, with a warning naming the new one.
    if (typeof value === 'string' && options.deprecated && Object.hasOwn(options.deprecated, value)) {
      const renamed = options.deprecated[value]!;
      warnDeprecated(`${name} "${value}"`, `${name} "${renamed}"`);
      return renamed;
    }
    if (typeof value !== 'string' || !(options.choices as readonly string[]).includes(value)) throw refuse(range, name, value);
    return value as T;
  };
  return { flag: options.flag, value: options.value ?? '<name>', summary: options.summary, range, parse: (text, name) => check(text, name), check };
}

/** What free text accepts; `--help` leaves it unsaid. */
export const TEXT_RANGE = 'a non-empty string';

/** Free text (paths, URLs); only emptiness is refused. */
export function text(options: Base): Field<string> {
  const range = TEXT_RANGE;
  const check = (value: unknown, name: string): string => {
    if (typeof value !== 'string' || value.length === 0) throw refuse(range, name, value);
    return value;
  };
  return { flag: options.flag, value: options.value ?? '<text>', summary: options.summary, range, parse: (input, name) => check(input, name), check };
}

/** A switch: present or not. */
export function flag(options: Omit<Base, 'value'>): Field<boolean> {
  const range = 'true or false';
  const check = (value: unknown, name: string): boolean => {
    if (typeof value !== 'boolean') throw refuse(range, name, value);
    return value;
  };
  return { flag: options.flag, value: '', summary: options.summary, range, parse: () => true, check };
}

/** The name an option goes by in messages. */
export function nameOf(schema: Schema, key: string, naming: Naming): string {
  return naming === 'cli' ? (schema[key]?.flag ?? key) : key;
}

/**
 * Checks every option the caller set against its field. Unset (`undefined`) options are
 * skipped: defaults are the resolver's business, so "not given" stays visible where a
 * default depends on other options (top-k on the class count, say).
 *
 * @example
 * checkOptions(LABEL_SCHEMA, { crops: 0 }, 'api'); // throws: Expected an integer in 1..10000 for crops but received 0.
 */
export function checkOptions<S extends Schema>(schema: S, input: Partial<Record<keyof S, unknown>>, naming: Naming): Partial<SchemaValues<S>> {
  const out: Partial<Record<keyof S, unknown>> = {};
  for (const key of Object.keys(schema) as Array<keyof S & string>) {
    const value = input[key];
    if (value === undefined) continue;
    out[key] = schema[key]!.check(value, nameOf(schema, key, naming));
  }
  return out as Partial<SchemaValues<S>>;
}
