/**
 * A strict JSON reader for every JSON object of a store (`manifest.json`, `config.json`,
 * shard entries). `JSON.parse` accepts what a strict reader in another language rejects,
 * and loses what a validator needs to see: a later duplicate key silently wins, integers
 * above 2^53 silently round, `9.0` becomes the integer 9, and a leading BOM is only an
 * error by accident. This reader refuses all four, and lone surrogate escapes, and caps strings
 * and nesting so that a hostile file cannot make the parser itself the problem.
 *
 * Objects come back with a null prototype, so a key `__proto__` is an ordinary (unknown)
 * key. Numbers written with a fraction or an exponent whose value is integral come back as
 * {@link JsonFloat}, so that a field meant to hold an integer can refuse them. Every other
 * number is a plain `number`.
 */

/** An integral number written as a float (`9.0`, `1e3`): a float where the file meant a value. */
export class JsonFloat {
  constructor(readonly value: number) {}
}

export interface StrictJsonLimits {
  /** Longest string, in UTF-16 code units. */
  maxString: number;
  /** Deepest nesting of arrays and objects. */
  maxDepth: number;
}

/** Names, paths and hashes are short; 64 KiB leaves room for any real one. */
export const DEFAULT_JSON_LIMITS: StrictJsonLimits = { maxString: 65536, maxDepth: 32 };

/** Thrown with the byte-free position and the rule, for the caller to wrap in its own FkdError. */
export class StrictJsonError extends Error {}

/**
 * Parse strict JSON (RFC 8259 plus the rules above). Throws StrictJsonError naming the
 * position and the rule.
 *
 * @example
 * parseStrictJson('{"records": 9}'); // { records: 9 }
 * parseStrictJson('{"a": 1, "a": 2}'); // throws: duplicate key "a"
 */
export function parseStrictJson(text: string, limits: StrictJsonLimits = DEFAULT_JSON_LIMITS): unknown {
  if (text.charCodeAt(0) === 0xfeff) throw new StrictJsonError('it starts with a byte order mark (U+FEFF); JSON text must not');
  const parser = new Parser(text, limits);
  parser.space();
  const value = parser.value(0);
  parser.space();
  if (parser.at < text.length) throw parser.error('unexpected text after the JSON value');
  return value;
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

class Parser {
  at = 0;

  constructor(
    private readonly text: string,
    private readonly limits: StrictJsonLimits,
  ) {}

  error(rule: string): StrictJsonError {
    return new StrictJsonError(`${rule} at character ${this.at}`);
  }

  space(): void {
    const text = this.text;
    while (this.at < text.length) {
      const c = text.charCodeAt(this.at);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      this.at++;
    }
  }

  value(depth: number): unknown {
    const c = this.text[this.at];
    if (c === '{') return this.object(depth + 1);
    if (c === '[') return this.array(depth + 1);
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const [word, result] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return result;
      }
    }
    throw this.error(c === undefined ? 'the text ends where a value should be' : `unexpected ${JSON.stringify(c)}`);
  }

  private nest(depth: number): void {
    if (depth > this.limits.maxDepth) throw this.error(`nesting deeper than ${this.limits.maxDepth}`);
    this.at++;
    this.space();
  }

  private object(depth: number): Record<string, unknown> {
    this.nest(depth);
    // A null prototype: a key "__proto__" is then an ordinary key, not a prototype change.
    const out = Object.create(null) as Record<string, unknown>;
    if (this.text[this.at] === '}') {
      this.at++;
      return out;
    }
    for (;;) {
      if (this.text[this.at] !== '"') throw this.error('expected a string key');
      const key = this.string();
      if (Object.hasOwn(out, key)) throw this.error(`duplicate key ${JSON.stringify(key)}`);
      this.space();
      if (this.text[this.at] !== ':') throw this.error('expected ":"');
      this.at++;
      this.space();
      out[key] = this.value(depth);
      this.space();
      const next = this.text[this.at++];
      if (next === '}') break;
      if (next !== ',') throw this.error('expected "," or "}"');
      this.space();
    }
    return out;
  }

  private array(depth: number): unknown[] {
    this.nest(depth);
    const out: unknown[] = [];
    if (this.text[this.at] === ']') {
      this.at++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth));
      this.space();
      const next = this.text[this.at++];
      if (next === ']') return out;
      if (next !== ',') throw this.error('expected "," or "]"');
      this.space();
    }
  }

  private string(): string {
    const start = ++this.at;
    const text = this.text;
    // Fast path: no escapes, the common case for every field fkd writes.
    let end = start;
    while (end < text.length) {
      const c = text.charCodeAt(end);
      if (c === 0x22 || c === 0x5c || c < 0x20) break;
      end++;
    }
    if (end - start > this.limits.maxString) throw this.error(`a string longer than ${this.limits.maxString} characters`);
    if (text.charCodeAt(end) === 0x22) {
      this.at = end + 1;
      return text.slice(start, end);
    }
    let out = text.slice(start, end);
    this.at = end;
    for (;;) {
      if (this.at >= text.length) throw this.error('unterminated string');
      const c = text.charCodeAt(this.at);
      if (c === 0x22) break;
      if (c < 0x20) throw this.error('a control character inside a string');
      if (c === 0x5c) {
        const escape = text[this.at + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (escape === 'u') {
          const hex = text.slice(this.at + 2, this.at + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw this.error('a bad \\u escape');
          out += String.fromCharCode(Number.parseInt(hex, 16));
          this.at += 6;
        } else if (escape !== undefined && simple[escape] !== undefined) {
          out += simple[escape];
          this.at += 2;
        } else {
          throw this.error('a bad escape');
        }
      } else {
        out += text.charAt(this.at);
        this.at++;
      }
      if (out.length > this.limits.maxString) throw this.error(`a string longer than ${this.limits.maxString} characters`);
    }
    // Only escapes can make a lone surrogate (the text itself is strict UTF-8): it is no
    // character, and as a key or file name it would come back as U+FFFD.
    if (/\p{Cs}/u.test(out)) throw this.error('a \\u escape that leaves a lone surrogate (not a Unicode character)');
    this.at++;
    return out;
  }

  private number(): number | JsonFloat {
    // Fast path for the common case, a short integer (every count, offset and size in a
    // manifest): digits scanned and summed in place, no regex and no substring.
    const text = this.text;
    const negative = text.charCodeAt(this.at) === 0x2d;
    let end = negative ? this.at + 1 : this.at;
    let integer = 0;
    const first = end;
    for (let c = text.charCodeAt(end); c >= 0x30 && c <= 0x39; c = text.charCodeAt(++end)) integer = integer * 10 + (c - 0x30);
    const next = text.charCodeAt(end);
    const digits = end - first;
    if (digits > 0 && digits <= 15 && next !== 0x2e && next !== 0x65 && next !== 0x45 && (digits === 1 || text.charCodeAt(first) !== 0x30)) {
      this.at = end;
      return negative ? -integer : integer;
    }
    NUMBER.lastIndex = this.at;
    const match = NUMBER.exec(this.text);
    if (match === null) throw this.error('a malformed number');
    this.at += match[0].length;
    const value = Number(match[0]);
    if (!Number.isFinite(value)) throw this.error(`the number ${match[0].slice(0, 40)} is out of range`);
    const float = match[1] !== undefined || match[2] !== undefined;
    if (!float && !Number.isSafeInteger(value)) throw this.error(`the integer ${match[0].slice(0, 40)} is above 2^53 and would lose precision`);
    return float && Number.isInteger(value) ? new JsonFloat(value) : value;
  }
}
