import { describe, expect, it } from 'vitest';
import { FkdError } from '../../src/errors.js';
import { codecDescription } from '../../src/labels/codec.js';
import type { EpochRecords, ImageBlock } from '../../src/store/format/columns.js';
import { encodeShard } from '../../src/store/format/encode.js';
import { sha256Hex } from '../../src/io/hash.js';
import { MANIFEST_KEY } from '../../src/store/layout.js';
import { thrownError } from '../helpers/errors.js';
import { TOOL_VERSION, encodeManifest, parseManifest, serializeManifest, type Manifest, type ShardEntry } from '../../src/store/manifest.js';

const IMAGES = 10;
const SHARD_IMAGES = 4;
const CROPS = 2;
const EPOCHS = 2;
const SKIPPED = [{ index: 5, path: 'n02/bad.JPEG', reason: 'not a decodable image' }];

/** A real shard (so layouts are genuine) for images [start, start + count). */
function shard(index: number): ShardEntry {
  const imageStart = index * SHARD_IMAGES;
  const imageCount = Math.min(SHARD_IMAGES, IMAGES - imageStart);
  const skipped = SKIPPED.map((entry) => entry.index - imageStart).filter((local) => local >= 0 && local < imageCount);
  const images: ImageBlock = {
    imageStart,
    imageCount,
    widths: new Uint32Array(imageCount).fill(64),
    heights: new Uint32Array(imageCount).fill(48),
    skipped,
    paths: Array.from({ length: imageCount }, (_, local) => SKIPPED.find((entry) => entry.index === imageStart + local)?.path ?? `n01/img-${imageStart + local}.JPEG`),
  };
  const count = (imageCount - skipped.length) * CROPS;
  const epochs: EpochRecords[] = Array.from({ length: EPOCHS }, (_, epoch) => ({
    epoch,
    crops: CROPS,
    topK: 2,
    count,
    top: new Uint16Array(count).fill(1),
    left: new Uint16Array(count).fill(2),
    height: new Uint16Array(count).fill(30),
    width: new Uint16Array(count).fill(40),
    flip: new Uint8Array(count).fill(epoch),
    classes: Uint32Array.from({ length: count * 2 }, (_, q) => q % 2),
    codes: Uint16Array.from({ length: count * 2 }, (_, q) => (q % 2 === 0 ? 20 : 90)),
  }));
  const { layout } = encodeShard(images, epochs, 3);
  return { index, key: `shards/${String(index).padStart(6, '0')}.fkd`, imageStart, imageCount, records: count * EPOCHS, layout };
}

function validManifest(): Manifest {
  const shards = [0, 1, 2].map(shard);
  return {
    format: 'fkd-labels',
    // Format 1: the field rules below are checked on edited JSON, which format 2's integrity check would refuse first.
    version: 1,
    requires: [],
    complete: true,
    createdAt: '2025-01-02T03:04:05.000Z',
    tool: { name: 'fkd', version: '0.1.0' },
    dataset: { images: IMAGES, classes: ['cat', 'dog', 'fox'], fingerprint: sha256Hex(new TextEncoder().encode('dataset')), skipped: SKIPPED.map((s) => ({ ...s })) },
    teacher: {
      file: 'resnet18.onnx',
      sha256: sha256Hex(new TextEncoder().encode('teacher')),
      engine: 'onnx',
      backend: 'cpu',
      inputSize: 224,
      layout: 'nchw',
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      outputs: 'logits',
      temperature: 1,
    },
    sampler: { seed: 7, scale: [0.08, 1], ratio: [3 / 4, 4 / 3], flip: 0.5, epochs: EPOCHS, crops: CROPS, interpolation: 'bicubic', maxPixels: 100_000_000 },
    codec: codecDescription(2, 'marginal'),
    shardImages: SHARD_IMAGES,
    shards,
    totals: { records: shards.reduce((sum, s) => sum + s.records, 0), bytes: shards.reduce((sum, s) => sum + s.layout.bytes, 0) },
  };
}

/** JSON of a valid manifest after `edit`, to feed parseManifest. */
function edited(edit: (m: Record<string, any>) => void): string {
  const m = JSON.parse(serializeManifest(validManifest())) as Record<string, any>;
  edit(m);
  return JSON.stringify(m);
}

function parseError(text: string): FkdError {
  return thrownError(() => parseManifest(text, '/data/labels'));
}

