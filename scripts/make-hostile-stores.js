// Writes test/fixtures/hostile/<case>/: label stores that a buggy writer, a hand-edited
// manifest, another implementation or an attacker with write access could produce. Every
// hash in them is VALID: each case is the committed v1 store (test/fixtures/v1-store) with
// one thing changed, then every block hash, shard hash and manifest layout recomputed. So
// what rejects them is the strict decoder's rules and cross-checks, not a checksum.
//
// cases.json lists each case with the error code that verify, openLabels/readEpoch and the
// loader must give (test/store/hostile.test.ts checks all three, and bounds their memory).
//
// Usage: node scripts/make-hostile-stores.js   (needs nothing but Node and msgpackr)
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, brotliDecompressSync } from 'node:zlib';
import { Packr, Unpackr } from 'msgpackr';

const root = fileURLToPath(new URL('..', import.meta.url));
const base = join(root, 'test', 'fixtures', 'v1-store');
const out = join(root, 'test', 'fixtures', 'hostile');
const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const MAGIC = Buffer.from('FKDSHRD1');

/** A store in memory: the parsed manifest and the raw blocks of each shard. */
function loadBase() {
  const manifest = JSON.parse(readFileSync(join(base, 'manifest.json'), 'utf8'));
  const shards = manifest.shards.map((shard) => {
    const bytes = readFileSync(join(base, shard.key));
    const refs = [shard.layout.images, ...shard.layout.epochs];
    return refs.map((ref) => bytes.subarray(ref.offset, ref.offset + ref.length));
  });
  return { manifest, shards };
}

const decode = (block) => unpackr.unpack(block);
const encode = (value) => packr.pack(value);

/** The columns of an epoch block as plain arrays, and back (FORMAT.md §4.3). */
function columns(block) {
  const n = block.records;
  const k = block.topK;
  const raw = brotliDecompressSync(block.payload);
  const planes = (at, m) => Array.from({ length: m }, (_, i) => raw[at + i] | (raw[at + m + i] << 8));
  const top = planes(0, n);
  const left = planes(2 * n, n);
  const height = planes(4 * n, n);
  const width = planes(6 * n, n);
  const flipAt = 8 * n;
  const classesAt = flipAt + Math.ceil(n / 8);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const classes = Array.from({ length: n * k }, (_, q) => view.getUint16(classesAt + 2 * q, true));
  return { raw, top, left, height, width, classes, classesAt };
}

function repackColumns(block, { raw, top, left, height, width, classes, classesAt }) {
  const n = block.records;
  const copy = Buffer.from(raw);
  const planes = (values, at) => values.forEach((v, i) => ((copy[at + i] = v & 0xff), (copy[at + n + i] = v >> 8)));
  planes(top, 0);
  planes(left, 2 * n);
  planes(height, 4 * n);
  planes(width, 6 * n);
  classes.forEach((c, q) => copy.writeUInt16LE(c, classesAt + 2 * q));
  return { ...block, payload: brotliCompressSync(copy) };
}

/** An epoch block without records [from, from + count): every column section re-packed (FORMAT.md §4.3; 2-byte classes). */
function withoutRecords(block, from, count) {
  const n = block.records;
  const k = block.topK;
  const m = n - count;
  const raw = brotliDecompressSync(block.payload);
  const kept = Array.from({ length: n }, (_, i) => i).filter((i) => i < from || i >= from + count);
  const out = Buffer.alloc(8 * m + Math.ceil(m / 8) + m * k * 4);
  for (let plane = 0; plane < 4; plane++) {
    kept.forEach((i, r) => ((out[2 * m * plane + r] = raw[2 * n * plane + i]), (out[2 * m * plane + m + r] = raw[2 * n * plane + n + i])));
  }
  const [flipsIn, flipsOut] = [8 * n, 8 * m];
  kept.forEach((i, r) => ((raw[flipsIn + (i >> 3)] >> (i & 7)) & 1 ? (out[flipsOut + (r >> 3)] |= 1 << (r & 7)) : 0));
  const [classesIn, classesOut] = [flipsIn + Math.ceil(n / 8), flipsOut + Math.ceil(m / 8)];
  kept.forEach((i, r) => raw.copy(out, classesOut + 2 * k * r, classesIn + 2 * k * i, classesIn + 2 * k * (i + 1)));
  const [deltasIn, deltasOut] = [classesIn + 2 * k * n, classesOut + 2 * k * m];
  for (let j = 0; j < k; j++) {
    kept.forEach((i, r) => ((out[deltasOut + j * m + r] = raw[deltasIn + j * n + i]), (out[deltasOut + k * m + j * m + r] = raw[deltasIn + k * n + j * n + i])));
  }
  return { ...block, records: m, payload: brotliCompressSync(out) };
}

