// Bytes per record of the real encoder on simulated teacher outputs with ImageNet geometry.
// No pretrained teacher can be downloaded here, and a random-weight network's outputs are
// unrealistically uniform, so record sizes are measured on a simulation of what NOTES §5
// describes: crops of one image share their top classes; probabilities are peaked but soft.
import { encodeShard } from '../../dist/store/format/encode.js';
import { encodeProbability, codecDescription } from '../../dist/labels/codec.js';
import { serializeManifest } from '../../dist/store/manifest.js';
import { gaussian, mulberry32 as seeded } from '../../scripts/lib/onnx-graph.js';


/**
 * One simulated shard: per image a true class and 8 confusable classes; each crop's logits
 * favour the true class with a crop-dependent strength, then softmax and top-k.
 */
export function simulateShard({ shard, images, epochs, crops, k, classes, random, format = 2, boxes = true }) {
  const widths = new Uint32Array(images).fill(500);
  const heights = new Uint32Array(images).fill(375);
  const paths = Array.from({ length: images }, (_, i) => `n${String(shard * images + i).padStart(8, '0')}/n${String(shard * images + i).padStart(8, '0')}_${1000 + i}.JPEG`);
  const records = [];
  const n = images * crops;
  const near = Array.from({ length: images }, () => Array.from({ length: 8 }, () => Math.floor(random() * classes)));
  const truth = near.map((list) => list[0]);
  for (let epoch = 0; epoch < epochs; epoch++) {
    const r = { epoch, crops, topK: k, count: n, top: new Uint16Array(n), left: new Uint16Array(n), height: new Uint16Array(n), width: new Uint16Array(n), flip: new Uint8Array(n), classes: new Uint32Array(n * k), codes: new Uint16Array(n * k) };
    for (let image = 0; image < images; image++) {
      for (let crop = 0; crop < crops; crop++) {
        const slot = image * crops + crop;
        const h = 30 + Math.floor(random() * 345);
        const w = Math.min(500, Math.max(1, Math.round(h * (0.75 + random() * 0.58))));
        r.height[slot] = h;
        r.width[slot] = w;
        r.top[slot] = Math.floor(random() * (375 - h + 1));
        r.left[slot] = Math.floor(random() * (500 - w + 1));
        r.flip[slot] = random() < 0.5 ? 1 : 0;
        // Sparse logits: the confusable classes get mass, the rest a flat floor.
        const strength = 2 + 6 * random();
        const scores = new Map();
        for (const [j, c] of near[image].entries()) scores.set(c, (scores.get(c) ?? 0) + (j === 0 ? strength : 1.5 * random()) + 0.5 * gaussian(random));
        const floor = Math.exp(0);
        let total = (classes - scores.size) * floor;
        for (const s of scores.values()) total += Math.exp(s);
        const top = [...scores.entries()].map(([c, s]) => [c, Math.exp(s) / total]);
        for (let c = 0; top.length < k; c++) if (!scores.has(c)) top.push([c, floor / total]);
        top.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
        for (let j = 0; j < k; j++) {
          r.classes[slot * k + j] = top[j][0];
          r.codes[slot * k + j] = encodeProbability(top[j][1]);
        }
      }
    }
    records.push(r);
  }
  void truth;
  // Format 2 stores 8 content-hash bytes per image; random bytes compress as real hashes do (not at all).
  const contentHashes = format === 2 ? Uint8Array.from({ length: 8 * images }, () => Math.floor(random() * 256)) : undefined;
  return encodeShard({ imageStart: shard * images, imageCount: images, widths, heights, skipped: [], paths, ...(contentHashes ? { contentHashes } : {}) }, records, classes, { boxes });
}

/**
 * Bytes per record with shard framing, per-shard entries and the manifest included. With
 * `boxes: false`, those of a `fkd label --like` store (labels blocks, boxes from its base).
 * @example recordSize({ k: 5, classes: 1000 })
 */
export function recordSize({ k = 5, classes = 1000, images = 1000, shards = 2, epochs = 10, crops = 4, seed = 5, boxes = true } = {}) {
  const random = seeded(seed);
  let bytes = 0;
  const entries = [];
  for (let shard = 0; shard < shards; shard++) {
    const { bytes: shardBytes, layout } = simulateShard({ shard, images, epochs, crops, k, classes, random, boxes });
    bytes += shardBytes.length;
    entries.push({ index: shard, key: `shards/${String(shard).padStart(6, '0')}.fkd`, imageStart: shard * images, imageCount: images, records: images * crops * epochs, layout });
  }
  const records = shards * images * crops * epochs;
  const manifest = serializeManifest({
    format: 'fkd-labels', version: 2, requires: boxes ? [] : ['boxes-from'], ...(boxes ? {} : { boxesFrom: { store: '/base', digest: '0'.repeat(64) } }), complete: true, createdAt: new Date(0).toISOString(), tool: { name: 'fkd', version: '0' },
    dataset: { images: shards * images, classes: Array.from({ length: classes }, (_, c) => `n${String(c).padStart(8, '0')}`), fingerprint: '0'.repeat(64), skipped: [] },
    teacher: { file: 't.onnx', sha256: '0'.repeat(64), engine: 'onnx', backend: 'onnx/cpu', inputSize: 224, layout: 'nchw', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], outputs: 'logits', temperature: 1 },
    sampler: { seed: 0, scale: [0.08, 1], ratio: [0.75, 4 / 3], flip: 0.5, epochs, crops, interpolation: 'bicubic', maxPixels: 268402689 },
    codec: codecDescription(k, 'marginal'), shardImages: images, shards: entries, totals: { records, bytes },
  });
  // Each shard also has a JSON commit entry of about its manifest entry's size.
  const entryBytes = entries.reduce((sum, entry) => sum + JSON.stringify({ configSha256: '0'.repeat(64), backend: 'onnx/cpu', slice: { index: 0, count: 1 }, shard: entry, skipped: [] }, null, 2).length, 0);
  // The manifest lists every class name once; at ImageNet scale (1282 shards) that is spread thin.
  return { k, classes, epochs, crops, boxes, bytesPerRecord: (bytes + manifest.length + entryBytes) / records, shardBytesPerRecord: bytes / records };
}