describe('serializeManifest / parseManifest', () => {
  it('round-trips a valid manifest', () => {
    const manifest = validManifest();
    const text = serializeManifest(manifest);
    expect(text.endsWith('}\n')).toBe(true);
    expect(parseManifest(text, '/data/labels')).toEqual(manifest);
    expect(serializeManifest(parseManifest(text, '/data/labels'))).toBe(text);
    expect(MANIFEST_KEY).toBe('manifest.json');
  });

  it('writes fields in a fixed order whatever order the object was built in', () => {
    const manifest = validManifest();
    const shuffled = Object.fromEntries(Object.entries(manifest).reverse()) as unknown as Manifest;
    shuffled.teacher = Object.fromEntries(Object.entries(manifest.teacher).reverse()) as unknown as Manifest['teacher'];
    expect(serializeManifest(shuffled)).toBe(serializeManifest(manifest));
    expect(Object.keys(JSON.parse(serializeManifest(shuffled)))).toEqual([
      'format', 'version', 'complete', 'createdAt', 'tool', 'dataset', 'teacher', 'sampler', 'codec', 'shardImages', 'shards', 'totals',
    ]);
  });

  it('round-trips a class map and leaves it out when there is none', () => {
    const manifest = validManifest();
    expect(serializeManifest(manifest)).not.toMatch(/classMap/);
    manifest.teacher.classMap = { outputs: 1000, indices: [281, 207, 277] };
    expect(parseManifest(serializeManifest(manifest), 'x').teacher.classMap).toEqual({ outputs: 1000, indices: [281, 207, 277] });
  });

  it('ignores unknown fields so additive changes stay readable', () => {
    const parsed = parseManifest(edited((m) => {
      m.comment = 'made on the big box';
      m.teacher.notes = 'fp16';
    }), '/data/labels');
    expect(parsed).toEqual(validManifest());
  });

  it('keeps what the scan passed over, checking that its counts add up', () => {
    const scan = { excluded: 3, counts: { hidden: 2, 'dangling-link': 1 }, entries: [{ path: 'n01/x.jpg', kind: 'dangling-link' as const, reason: 'a symlink to nothing' }] };
    const manifest = { ...validManifest(), scan };
    expect(parseManifest(serializeManifest(manifest), 'x').scan).toEqual(scan);
    expect(parseError(edited((m) => (m.scan = { ...scan, excluded: 4 }))).message).toMatch(/scan\.excluded is 4 but scan\.counts add up to 3/);
    expect(parseError(edited((m) => (m.scan = { ...scan, counts: { hidden: 2, odd: 1 } }))).message).toMatch(/a key of scan\.counts/);
  });

  it('accepts an incomplete manifest with shards missing', () => {
    const text = edited((m) => {
      m.complete = false;
      m.shards.splice(1, 1);
      m.totals.records = m.shards.reduce((sum: number, s: ShardEntry) => sum + s.records, 0);
      m.totals.bytes = m.shards.reduce((sum: number, s: ShardEntry) => sum + s.layout.bytes, 0);
    });
    expect(parseManifest(text, 'x').shards.map((s) => s.index)).toEqual([0, 2]);
  });

  it('refuses to write an invalid manifest', () => {
    const manifest = validManifest();
    manifest.totals.records += 1;
    expect(() => serializeManifest(manifest)).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
  });
});

