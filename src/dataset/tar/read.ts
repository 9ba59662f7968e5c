import { BLOCK, isZeroBlock, parseHeader, utf8 } from './header.js';
import { TarError, type TarRule } from './error.js';
import { parsePax } from './pax.js';

/** Random access to a shard's bytes: a local file, an S3 object, or bytes in memory. */
export interface ByteSource {
  /** Total bytes; every size in the archive is checked against it before anything is read. */
  readonly size: number;
  /** Exactly `length` bytes from `offset` (the caller keeps both inside `size`). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** One regular file of a tar archive. Its data is `size` bytes from `offset`, not read yet. */
export interface TarMember {
  /** The checked name: relative, `/`-separated, no `.` / `..` / empty segments, no leading `./`. */
  name: string;
  /** Byte offset of the member's data in the shard. */
  offset: number;
  size: number;
}

export interface TarLimits {
  /** Largest member data accepted, in bytes: a header claiming more is refused before any allocation. */
  maxMemberBytes: number;
}

/** Largest GNU long name or pax header block read: a name or record set past this is hostile. */
const MAX_META_BYTES = 1 << 20;

/**
 * The regular files of a tar archive, in order, as (name, offset, size). Reads headers only;
 * member data is left for the caller to read by offset. Handles ustar (with its name prefix),
 * GNU long names (`L`, and `K` long link names, ignored), pax extended headers (`x`: `path` and
 * `size`; `g` is checked and ignored) and old-style headers. Directories are passed over;
 * links, devices and FIFOs are refused. Every size is checked against `limits` and against the
 * source's size before anything of that size is read, so a hostile header can neither make it
 * allocate nor read past the end, and the walk always moves forward: it cannot loop.
 *
 * @example
 * for await (const member of tarMembers(source, 'train-000000.tar', { maxMemberBytes: 1 << 28 })) console.log(member.name);
 */
export async function* tarMembers(source: ByteSource, shard: string, limits: TarLimits): AsyncGenerator<TarMember> {
  let position = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  let paxSize: number | undefined;
  for (;;) {
    const fail = (rule: TarRule, detail: string, member = `at byte ${position}`) => new TarError(shard, member, rule, detail);
    if (position + BLOCK > source.size) {
      throw fail('truncated', position === source.size ? 'the archive ends without its end-of-archive marker (two zero blocks)' : 'the archive ends inside a header');
    }
    const block = await source.read(position, BLOCK);
    if (isZeroBlock(block)) {
      if (position + 2 * BLOCK > source.size || !isZeroBlock(await source.read(position + BLOCK, BLOCK))) {
        throw fail('truncated', 'a zero block is not followed by a second one: the end-of-archive marker is incomplete');
      }
      if (longName !== undefined || paxPath !== undefined || paxSize !== undefined) throw fail('truncated', 'the archive ends after a long-name or pax header, before its member');
      return;
    }
    const header = parseHeader(block, { shard, offset: position });
    const isMeta = header.type === 'L' || header.type === 'K' || header.type === 'x' || header.type === 'g';
    const size = isMeta ? header.size : (paxSize ?? header.size);
    const shown = isMeta ? `at byte ${position}` : printable(paxPath ?? longName ?? header.name);
    const cap = isMeta ? MAX_META_BYTES : limits.maxMemberBytes;
    if (size > cap) throw fail('member-too-large', `it claims ${size} bytes, more than the limit of ${cap}`, shown);
    const start = position + BLOCK;
    if (start + size > source.size) throw fail('size-beyond-file', `it claims ${size} bytes from byte ${start}, past the end of the ${source.size}-byte shard`, shown);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (start + padded > source.size) throw fail('truncated', 'the archive ends inside the padding of a member', shown);
    position = start + padded;
    switch (header.type) {
      case 'L':
        longName = metaName(await source.read(start, size), (rule, detail) => fail(rule, detail, `at byte ${start - BLOCK}`));
        break;
      case 'K':
        break;
      case 'x': {
        const records = parsePax(await source.read(start, size), (detail) => fail('bad-pax', detail, `at byte ${start - BLOCK}`));
        if (records.path !== undefined) paxPath = records.path;
        if (records.size !== undefined) paxSize = records.size;
        break;
      }
      case 'g':
        parsePax(await source.read(start, size), (detail) => fail('bad-pax', detail, `at byte ${start - BLOCK}`));
        break;
      case '5':
        longName = paxPath = paxSize = undefined;
        break;
      case '0':
      case '\0':
      case '7': {
        const name = checkName(paxPath ?? longName ?? header.name, (rule, detail) => fail(rule, detail, shown));
        longName = paxPath = paxSize = undefined;
        yield { name, offset: start, size };
        break;
      }
      default:
        throw fail('unsupported-type', `type ${JSON.stringify(header.type)} is not a regular file or directory (links, devices and FIFOs are refused)`, shown);
    }
  }
}

/** A GNU long name: the data up to its terminating NUL; a NUL inside the name is refused. */
function metaName(data: Uint8Array, fail: (rule: TarRule, detail: string) => TarError): string {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  const name = data.subarray(0, end);
  if (name.includes(0)) throw fail('nul-in-name', 'a GNU long name holds a NUL byte');
  return utf8(name, fail);
}

/**
 * The rules for a member name: relative, `/`-separated, no NUL, no backslash, no empty, `.` or
 * `..` segment. A leading `./` (what `tar -C dir .` writes) is dropped.
 */
function checkName(raw: string, fail: (rule: TarRule, detail: string) => TarError): string {
  if (raw.includes('\0')) throw fail('nul-in-name', 'the name holds a NUL byte');
  if (raw.startsWith('/')) throw fail('absolute-name', 'an absolute name');
  let name = raw;
  while (name.startsWith('./')) name = name.slice(2);
  const segments = name.split('/');
  if (segments.includes('..')) throw fail('parent-name', 'a name with a ".." segment, which points outside the shard');
  if (name === '' || name.includes('\\') || segments.some((segment) => segment === '' || segment === '.')) {
    throw fail('bad-name', 'an empty name, an empty or "." segment, or a backslash');
  }
  return name;
}

/** A name for a message: JSON-quoted so a NUL or a newline cannot forge the message's layout. */
export function printable(name: string): string {
  return JSON.stringify(name);
}
