// Digests of every batch the in-process Node loader yields for the options in argv[2] (JSON,
// createLoader's names, labels as a path): the reference the Python client's batches must equal.
import { createHash } from 'node:crypto';
import process from 'node:process';
import { createLoader } from '../../dist/loader/index.js';
import { openLabels } from '../../dist/store/index.js';

const options = JSON.parse(process.argv[2]);
const labels = await openLabels(options.labels);
const digest = (array) => createHash('sha256').update(new Uint8Array(array.buffer, array.byteOffset, array.byteLength)).digest('hex');
const out = [];
for await (const batch of createLoader({ ...options, labels })) {
  const meta = batch.meta;
  out.push({
    images: digest(batch.images),
    targets: digest(batch.targets.dense()),
    classes: digest(batch.targets.classes),
    probs: digest(batch.targets.probs),
    imageIndex: [...batch.samples.imageIndex],
    boxes: meta.map((m) => [m.box.top, m.box.left, m.box.height, m.box.width, m.box.flip ? 1 : 0]),
    mix: meta.map((m) => (m.mix ? [m.mix.partner, m.mix.lambda] : null)),
  });
}
process.stdout.write(JSON.stringify(out));