describe('parseManifest rejects', () => {
  it('text that is not JSON', () => {
    const error = parseError('{"format": "fkd-labels",');
    expect(error.code).toBe('E_CORRUPT_MANIFEST');
    expect(error.message).toMatch(/^\/data\/labels\/manifest\.json is not valid JSON/);
    expect(error.message).toMatch(/fkd finalize/);
    expect(error.path).toBe('/data/labels/manifest.json');
  });

  it('JSON that is not an fkd manifest', () => {
    expect(parseError('[]').message).toMatch(/expected an object for the manifest/);
    expect(parseError('{"format": "webdataset"}').message).toMatch(/expected "fkd-labels".*for format but found "webdataset"/);
  });

  it('a newer major version, naming the fkd version that reads it', () => {
    const error = parseError(edited((m) => {
      m.version = 3;
      m.tool.version = '3.1.0';
    }));
    expect(error.code).toBe('E_CORRUPT_MANIFEST');
    expect(error.message).toMatch(/format version 3, but this fkd reads format versions 1 and 2 only/);
    expect(error.message).toMatch(/written by fkd 3\.1\.0: upgrade to fkd 3\.1\.0 or newer/);
    expect(parseError(edited((m) => {
      m.version = 7;
      delete m.tool;
    })).message).toMatch(/Upgrade fkd \(this is \d+\.\d+\.\d+\S*\) to a release that reads format version 7\./);
    // A writer no newer than this build (or no version at all) is not named as the upgrade.
    for (const claimed of [TOOL_VERSION, '0.0.1', 'x\u001b[2J']) {
      const message = parseError(edited((m) => {
        m.version = 3;
        m.tool.version = claimed;
      })).message;
      expect(message).not.toMatch(/or newer/);
      expect(message).toMatch(/to a release that reads format version 3\./);
    }
  });

  it.each([0, '1', 1.5, null])('version %j', (version) => {
    expect(parseError(edited((m) => (m.version = version))).message).toMatch(/for version/);
  });

  it.each([
    ['../escape.fkd'],
    ['/etc/passwd'],
    ['shards/../../x.fkd'],
    ['shards\\000000.fkd'],
  ])('shard key %j with E_BAD_KEY', (key) => {
    const error = parseError(edited((m) => (m.shards[1].key = key)));
    expect(error.code).toBe('E_BAD_KEY');
    expect(error.message).toMatch(/shards\[1\]\.key/);
  });

  const cases: Array<[string, (m: Record<string, any>) => void, RegExp]> = [
    ['complete not a boolean', (m) => (m.complete = 'yes'), /true or false for complete/],
    ['a bad createdAt', (m) => (m.createdAt = 'yesterday'), /ISO 8601 date for createdAt/],
    ['a missing tool name', (m) => delete m.tool.name, /tool\.name but found nothing/],
    ['zero images', (m) => (m.dataset.images = 0), /dataset\.images/],
    ['no classes', (m) => (m.dataset.classes = []), /at least one class/],
    ['a repeated class', (m) => (m.dataset.classes = ['cat', 'dog', 'cat']), /"cat" appears twice/],
    ['a class that is not a string', (m) => (m.dataset.classes[1] = 3), /dataset\.classes\[1\]/],
    ['a bad fingerprint', (m) => (m.dataset.fingerprint = 'ABC'), /SHA-256 .*dataset\.fingerprint/],
    ['skipped out of order', (m) => m.dataset.skipped.unshift({ index: 7, path: 'a', reason: 'r' }), /dataset\.skipped\[1\]\.index/],
    ['skipped beyond the dataset', (m) => (m.dataset.skipped[0].index = 10), /dataset\.skipped\[0\]\.index/],
    ['a teacher path instead of a file name', (m) => (m.teacher.file = 'models/resnet.onnx'), /file name without directories/],
    ['an unknown engine', (m) => (m.teacher.engine = 'torch'), /"onnx", "tfjs" for teacher\.engine/],
    ['an unknown layout', (m) => (m.teacher.layout = 'chw'), /teacher\.layout/],
    ['a short mean', (m) => (m.teacher.mean = [0.5, 0.5]), /array of 3 for teacher\.mean/],
    ['a zero std', (m) => (m.teacher.std = [0.2, 0, 0.2]), /teacher\.std\[1\]/],
    ['unknown outputs', (m) => (m.teacher.outputs = 'scores'), /teacher\.outputs/],
    ['a zero temperature', (m) => (m.teacher.temperature = 0), /teacher\.temperature/],
    ['a class map of the wrong length', (m) => (m.teacher.classMap = { outputs: 10, indices: [1, 2] }), /array of 3 for teacher\.classMap\.indices/],
    ['a class map output beyond the teacher', (m) => (m.teacher.classMap = { outputs: 10, indices: [1, 2, 10] }), /teacher\.classMap\.indices\[2\]/],
    ['a class map with one output twice', (m) => (m.teacher.classMap = { outputs: 10, indices: [1, 2, 1] }), /teacher output 1 appears twice in teacher\.classMap\.indices/],
    ['a class map without its output count', (m) => (m.teacher.classMap = { indices: [1, 2, 3] }), /teacher\.classMap\.outputs/],
    ['a fractional seed', (m) => (m.sampler.seed = 1.5), /sampler\.seed/],
    ['a scale starting at 0', (m) => (m.sampler.scale = [0, 1]), /sampler\.scale\[0\]/],
    ['a scale above 1', (m) => (m.sampler.scale = [0.08, 1.2]), /sampler\.scale\[1\]/],
    ['an inverted ratio', (m) => (m.sampler.ratio = [1.5, 0.5]), /sampler\.ratio\[1\]/],
    ['a flip probability above 1', (m) => (m.sampler.flip = 2), /sampler\.flip/],
    ['zero crops', (m) => (m.sampler.crops = 0), /sampler\.crops/],
    ['an unknown interpolation', (m) => (m.sampler.interpolation = 'lanczos3'), /sampler\.interpolation/],
    ['an unknown JPEG decoding rule', (m) => (m.sampler.decoder = 'fkd-jpeg-2'), /"fkd-jpeg-1" for sampler\.decoder/],
    ['an unknown codec', (m) => (m.codec.name = 'topk-fp16'), /codec\.name/],
    ['another probability step', (m) => (m.codec.stepLn = 0.02), /0\.0195 .*codec\.stepLn/],
    ['topK above the class count', (m) => (m.codec.topK = 4), /codec\.topK/],
    ['an unknown target', (m) => (m.codec.target = 'hard'), /codec\.target/],
    ['zero shardImages', (m) => (m.shardImages = 0), /shardImages/],
    ['shards out of order', (m) => m.shards.reverse(), /shards\[1\]\.index/],
    ['a shard beyond the dataset', (m) => (m.shards[2].index = 3), /shards\[2\]\.index/],
    ['a repeated key', (m) => (m.shards[1].key = m.shards[0].key), /listed twice/],
    ['a wrong imageStart', (m) => (m.shards[1].imageStart = 3), /shards\[1\]\.imageStart/],
    ['a wrong imageCount', (m) => (m.shards[2].imageCount = 4), /shards\[2\]\.imageCount/],
    ['records that ignore a skipped image', (m) => (m.shards[1].records = 16), /shards\[1\] claims 16 records, but 3 images/],
    ['a missing epoch block', (m) => m.shards[0].layout.epochs.pop(), /array of 2 for shards\[0\]\.layout\.epochs/],
    ['a gap between blocks', (m) => (m.shards[0].layout.epochs[1].offset += 1), /shards\[0\]\.layout\.epochs\[1\]\.offset/],
    ['an image block not after the magic', (m) => (m.shards[0].layout.images.offset = 0), /layout\.images\.offset/],
    ['a wrong epoch number', (m) => (m.shards[0].layout.epochs[1].epoch = 0), /epochs\[1\]\.epoch/],
    ['wrong per-epoch records', (m) => (m.shards[1].layout.epochs[0].records = 8), /epochs\[0\]\.records/],
    ['a wrong shard size', (m) => (m.shards[0].layout.bytes += 1), /blocks end at byte/],
    ['a bad block hash', (m) => (m.shards[0].layout.epochs[0].sha256 = 'x'), /epochs\[0\]\.sha256/],
    ['a wrong total of records', (m) => (m.totals.records += 1), /totals\.records/],
    ['a wrong total of bytes', (m) => (m.totals.bytes -= 1), /totals\.bytes/],
    ['a complete manifest with a shard missing', (m) => {
      m.shards.pop();
      m.totals.records = m.shards.reduce((sum: number, s: ShardEntry) => sum + s.records, 0);
      m.totals.bytes = m.shards.reduce((sum: number, s: ShardEntry) => sum + s.layout.bytes, 0);
    }, /marked complete but lists 2 of 3 shards/],
  ];

  it.each(cases)('%s, with E_CORRUPT_MANIFEST naming the field', (_, edit, pattern) => {
    const error = parseError(edited(edit));
    expect(error.code).toBe('E_CORRUPT_MANIFEST');
    expect(error.message).toMatch(pattern);
    expect(error.message).toMatch(/^\/data\/labels\/manifest\.json is (invalid|inconsistent)/);
  });
});

