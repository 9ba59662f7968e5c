/** The pax records fkd applies; the others (mtime, uid, …) are checked for syntax and ignored. */
export interface PaxRecords {
  path?: string;
  size?: number;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses a pax extended header: records of the form `LEN KEY=VALUE\n`, where LEN counts the
 * whole record in bytes. Every length is checked against what is left, so a forged length can
 * neither read past the block nor loop.
 *
 * @example
 * parsePax(new TextEncoder().encode('16 path=a/b.jpg\n'), (detail) => new Error(detail)); // { path: 'a/b.jpg' }
 */
export function parsePax(data: Uint8Array, fail: (detail: string) => Error): PaxRecords {
  const records: PaxRecords = {};
  let at = 0;
  while (at < data.length) {
    // Trailing NUL padding after the last record is what some writers leave.
    if (data[at] === 0 && data.subarray(at).every((byte) => byte === 0)) break;
    let digits = 0;
    let length = 0;
    while (at + digits < data.length && data[at + digits]! >= 0x30 && data[at + digits]! <= 0x39 && digits < 12) {
      length = length * 10 + (data[at + digits]! - 0x30);
      digits++;
    }
    if (digits === 0 || data[at + digits] !== 0x20) throw fail(`a pax record at byte ${at} does not start with "LENGTH "`);
    if (length <= digits + 1 || at + length > data.length) throw fail(`a pax record at byte ${at} claims ${length} bytes, outside its header`);
    if (data[at + length - 1] !== 0x0a) throw fail(`a pax record at byte ${at} does not end with a newline`);
    let text: string;
    try {
      text = decoder.decode(data.subarray(at + digits + 1, at + length - 1));
    } catch {
      throw fail(`a pax record at byte ${at} is not valid UTF-8`);
    }
    const equals = text.indexOf('=');
    if (equals <= 0) throw fail(`a pax record at byte ${at} has no KEY=VALUE`);
    const key = text.slice(0, equals);
    const value = text.slice(equals + 1);
    if (key === 'path') records.path = value;
    else if (key === 'size') {
      if (!/^[0-9]{1,16}$/.test(value)) throw fail(`a pax size record holds ${JSON.stringify(value.slice(0, 40))}, not a decimal number`);
      records.size = Number(value);
    }
    at += length;
  }
  return records;
}
