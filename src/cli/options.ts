import { Option } from 'commander';
import { TEXT_RANGE, type Field } from '../options/schema.js';

/**
 * A commander option built from a schema field: the help line carries the field's range and
 * the default, and the text is parsed by the field itself, so `--help`, the CLI and the
 * library all state and apply one rule. A refusal is an `E_USAGE` error (exit code 2).
 *
 * @example
 * command.addOption(optionOf(LABEL_SCHEMA.crops, LABEL_DEFAULTS.crops));
 */
export function optionOf<T>(field: Field<T>, defaultValue?: T, options: { required?: boolean; defaultText?: string } = {}): Option {
  const option = new Option(field.value ? `${field.flag} ${field.value}` : field.flag, field.value && field.range !== TEXT_RANGE ? `${field.summary} [${field.range}]` : field.summary);
  if (field.value) option.argParser((text: string) => field.parse(text, field.flag));
  if (defaultValue !== undefined) option.default(defaultValue, options.defaultText ?? (Array.isArray(defaultValue) ? defaultValue.map((n) => +Number(n).toFixed(6)).join(',') : undefined));
  if (options.required) option.makeOptionMandatory();
  return option;
}

/**
 * The option that pins a store: the SHA-256 of its manifest.json, as `fkd info` prints it.
 * `--labels-sha256` where the store is `--labels`, `--sha256` where it is the argument.
 *
 * @example
 * command.addOption(pinOption('--sha256'));
 */
export function pinOption(flag: '--sha256' | '--labels-sha256'): Option {
  return new Option(`${flag} <hex>`, 'refuse the store unless its manifest.json has this SHA-256 (64 hex digits, as fkd info prints it): pins the exact store you verified');
}

/** The opt-in to format 1 stores, which have no integrity hash. */
export function allowFormat1Option(): Option {
  return new Option('--allow-format-1', 'read a format 1 store (refused by default: it has no integrity hash, so a rewritten store would pass)');
}

/** The `openLabels` options of the `pinOption` and `allowFormat1Option` flags. */
export function trustOf(flags: { sha256?: string; labelsSha256?: string; allowFormat1?: boolean }): { sha256?: string; allowFormat1?: boolean } {
  const pin = flags.sha256 ?? flags.labelsSha256;
  return { ...(pin === undefined ? {} : { sha256: pin }), ...(flags.allowFormat1 ? { allowFormat1: true } : {}) };
}
