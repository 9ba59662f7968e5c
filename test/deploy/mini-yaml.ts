/**
 * Just enough YAML to read the Kubernetes manifests in deploy/: block mappings and sequences by
 * indentation, `- key: value` items, one-line flow sequences and mappings of scalars, quoted
 * and plain scalars, comments and `---` document breaks. Anything else (anchors, tags, block
 * scalars, multi-line flow collections) throws, so a manifest can never be half-understood.
 * The project takes no YAML dependency for two files.
 */

export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  indent: number;
  text: string;
  number: number;
}

/**
 * Parses every document of a YAML stream.
 *
 * @example
 * parseYamlDocuments('a: 1\nb: [x, "y"]\n---\n- c: true\n'); // [{ a: 1, b: ['x', 'y'] }, [{ c: true }]]
 */
export function parseYamlDocuments(source: string): YamlValue[] {
  const documents: Line[][] = [[]];
  source.split(/\r?\n/).forEach((raw, index) => {
    if (/^---\s*(#.*)?$/.test(raw)) {
      documents.push([]);
      return;
    }
    const text = stripComment(raw).trimEnd();
    if (text.trim() === '') return;
    if (/^\t| \t/.test(raw.slice(0, raw.length - raw.trimStart().length))) fail(index + 1, 'tabs in indentation');
    documents.at(-1)!.push({ indent: text.length - text.trimStart().length, text: text.trimStart(), number: index + 1 });
  });
  return documents.filter((lines) => lines.length > 0).map((lines) => {
    const cursor = { at: 0 };
    const value = parseBlock(lines, cursor, lines[0]!.indent);
    if (cursor.at < lines.length) fail(lines[cursor.at]!.number, 'unexpected indentation');
    return value;
  });
}

function parseBlock(lines: Line[], cursor: { at: number }, indent: number): YamlValue {
  const first = lines[cursor.at]!;
  return first.text === '-' || first.text.startsWith('- ') ? parseSequence(lines, cursor, indent) : parseMapping(lines, cursor, indent);
}

function parseSequence(lines: Line[], cursor: { at: number }, indent: number): YamlValue[] {
  const items: YamlValue[] = [];
  while (cursor.at < lines.length) {
    const line = lines[cursor.at]!;
    if (line.indent < indent) break;
    if (line.indent > indent) fail(line.number, 'unexpected indentation in a sequence');
    if (!(line.text === '-' || line.text.startsWith('- '))) break;
    const rest = line.text.slice(1).trimStart();
    if (rest === '') {
      cursor.at++;
      items.push(cursor.at < lines.length && lines[cursor.at]!.indent > indent ? parseBlock(lines, cursor, lines[cursor.at]!.indent) : null);
    } else if (splitKey(rest) !== null) {
      // `- key: value` opens a mapping whose keys sit where `key` starts.
      const column = indent + (line.text.length - rest.length);
      lines[cursor.at] = { indent: column, text: rest, number: line.number };
      items.push(parseMapping(lines, cursor, column));
    } else {
      items.push(parseScalarOrFlow(rest, line.number));
      cursor.at++;
    }
  }
  return items;
}

function parseMapping(lines: Line[], cursor: { at: number }, indent: number): { [key: string]: YamlValue } {
  const mapping: { [key: string]: YamlValue } = {};
  while (cursor.at < lines.length) {
    const line = lines[cursor.at]!;
    if (line.indent < indent) break;
    if (line.indent > indent) fail(line.number, 'unexpected indentation in a mapping');
    const pair = splitKey(line.text);
    if (pair === null) {
      if (line.text.startsWith('- ')) break;
      fail(line.number, `expected "key: value" but found ${JSON.stringify(line.text)}`);
    }
    const [key, rest] = pair;
    if (Object.hasOwn(mapping, key)) fail(line.number, `duplicate key ${JSON.stringify(key)}`);
    cursor.at++;
    if (rest !== '') {
      mapping[key] = parseScalarOrFlow(rest, line.number);
      continue;
    }
    const next = lines[cursor.at];
    // A sequence may sit at the same indentation as its key (`key:\n- a`), as kubectl writes it.
    if (next && (next.indent > indent || (next.indent === indent && (next.text === '-' || next.text.startsWith('- '))))) {
      mapping[key] = parseBlock(lines, cursor, next.indent);
    } else {
      mapping[key] = null;
    }
  }
  return mapping;
}

/** `key: rest` with a plain or quoted key, or null when the text is not a mapping entry. */
function splitKey(text: string): [string, string] | null {
  const quoted = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*')\s*:(?:\s+(.*)|$)/.exec(text);
  if (quoted) return [parseScalar(quoted[1]!, 0) as string, (quoted[2] ?? '').trim()];
  const plain = /^([^\s"'[\]{},#&*!|>%@`-][^:#]*?|-[^\s:#][^:#]*?)\s*:(?:\s+(.*)|$)/.exec(text);
  return plain ? [plain[1]!, (plain[2] ?? '').trim()] : null;
}

function parseScalarOrFlow(text: string, line: number): YamlValue {
  if (text.startsWith('[')) {
    if (!text.endsWith(']')) fail(line, 'multi-line flow sequences are not supported');
    return splitFlow(text.slice(1, -1), line).map((item) => parseScalar(item, line));
  }
  if (text.startsWith('{')) {
    if (!text.endsWith('}')) fail(line, 'multi-line flow mappings are not supported');
    const mapping: { [key: string]: YamlValue } = {};
    for (const item of splitFlow(text.slice(1, -1), line)) {
      const pair = splitKey(item);
      if (pair === null) fail(line, `expected "key: value" in a flow mapping but found ${JSON.stringify(item)}`);
      mapping[pair[0]] = parseScalar(pair[1], line);
    }
    return mapping;
  }
  return parseScalar(text, line);
}

/** Splits the inside of a one-line flow collection at top-level commas. */
function splitFlow(inner: string, line: number): string[] {
  const items: string[] = [];
  let current = '';
  let quote: string | null = null;
  for (const char of inner) {
    if (quote) {
      current += char;
      if (char === quote) quote = null;
    } else if (char === '"' || char === "'") {
      quote = char;
      current += char;
    } else if (char === '[' || char === '{') {
      fail(line, 'nested flow collections are not supported');
    } else if (char === ',') {
      items.push(current.trim());
      current = '';
    } else {
      current += char;
    }
  }
  if (current.trim() !== '') items.push(current.trim());
  return items;
}

function parseScalar(text: string, line: number): YamlValue {
  if (/^[&*!|>]/.test(text)) fail(line, `anchors, aliases, tags and block scalars are not supported (${JSON.stringify(text)})`);
  if (text.startsWith('"')) {
    if (!/^"(?:[^"\\]|\\.)*"$/.test(text)) fail(line, `unterminated string ${text}`);
    return JSON.parse(text) as string;
  }
  if (text.startsWith("'")) {
    if (!/^'(?:[^']|'')*'$/.test(text)) fail(line, `unterminated string ${text}`);
    return text.slice(1, -1).replace(/''/g, "'");
  }
  if (/^(null|~)?$/.test(text)) return null;
  if (/^(true|false)$/.test(text)) return text === 'true';
  if (/^[-+]?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/.test(text)) return Number(text);
  return text;
}

/** Drops a `#` comment that is outside quotes and starts a line or follows whitespace. */
function stripComment(raw: string): string {
  let quote: string | null = null;
  for (let i = 0; i < raw.length; i++) {
    const char = raw[i]!;
    if (quote) {
      if (char === '\\' && quote === '"') i++;
      else if (char === quote) quote = null;
    } else if (char === '"' || char === "'") {
      // Quotes only open a string at the start of a scalar, not inside a plain one (it's).
      if (i === 0 || /[\s[{,:-]/.test(raw[i - 1]!)) quote = char;
    } else if (char === '#' && (i === 0 || /\s/.test(raw[i - 1]!))) {
      return raw.slice(0, i);
    }
  }
  return raw;
}

function fail(line: number, message: string): never {
  throw new Error(`YAML line ${line}: ${message}`);
}
