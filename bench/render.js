// Crop renderer micro-benchmark: the plain-TypeScript reference against the WebAssembly
// SIMD build, both producing the same bytes. Prints ms per crop (median of 7 rounds).
// Reproduce: npm run build && node bench/render.js            (single thread; quiet machine)
//            node bench/render.js --quick                        (fewer rounds)
import { availableParallelism, cpus, loadavg } from 'node:os';
import { renderCrop, renderCropReference, renderNormalized, rendererBackend } from '../dist/crop/render.js';
import { defaultSamplerOptions, sampleCrop } from '../dist/crop/sampler.js';
import { imagenetNormalization, writeNormalized } from '../dist/crop/tensor.js';

const quick = process.argv.includes('--quick');
const rounds = quick ? 3 : 7;
const budgetMs = quick ? 80 : 250;

function syntheticImage(width, height, seed) {
  const data = new Uint8Array(width * height * 3);
  let s = seed >>> 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const i = (y * width + x) * 3;
      data[i] = (x * 255) / width + (s >>> 29);
      data[i + 1] = (y * 255) / height + ((s >>> 26) & 7);
      data[i + 2] = (((x >> 3) + (y >> 3)) & 1) * 200 + ((s >>> 20) & 31);
    }
  }
  return { data, width, height };
}

// Four images, so the "4 crops per image" rows pay the wasm renderer's image copy as the loader does.
const images = [1, 2, 3, 4].map((seed) => syntheticImage(500, 375, seed));
const size = 224;
const out = new Uint8Array(size * size * 3);
const batch = new Float32Array(4 * 3 * size * size);

/** Median ms per call of `fn(i)` over `rounds` rounds of ~budgetMs each. */
function measure(fn) {
  for (let i = 0; i < 20; i++) fn(i);
  let per = 1;
  for (let start = performance.now(); performance.now() - start < 20; per++) fn(per);
  const calls = Math.max(4, Math.round((budgetMs / 20) * per));
  const times = [];
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    for (let i = 0; i < calls; i++) fn(i);
    times.push((performance.now() - start) / calls);
  }
  return times.sort((a, b) => a - b)[rounds >> 1];
}

console.log(`# crop renderer, ${new Date().toISOString()}`);
console.log(`machine: ${cpus()[0]?.model} × ${availableParallelism()}, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const backend = rendererBackend();
console.log(`renderCrop backend: ${backend.kind}${backend.kind === 'reference' ? ` (${backend.reason})` : ''}`);
console.log(`ms per ${size}-px crop from a 500×375 image, one thread; "4/img" columns switch image every 4 crops (image copy included);`);
console.log(`"random" rows: torchvision RandomResizedCrop boxes (scale 0.08–1, ratio 3/4–4/3), flip p = 0.5\n`);
const rows = [];
for (const interpolation of ['bilinear', 'bicubic']) {
  for (const [width, height] of [[150, 120], [300, 250], [500, 375]]) {
    const crop = (i) => ({ top: (375 - height) >> 1, left: (500 - width) >> 1, height, width, flip: (i & 1) === 1 });
    const sameImage = images[0];
    const ref = measure((i) => renderCropReference(sameImage, crop(i), size, interpolation, out));
    const wasm = measure((i) => renderCrop(sameImage, crop(i), size, interpolation, out));
    const refNorm = measure((i) => {
      renderCropReference(images[(i >> 2) & 3], crop(i), size, interpolation, out);
      writeNormalized(out, size, batch, i & 3, 'nchw', imagenetNormalization);
    });
    const wasmNorm = measure((i) => renderNormalized(images[(i >> 2) & 3], crop(i), size, interpolation, batch, i & 3, 'nchw', imagenetNormalization));
    rows.push({ interpolation, box: `${width}×${height}`, ref, wasm, refNorm, wasmNorm });
  }
  // RandomResizedCrop boxes as the labeler and loader draw them (fresh box sides defeat the
  // wasm renderer's coefficient cache at first; 4096 distinct crops cycle).
  const crops = Array.from({ length: 4096 }, (_, i) => sampleCrop(500, 375, defaultSamplerOptions, i >> 2, 0, i & 3));
  const ref = measure((i) => renderCropReference(images[0], crops[i & 4095], size, interpolation, out));
  const wasm = measure((i) => renderCrop(images[0], crops[i & 4095], size, interpolation, out));
  const refNorm = measure((i) => {
    renderCropReference(images[(i >> 2) & 3], crops[i & 4095], size, interpolation, out);
    writeNormalized(out, size, batch, i & 3, 'nchw', imagenetNormalization);
  });
  const wasmNorm = measure((i) => renderNormalized(images[(i >> 2) & 3], crops[i & 4095], size, interpolation, batch, i & 3, 'nchw', imagenetNormalization));
  rows.push({ interpolation, box: 'random', ref, wasm, refNorm, wasmNorm });
}
const f = (n) => n.toFixed(3).padStart(7);
console.log('interp    box      | renderCrop: reference    wasm  speedup | render+normalise nchw, 4/img: reference    wasm  speedup');
for (const r of rows) {
  console.log(`${r.interpolation.padEnd(9)} ${r.box.padEnd(8)} |             ${f(r.ref)} ${f(r.wasm)}  ${(r.ref / r.wasm).toFixed(1).padStart(5)}× |                               ${f(r.refNorm)} ${f(r.wasmNorm)}  ${(r.refNorm / r.wasmNorm).toFixed(1).padStart(5)}×`);
}