describe('format 2 manifests protect themselves', () => {
  const v2 = (): Manifest => ({ ...validManifest(), version: 2 });

  it('end with an integrity member that is the SHA-256 of the file with it zeroed, and parse back', () => {
    const text = serializeManifest(v2());
    const tail = /"integrity": "([0-9a-f]{64})"\n\}\n$/.exec(text);
    expect(tail).not.toBeNull();
    const zeroed = text.replace(tail![1]!, '0'.repeat(64));
    expect(sha256Hex(new TextEncoder().encode(zeroed))).toBe(tail![1]);
    expect(parseManifest(text, '/s')).toEqual(v2());
    // Format 1 has neither member.
    expect(serializeManifest(validManifest())).not.toMatch(/"integrity"|"requires"/);
  });

  it('refuse a hand edit that keeps every other rule, naming the integrity check', () => {
    // The case: codec.topK edited in a text editor (here a shard image count, which the
    // field rules alone would catch too, and a creation date, which only the self-hash can).
    const text = serializeManifest(v2()).replace('"createdAt": "2025-01-02T03:04:05.000Z"', '"createdAt": "2025-01-02T03:04:06.000Z"');
    const error = parseError(text);
    expect(error.code).toBe('E_CORRUPT_MANIFEST');
    expect(error.message).toMatch(/fails its integrity check .*edited or damaged after fkd wrote it/);
  });

  it('refuse a missing, misplaced or malformed integrity member', () => {
    const text = serializeManifest(v2());
    const without = JSON.parse(text) as Record<string, unknown>;
    delete without.integrity;
    expect(parseError(`${JSON.stringify(without, null, 2)}\n`).message).toMatch(/expected the last member, "integrity"/);
    const compact = JSON.stringify(JSON.parse(text));
    expect(parseError(compact).message).toMatch(/expected the last member, "integrity"/);
    expect(parseError(text.replace(/"integrity": "[0-9a-f]{64}"/, '"integrity": "ABC"')).message).toMatch(/expected the last member, "integrity"/);
  });

  it('refuse a store that requires a feature this reader does not know, naming it', () => {
    // Written as a later fkd would: this one refuses to write what it cannot read.
    expect(() => serializeManifest({ ...v2(), requires: ['sparse-codes'] })).toThrow(/sparse-codes/);
    const later = { ...(JSON.parse(serializeManifest(v2())) as Record<string, unknown>), requires: ['sparse-codes'], integrity: '0'.repeat(64) };
    const zeroed = `${JSON.stringify(later, null, 2)}\n`;
    const error = parseError(zeroed.replace('0'.repeat(64), sha256Hex(new TextEncoder().encode(zeroed))));
    expect(error.code).toBe('E_CORRUPT_MANIFEST');
    expect(error.message).toMatch(/requires features this fkd does not understand \(sparse-codes\).*Upgrade fkd/);
  });
});

