// A format 1 twin of a format 2 store: the same shards without their content hashes, and a
// version 1 manifest. Boxes, labels and paths are identical, so a loader epoch over each
// differs only by the content check; bench/run.js times both to price that check.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeShard } from '../../dist/store/format/decode.js';
import { encodeShard } from '../../dist/store/format/encode.js';
import { serializeManifest } from '../../dist/store/manifest.js';
import { openLabels } from '../../dist/store/labels.js';

export async function writeFormat1Twin(location, out) {
  const { manifest } = await openLabels(location);
  mkdirSync(join(out, 'shards'), { recursive: true });
  const shards = manifest.shards.map((shard) => {
    const decoded = decodeShard(readFileSync(join(location, shard.key)));
    const { contentHashes: _dropped, ...images } = decoded.images;
    const { bytes, layout } = encodeShard(images, decoded.epochs, manifest.dataset.classes.length);
    writeFileSync(join(out, shard.key), bytes);
    return { ...shard, layout };
  });
  const bytes = shards.reduce((sum, shard) => sum + shard.layout.bytes, 0);
  writeFileSync(join(out, 'manifest.json'), serializeManifest({ ...manifest, version: 1, requires: [], shards, totals: { ...manifest.totals, bytes } }));
  return out;
}
