// Writes test/fixtures/v1-store/: a complete label store in format version 1, made by fkd's
// own writer from the fixture images and teacher. It is committed, and frozen: fkd now
// writes format version 2, so running this script again at a newer commit would write a v2
// store. It exists so that "version 1 stores still load" is tested against real v1 bytes
// rather than against bytes a newer writer imitates. It was run at the last commit whose
// writer produced version 1 (see test/fixtures/README.md).
//
// Usage: npm run build && node scripts/make-v1-store.js
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { label } from '../dist/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'test', 'fixtures', 'v1-store');
rmSync(out, { recursive: true, force: true });
// 24 images in shards of 10 (three shards, the last one short), 2 label epochs × 2 crops,
// top-2: small enough to commit, and every part of the format (several shards, several
// epochs, a short last shard) appears.
const result = await label({
  data: join(root, 'fixtures', 'images'),
  teacher: join(root, 'fixtures', 'teacher', 'tiny.onnx'),
  out,
  epochs: 2,
  crops: 2,
  topK: 2,
  shardImages: 10,
  seed: 1,
  threads: 1,
});
console.log(`wrote ${out}: ${result.images} images, ${result.crops} crops, ${result.shardsWritten} shards`);