describe('boxesFrom (format 2, requires "boxes-from")', () => {
  const boxesFrom = { store: '/data/labels-a', digest: sha256Hex(new TextEncoder().encode('blocks')) };
  const v2 = (): Manifest => ({ ...validManifest(), version: 2 });

  it('round-trips with the feature it requires', () => {
    const manifest: Manifest = { ...v2(), requires: ['boxes-from'], boxesFrom };
    expect(parseManifest(serializeManifest(manifest), '/s').boxesFrom).toEqual(boxesFrom);
  });

  it('is refused without requires listing the feature, and the feature without it', () => {
    expect(() => serializeManifest({ ...v2(), boxesFrom })).toThrow(/boxesFrom is set but requires does not list "boxes-from"/);
    expect(() => serializeManifest({ ...v2(), requires: ['boxes-from'] })).toThrow(/expected an object for boxesFrom/);
  });
});

describe('dataset.classes', () => {
  it('holds folder names only: a class with "/" (or a "..") is refused, as no tree has such a folder', () => {
    for (const name of ['a/b', '..', '']) {
      const error = parseError(edited((m) => {
        m.dataset.classes[0] = name;
      }));
      expect(error.code).toBe('E_CORRUPT_MANIFEST');
      expect(error.message).toMatch(/dataset\.classes\[0\]/);
    }
  });
});

describe('encodeManifest: the writer refuses what readers refuse', () => {
  it('refuses a manifest above the readers’ size limit, naming the skipped images, and encodes one within it', () => {
    const manifest = validManifest();
    const bytes = encodeManifest(manifest);
    expect(new TextDecoder().decode(bytes)).toBe(serializeManifest(manifest));
    const error = thrownError(() => encodeManifest(manifest, bytes.length - 1));
    expect(error.code).toBe('E_FORMAT_LIMIT');
    expect(error.message).toMatch(new RegExp(`would be ${bytes.length} bytes, above the ${bytes.length - 1} bytes readers accept .* lists 1 skipped images`));
  });
});
