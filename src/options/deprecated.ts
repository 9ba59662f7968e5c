const warned = new Set<string>();

/**
 * Says once per process that an old spelling still works but goes in the next release, as a
 * Node warning (code `FKD_DEPRECATED`): the CLI prints it on stderr, a library user sees it like
 * any other, and `--no-deprecation` silences it.
 *
 * @example
 * warnDeprecated('onBadEntry "fail"', 'onBadEntry "throw"');
 */
export function warnDeprecated(old: string, replacement: string): void {
  const message = `${old} is deprecated and goes in the next release; use ${replacement}.`;
  if (warned.has(message)) return;
  warned.add(message);
  process.emitWarning(message, { type: 'DeprecationWarning', code: 'FKD_DEPRECATED' });
}
