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
