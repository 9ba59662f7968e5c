import { TarError } from './error.js';
import { printable, tarMembers, type ByteSource, type TarLimits, type TarMember } from './read.js';

/** Member extensions that hold a sample's image: WebDataset's usual four, and the other formats the ImageFolder scan accepts. */
export const IMAGE_MEMBER_EXTENSIONS: ReadonlySet<string> = new Set(['jpg', 'jpeg', 'png', 'webp', 'jpe', 'jfif', 'tif', 'tiff', 'gif', 'avif', 'heic']);

/** A `cls` member is a decimal class index; anything longer than this is not one. */
const MAX_CLASS_BYTES = 32;

/** One WebDataset sample: the members that share a key, with its image located and its class read. */
export interface TarSample {
  /** The members' shared name before the first `.` of the base name (WebDataset's rule). */
  key: string;
  /** The image member: `<key>.<extension>`. */
  image: TarMember;
  /** From the `cls` member, or undefined when the sample has none. */
  classIndex: number | undefined;
}

/**
 * The samples of a tar shard, in order. A sample is a run of consecutive members with the same
 * key; it needs exactly one image member. A key that comes back after another key, or a member
 * name repeated within a sample, is a duplicate key and refused: a reader could not tell which
 * copy is meant.
 *
 * @example
 * for await (const sample of tarSamples(source, 'train-000000.tar', { maxMemberBytes: 1 << 28 })) console.log(sample.key, sample.classIndex);
 */
export async function* tarSamples(source: ByteSource, shard: string, limits: TarLimits): AsyncGenerator<TarSample> {
  const seen = new Set<string>();
  let key: string | undefined;
  let members = new Map<string, TarMember>();
  const finish = async (): Promise<TarSample> => {
    const images = [...members.entries()].filter(([extension]) => IMAGE_MEMBER_EXTENSIONS.has(extension));
    if (images.length === 0) throw new TarError(shard, printable(key!), 'no-image', `the sample has no image member (${IMAGE_EXTENSIONS_TEXT})`);
    if (images.length > 1) throw new TarError(shard, printable(key!), 'two-images', `the sample has ${images.length} image members (${images.map(([extension]) => extension).join(', ')}); which one is meant is ambiguous`);
    const cls = members.get('cls');
    return { key: key!, image: images[0]![1], classIndex: cls === undefined ? undefined : await readClass(source, shard, cls) };
  };
  for await (const member of tarMembers(source, shard, limits)) {
    const slash = member.name.lastIndexOf('/');
    const dot = member.name.indexOf('.', slash + 1);
    if (dot < 0 || dot === slash + 1 || dot === member.name.length - 1) throw new TarError(shard, printable(member.name), 'no-extension', 'a member name needs a key and an extension (<key>.<extension>)');
    const memberKey = member.name.slice(0, dot);
    const extension = member.name.slice(dot + 1).toLowerCase();
    if (memberKey !== key) {
      if (key !== undefined) yield await finish();
      if (seen.has(memberKey)) throw new TarError(shard, printable(member.name), 'duplicate-key', `key ${printable(memberKey)} appeared earlier in the shard, with other keys between`);
      seen.add(memberKey);
      key = memberKey;
      members = new Map();
    }
    if (members.has(extension)) throw new TarError(shard, printable(member.name), 'duplicate-key', 'the same member appears twice in its sample');
    members.set(extension, member);
  }
  if (key !== undefined) yield await finish();
}

const IMAGE_EXTENSIONS_TEXT = [...IMAGE_MEMBER_EXTENSIONS].join(', ');

async function readClass(source: ByteSource, shard: string, member: TarMember): Promise<number> {
  if (member.size > MAX_CLASS_BYTES) throw new TarError(shard, printable(member.name), 'bad-class', `a cls member of ${member.size} bytes; a class index is a short decimal number`);
  const text = new TextDecoder().decode(await source.read(member.offset, member.size));
  const match = /^\s*([0-9]{1,9})\s*$/.exec(text);
  if (!match) throw new TarError(shard, printable(member.name), 'bad-class', `the cls member holds ${printable(text)}, not a decimal class index`);
  return Number(match[1]);
}
