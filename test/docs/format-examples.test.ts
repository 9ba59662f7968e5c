import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeProbability } from '../../src/labels/codec.js';
import { openLabels } from '../../src/store/labels.js';
import { presentImages } from '../../src/store/format/columns.js';

// Every Python block of docs/FORMAT.md, run as written against the committed reference store
// (format 2) and the format 1 fixture, so the spec's examples cannot drift from the bytes.
// They run under Debian's python3 with python3-numpy, python3-msgpack and python3-brotli,
// which .ci/run installs; without them the test is skipped and says why.

const FORMAT_MD = fileURLToPath(new URL('../../docs/FORMAT.md', import.meta.url));
const STORES = {
  'format 2 (fixtures/reference-store)': fileURLToPath(new URL('../../fixtures/reference-store', import.meta.url)),
  'format 1 (test/fixtures/v1-store)': fileURLToPath(new URL('../fixtures/v1-store', import.meta.url)),
};
const PYTHON = '/usr/bin/python3';

function pythonProblem(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} is not installed`;
  const probe = spawnSync(PYTHON, ['-c', 'import numpy, msgpack, brotli'], { encoding: 'utf8' });
  return probe.status === 0 ? undefined : `${PYTHON} lacks numpy, msgpack or brotli (apt-get install python3-numpy python3-msgpack python3-brotli): ${probe.stderr.trim().split('\n').pop()}`;
}

const missing = pythonProblem();
if (missing) console.warn(`docs/FORMAT.md examples skipped: ${missing}`);

/** The ```python blocks of FORMAT.md, in order. */
function pythonBlocks(): string[] {
  return [...readFileSync(FORMAT_MD, 'utf8').matchAll(/```python\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

// What the spec leaves to the reader's environment: a store with ranged reads, and a Brotli
// decompression bounded by its output size that refuses bytes after the stream's end.
const HARNESS_BEFORE = `
import hashlib, json, os, re, sys
import brotli, msgpack
import numpy as np

class Store:
    def __init__(self, root): self.root = root
    def get(self, key):
        with open(os.path.join(self.root, key), "rb") as f: return f.read()
    def get_range(self, key, offset, length):
        with open(os.path.join(self.root, key), "rb") as f:
            f.seek(offset); return f.read(length)

def brotli_decompress_at_most(data, n):
    d, out = brotli.Decompressor(), bytearray()
    for at in range(0, max(len(data), 1), 4096):
        out += d.process(data[at:at + 4096])
        assert len(out) <= n, "output above the bound"
    assert d.is_finished(), "truncated Brotli stream"
    return bytes(out)
`;

const HARNESS_AFTER = `
store = Store(sys.argv[1])
text = store.get("manifest.json")
manifest = json.loads(text)
result = {"version": manifest["version"], "shards": []}
if manifest["version"] == 2:
    check_integrity(text)
    try:
        check_integrity(text.replace(b'"complete": true', b'"complete": false'))
        result["tamperedIntegrity"] = "accepted"
    except AssertionError:
        result["tamperedIntegrity"] = "refused"
for shard in manifest["shards"]:
    paths, widths, heights, skipped, hashes = read_images(store, manifest, shard)
    epochs = []
    for e in range(manifest["sampler"]["epochs"]):
        image, crop, top, left, height, width, flip, classes, probs = read_epoch(store, manifest, shard, e)
        epochs.append({"image": image.tolist(), "crop": crop.tolist(), "box": np.stack([top, left, height, width, flip]).T.tolist(),
                       "classes": classes.tolist(), "probs": probs.tolist()})
    result["shards"].append({"paths": paths, "widths": widths.tolist(), "heights": heights.tolist(), "skipped": skipped,
                             "hashes": None if hashes is None else hashes.hex(), "epochs": epochs})
print(json.dumps(result))
`;

interface PythonRead {
  version: number;
  tamperedIntegrity?: string;
  shards: Array<{ paths: string[]; widths: number[]; heights: number[]; skipped: number[]; hashes: string | null; epochs: Array<{ image: number[]; crop: number[]; box: number[][]; classes: number[][]; probs: number[][] }> }>;
}

describe('docs/FORMAT.md examples', () => {
  it('has the Python blocks this test runs: the integrity check (§2.3) and the reader (§8.3)', () => {
    const blocks = pythonBlocks();
    expect(blocks).toHaveLength(2);
    expect(blocks[0]).toMatch(/def check_integrity/);
    expect(blocks[1]).toMatch(/def read_epoch/);
  });

  for (const [name, location] of Object.entries(STORES)) {
    it.skipIf(missing !== undefined)(`decode every record of the ${name} store exactly as fkd does`, async () => {
      const script = `${HARNESS_BEFORE}\n${pythonBlocks().join('\n')}\n${HARNESS_AFTER}`;
      const run = spawnSync(PYTHON, ['-c', script, location], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      const read = JSON.parse(run.stdout) as PythonRead;
      const labels = await openLabels(location, { allowFormat1: true });
      const m = labels.manifest;
      expect(read.version).toBe(m.version);
      if (m.version === 2) expect(read.tamperedIntegrity).toBe('refused');
      let records = 0;
      for (const [s, shard] of m.shards.entries()) {
        const mine = await labels.readImages(shard);
        const theirs = read.shards[s]!;
        expect(theirs.paths).toEqual(mine.paths);
        expect(theirs.widths).toEqual([...mine.widths]);
        expect(theirs.heights).toEqual([...mine.heights]);
        expect(theirs.skipped).toEqual(mine.skipped);
        expect(theirs.hashes).toBe(mine.contentHashes === undefined ? null : Buffer.from(mine.contentHashes).toString('hex'));
        const present = presentImages(mine);
        for (let e = 0; e < m.sampler.epochs; e++) {
          const block = await labels.readEpoch(shard, e);
          const epoch = theirs.epochs[e]!;
          for (let r = 0; r < block.count; r++) {
            expect(epoch.image[r]).toBe(shard.imageStart + present[Math.floor(r / m.sampler.crops)]!);
            expect(epoch.crop[r]).toBe(r % m.sampler.crops);
            expect(epoch.box[r]).toEqual([block.top[r], block.left[r], block.height[r], block.width[r], block.flip[r]]);
            const k = m.codec.topK;
            expect(epoch.classes[r]).toEqual([...block.classes.subarray(r * k, r * k + k)]);
            epoch.probs[r]!.forEach((p, j) => expect(p).toBeCloseTo(decodeProbability(block.codes[r * k + j]!), 12));
            records++;
          }
        }
      }
      expect(records).toBe(m.totals.records);
    }, 60_000);
  }
});
