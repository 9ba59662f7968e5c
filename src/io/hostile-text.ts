/**
 * Text that came from a store or a file name, made safe to put in a message or on a terminal:
 * such text may be megabytes long or hold escape sequences that rewrite the screen.
 */

/** Characters of hostile text an error message quotes at most. */
export const QUOTE_CHARS = 200;

/**
 * The text cut to `max` characters, saying how much was left out.
 *
 * @example
 * clip('x'.repeat(1e6)); // 'xxx…x… (999800 more characters)'
 */
export function clip(text: string, max = QUOTE_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/**
 * The text with C0 and C1 control characters (and DEL) written as `\xNN` / `\uNNNN`, so
 * printing it cannot move the cursor, ring the bell or send a terminal escape sequence.
 * A backslash is doubled, so the escaped form stays unambiguous.
 *
 * @example
 * escapeControl('a\u001b[2Jb'); // 'a\\x1b[2Jb'
 */
export function escapeControl(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it escapes
  return text.replace(/[\u0000-\u001f\u007f-\u009f\\\u2028\u2029]/g, (char) => {
    if (char === '\\') return '\\\\';
    const code = char.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