/** Write a store: shard files rebuilt from their blocks, every layout and hash recomputed. */
function writeStore(name, { manifest, shards }, options = {}) {
  const directory = join(out, name);
  mkdirSync(join(directory, 'shards'), { recursive: true });
  manifest.shards.forEach((shard, s) => {
    const blocks = shards[s];
    const bytes = Buffer.concat([MAGIC, ...blocks]);
    let offset = MAGIC.length;
    const refs = blocks.map((block) => {
      const ref = { offset, length: block.length, sha256: sha256(block) };
      offset += block.length;
      return ref;
    });
    shard.layout.bytes = bytes.length;
    shard.layout.sha256 = sha256(bytes);
    shard.layout.images = refs[0];
    shard.layout.epochs = refs.slice(1).map((ref, e) => ({ ...ref, epoch: e, records: shard.layout.epochs[e]?.records ?? 0 }));
    if (!options.keepLayoutRecords) shard.layout.epochs.forEach((ref) => (ref.records = decode(blocks[1 + ref.epoch]).records));
    writeFileSync(join(directory, shard.key), bytes);
  });
  manifest.totals.bytes = manifest.shards.reduce((sum, shard) => sum + shard.layout.bytes, 0);
  const text = options.text ? options.text(JSON.stringify(manifest, null, 2) + '\n') : JSON.stringify(manifest, null, 2) + '\n';
  writeFileSync(join(directory, 'manifest.json'), text);
}

const cases = [];
/** One case: `mutate` gets a fresh copy of the base store and returns write options. */
function hostile(name, code, description, mutate) {
  const store = loadBase();
  const options = mutate(store) ?? {};
  writeStore(name, store, options);
  cases.push({ name, code, description });
}

