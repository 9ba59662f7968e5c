// Writes fixtures/reference-store/: a small label store made from the fixture images and the
// tiny ONNX teacher with the options in fixtures/reference-store.json. It is committed so
// that a change to the label pass that alters a single stored byte fails
// test/generate/reference-store.test.ts, not only the determinism tests that compare two runs
// of the same code. Rebuild it only for a deliberate format change, and say so in the commit.
//
// Usage: npm run build && node scripts/make-reference-store.js

import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { label } from '../dist/generate/label.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const spec = JSON.parse(readFileSync(join(fixtures, 'reference-store.json'), 'utf8'));
const out = join(fixtures, 'reference-store');
rmSync(out, { recursive: true, force: true });
const result = await label({ ...spec.options, data: join(fixtures, spec.data), teacher: join(fixtures, spec.teacher), out });
console.log(`wrote ${out}: ${result.shardsWritten} shards, ${result.images} images, ${result.crops} crops`);