/** Change block `b` of shard `s` through `change(decoded)`. */
function editBlock(store, s, b, change) {
  const value = decode(store.shards[s][b]);
  store.shards[s][b] = encode(change(value) ?? value);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// --- accepted before by verify and openLabels/readEpoch, though FORMAT.md says MUST reject
hostile('box-outside-image', 'E_CORRUPT_SHARD', 'shard 1 epoch 1 record 3: top + height = image height + 1', (store) => {
  const images = decode(store.shards[1][0]);
  editBlock(store, 1, 2, (block) => {
    const c = columns(block);
    const image = 1; // record 3 is crop 1 of the shard's second image
    const h = images.heights.readUInt16LE(2 * image);
    c.height[3] = Math.min(h, c.height[3]);
    c.top[3] = h + 1 - c.height[3];
    return repackColumns(block, c);
  });
});
hostile('class-beyond-count', 'E_CORRUPT_SHARD', 'shard 0 epoch 0 record 17: class 7 with 4 classes', (store) => {
  editBlock(store, 0, 1, (block) => {
    const c = columns(block);
    c.classes[17 * block.topK] = 7;
    return repackColumns(block, c);
  });
});
hostile('wrong-epoch-field', 'E_CORRUPT_SHARD', "shard 2's second epoch block says epoch 0", (store) => {
  editBlock(store, 2, 2, (block) => ({ ...block, epoch: 0 }));
});
hostile('block-topk-differs', 'E_CORRUPT_SHARD', "shard 0's blocks hold top-1 records while codec.topK is 2 (the rank-1 column dropped)", (store) => {
  for (const b of [1, 2]) {
    editBlock(store, 0, b, (block) => {
      const c = columns(block);
      const n = block.records;
      const top1 = Buffer.concat([c.raw.subarray(0, c.classesAt), Buffer.alloc(2 * n), Buffer.alloc(2 * n)]);
      for (let r = 0; r < n; r++) top1.writeUInt16LE(c.classes[2 * r], c.classesAt + 2 * r);
      // codes: rank-0 deltas only (the low and high planes of the first n deltas)
      const deltasAt = c.classesAt + 4 * n;
      for (let r = 0; r < n; r++) {
        top1[c.classesAt + 2 * n + r] = c.raw[deltasAt + r];
        top1[c.classesAt + 3 * n + r] = c.raw[deltasAt + 2 * n + r];
      }
      return { ...block, topK: 1, payload: brotliCompressSync(top1) };
    });
  }
});
hostile('image-start-differs', 'E_CORRUPT_SHARD', "shard 1's image block says imageStart 99 (the manifest: 10)", (store) => {
  editBlock(store, 1, 0, (block) => ({ ...block, imageStart: 99 }));
});
hostile('skipped-differs', 'E_CORRUPT_SHARD', "shard 2's image block lists image 3 as skipped; the manifest skips nothing", (store) => {
  editBlock(store, 2, 0, (block) => ({ ...block, skipped: [3] }));
});
hostile('skipped-path-differs', 'E_CORRUPT_SHARD', "image 23 is skipped in both, its records removed, but the manifest names another file than shard 2's image block", (store) => {
  const { manifest } = store;
  const epochs = manifest.sampler.epochs;
  const crops = manifest.sampler.crops;
  editBlock(store, 2, 0, (block) => ({ ...block, skipped: [3] }));
  for (let e = 1; e <= epochs; e++) editBlock(store, 2, e, (block) => withoutRecords(block, 3 * crops, crops));
  manifest.dataset.skipped = [{ index: 23, path: 'class-a-red/not-this-one.jpg', reason: 'not a readable image' }];
  manifest.shards[2].records -= epochs * crops;
  manifest.totals.records -= epochs * crops;
});

// --- accepted where a strict reader rejects, and FORMAT.md was silent
hostile('brotli-trailing-bytes', 'E_CORRUPT_SHARD', "shard 0 epoch 1's payload has 4 bytes after the end of its Brotli stream", (store) => {
  editBlock(store, 0, 2, (block) => ({ ...block, payload: Buffer.concat([block.payload, Buffer.from('junk')]) }));
});
hostile('msgpack-duplicate-key', 'E_CORRUPT_SHARD', "shard 1 epoch 0's map has the key records twice (a lenient decoder keeps the last)", (store) => {
  const block = decode(store.shards[1][1]);
  // Hand-made: fixmap of 9 entries, the first one an extra "records": 0.
  const entries = Object.entries(block).map(([k, v]) => encode({ [k]: v }).subarray(1));
  store.shards[1][1] = Buffer.concat([Buffer.of(0x80 | (entries.length + 1)), encode({ records: 0 }).subarray(1), ...entries]);
});
hostile('msgpack-float-records', 'E_CORRUPT_SHARD', "shard 1 epoch 1's records is the float64 20.0", (store) => {
  const block = decode(store.shards[1][2]);
  const entries = Object.entries(block).map(([k, v]) =>
    k === 'records' ? Buffer.concat([encode({ records: 0 }).subarray(1, 9), Buffer.of(0xcb), (() => { const b = Buffer.alloc(8); b.writeDoubleBE(v); return b; })()]) : encode({ [k]: v }).subarray(1),
  );
  store.shards[1][2] = Buffer.concat([Buffer.of(0x80 | entries.length), ...entries]);
});
hostile('manifest-float-records', 'E_CORRUPT_MANIFEST', 'the manifest says "records": 40.0 for shard 0', () => ({
  text: (text) => text.replace('"records": 40,', '"records": 40.0,'),
}));
hostile('manifest-bom', 'E_CORRUPT_MANIFEST', 'manifest.json starts with a UTF-8 byte order mark', () => ({ text: (text) => `\ufeff${text}` }));
hostile('manifest-duplicate-key', 'E_CORRUPT_MANIFEST', 'the manifest has "topK" twice in codec (2, then 1)', () => ({
  text: (text) => text.replace('"topK": 2,', '"topK": 2,\n    "topK": 1,'),
}));
hostile('manifest-big-integer', 'E_CORRUPT_MANIFEST', 'sampler.seed is 9007199254740993, above 2^53 (JSON.parse rounds it)', () => ({
  text: (text) => text.replace('"seed": 1,', '"seed": 9007199254740993,'),
}));

// --- the same gaps, as a user with a text editor meets them (every hash kept valid)
hostile('manifest-topk-edited', 'E_CORRUPT_SHARD', 'codec.topK edited 2 → 1; the blocks still hold top-2', (store) => {
  store.manifest.codec.topK = 1;
});
hostile('manifest-crops-edited', 'E_CORRUPT_SHARD', 'sampler.crops edited 2 → 1, with every record count edited to match; the blocks still hold 2 crops per image', (store) => {
  store.manifest.sampler.crops = 1;
  for (const shard of store.manifest.shards) {
    shard.records /= 2;
    shard.layout.epochs.forEach((ref) => (ref.records /= 2));
  }
  store.manifest.totals.records /= 2;
  return { keepLayoutRecords: true };
});
hostile('manifest-crops-huge', 'E_CORRUPT_MANIFEST', 'sampler.crops = 1e9 with the record counts to match', (store) => {
  const crops = 1e9;
  store.manifest.sampler.crops = crops;
  let total = 0;
  for (const shard of store.manifest.shards) {
    shard.records = shard.imageCount * crops * 2;
    shard.layout.epochs.forEach((ref) => (ref.records = shard.imageCount * crops));
    total += shard.records;
  }
  store.manifest.totals.records = total;
  return { keepLayoutRecords: true };
});
hostile('shard-copied', 'E_CORRUPT_SHARD', 'shards/000001.fkd replaced by a copy of shard 0, with its manifest layout updated', (store) => {
  store.shards[1] = store.shards[0].map((block) => Buffer.from(block));
});
hostile('incomplete', 'E_INCOMPLETE_STORE', 'complete: false with shard 1 dropped', (store) => {
  store.manifest.complete = false;
  store.manifest.shards.splice(1, 1);
  store.shards.splice(1, 1);
  store.manifest.totals.records = store.manifest.shards.reduce((sum, shard) => sum + shard.records, 0);
});
hostile('record-bomb', 'E_CORRUPT_SHARD', 'sampler.crops = 65535, consistent everywhere; shard 0 epoch 0 declares 655,350 records (10.6 MB unpacked) in a payload of a few bytes', (store) => {
  const crops = 65535;
  store.manifest.sampler.crops = crops;
  let total = 0;
  store.manifest.shards.forEach((shard, s) => {
    shard.records = shard.imageCount * crops * 2;
    total += shard.records;
    for (const b of [1, 2]) {
      editBlock(store, s, b, (block) => {
        const n = shard.imageCount * crops;
        const rawSize = 8 * n + Math.ceil(n / 8) + n * block.topK * 4;
        return { ...block, crops, records: n, payload: brotliCompressSync(Buffer.alloc(rawSize)) };
      });
    }
  });
  store.manifest.totals.records = total;
});
hostile('block-length-2g', 'E_CORRUPT_MANIFEST', "shard 0's last epoch block claims a length of 2^31 (Node's file read aborts the process on it)", () => ({
  text: (text) => {
    const manifest = JSON.parse(text);
    const layout = manifest.shards[0].layout;
    const last = layout.epochs[layout.epochs.length - 1];
    layout.bytes += 2 ** 31 - last.length;
    manifest.totals.bytes += 2 ** 31 - last.length;
    last.length = 2 ** 31;
    return JSON.stringify(manifest, null, 2) + '\n';
  },
}));
hostile('manifest-long-string', 'E_CORRUPT_MANIFEST', 'teacher.backend is a 100,000-character string (strings are capped at 65,536)', (store) => {
  store.manifest.teacher.backend = 'x'.repeat(100_000);
});
hostile('teacher-std-tiny', 'E_CORRUPT_MANIFEST', 'teacher.std[0] = 1e-300 (normalisation would turn pixels into infinities)', (store) => {
  store.manifest.teacher.std[0] = 1e-300;
});
hostile('teacher-input-size-huge', 'E_CORRUPT_MANIFEST', 'teacher.inputSize = 100000', (store) => {
  store.manifest.teacher.inputSize = 100_000;
});

// --- issue 22: what a second adversarial run found
hostile('paths-bomb', 'E_CORRUPT_SHARD', "shard 0's image block: a 3 MiB first path (pathsBytes 3 MiB + 91, brotli a few hundred bytes); paths are capped at 4096 bytes, pathsBytes at imageCount × 4097 − 1", (store) => {
  editBlock(store, 0, 0, (block) => {
    const paths = brotliDecompressSync(block.paths).toString('utf8').split('\0');
    paths[0] = `class-a-red/${'a'.repeat(3 * 1024 * 1024)}.jpg`;
    const raw = Buffer.from(paths.join('\0'));
    return { ...block, pathsBytes: raw.length, paths: brotliCompressSync(raw) };
  });
});
hostile('manifest-lone-surrogate', 'E_CORRUPT_MANIFEST', 'a shard key written with a lone surrogate escape ("shards/\\ud800.fkd" would name a U+FFFD file)', () => ({
  text: (text) => text.replace('"key": "shards/000001.fkd"', '"key": "shards/\\ud800.fkd"'),
}));
hostile('manifest-number-infinity', 'E_CORRUPT_MANIFEST', 'sampler.scale[1] is 1e400, which a lenient parser reads as Infinity', () => ({
  text: (text) => text.replace(/"scale": \[\n(\s*)([\d.]+),\n\s*([\d.]+)/, '"scale": [\n$1$2,\n$11e400'),
}));

// --- format 2: the manifest's integrity hash catches what a format 1 manifest cannot show.
// The base is the committed format 2 reference store (fixtures/reference-store), copied as is
// but for the manifest, edited as a user with a text editor would, its integrity left alone.
function hostileV2(name, code, description, editText) {
  const base2 = join(root, 'fixtures', 'reference-store');
  const directory = join(out, name);
  mkdirSync(join(directory, 'shards'), { recursive: true });
  const manifest = readFileSync(join(base2, 'manifest.json'), 'utf8');
  for (const shard of JSON.parse(manifest).shards) writeFileSync(join(directory, shard.key), readFileSync(join(base2, shard.key)));
  const edited = editText(manifest);
  if (edited === manifest) throw new Error(`${name}: the edit changed nothing`);
  writeFileSync(join(directory, 'manifest.json'), edited);
  cases.push({ name, code, description });
}
hostileV2('v2-classes-swapped', 'E_CORRUPT_MANIFEST', 'format 2: dataset.classes a and b swapped by hand, every field still valid', (text) =>
  text.replace('"class-a-red",\n      "class-b-green"', '"class-b-green",\n      "class-a-red"'),
);

writeFileSync(join(out, 'cases.json'), JSON.stringify(cases, null, 2) + '\n');
console.log(`wrote ${cases.length} hostile stores to ${out}`);
