// Builds everything under fixtures/ (run with `npm run fixtures`), then checks it.
//
// Why synthetic: tests need a real ImageFolder and real teachers in both engines, but the
// repository must stay small, free of licensed data, and rebuildable without Python or a
// network. Every random number comes from a seeded PRNG, so each run writes the same bytes
// (given the same sharp/libjpeg build), and `git status` stays clean after a rebuild.
//
// The teacher is hand-designed rather than trained: its first layer holds colour-opponent
// detectors, so it separates the colour-coded classes, while a few edge detectors and
// distractor blobs in the images make its logits move from crop to crop. That is what a
// label generator must exercise: soft, crop-dependent outputs, not one-hots.
//
// Usage: node scripts/make-fixtures.js [--no-check]

import { mkdirSync, readFileSync, rmSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { OnnxGraph, conv, gaussian, gemm, mulberry32 } from './lib/onnx-graph.js';

const fixturesDirectory = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const imagesDirectory = join(fixturesDirectory, 'images');
const teacherDirectory = join(fixturesDirectory, 'teacher');

// Folder names sort into class indices 0..3, which is how an ImageFolder scan numbers them.
const CLASSES = [
  { name: 'class-a-red', rgb: [200, 45, 40] },
  { name: 'class-b-green', rgb: [50, 170, 60] },
  { name: 'class-c-blue', rgb: [40, 70, 200] },
  { name: 'class-d-yellow', rgb: [215, 200, 45] },
];
const IMAGES_PER_CLASS = 6;
const INPUT_SIZE = 64;
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
// Picked by looking at the check's output: max softmax mostly 0.5-0.95 on whole images.
const LOGIT_SCALE = 9;

// ---------------------------------------------------------------------------------------
// Images

// Smooth waves plus mild grain: enough texture that crops differ, little enough that 24
// JPEGs stay well under the repository budget.
function paintImage(random, classIndex) {
  let width;
  let height;
  do {
    width = 96 + Math.floor(random() * 225);
    height = 96 + Math.floor(random() * 225);
  } while (Math.abs(width - height) < 24);

  const base = CLASSES[classIndex].rgb.map((v) => v + (random() - 0.5) * 40);
  const waves = Array.from({ length: 3 }, () => {
    const angle = random() * Math.PI;
    const frequency = (0.5 + random() * 3.5) / 100; // cycles per pixel
    return {
      dx: Math.cos(angle) * frequency * 2 * Math.PI,
      dy: Math.sin(angle) * frequency * 2 * Math.PI,
      phase: random() * 2 * Math.PI,
      amplitude: 0.06 + random() * 0.1,
    };
  });
  // Blobs of another class's colour (or grey) so some crops are genuinely ambiguous.
  const blobs = Array.from({ length: 1 + Math.floor(random() * 3) }, () => {
    const other = Math.floor(random() * (CLASSES.length + 1));
    const rgb =
      other === CLASSES.length || other === classIndex ? [128, 128, 128] : CLASSES[other].rgb;
    const radius = (0.12 + random() * 0.18) * Math.min(width, height);
    return { cx: random() * width, cy: random() * height, rx: radius * (0.6 + random() * 0.8), ry: radius, rgb };
  });

  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let shade = 1;
      for (const w of waves) shade += w.amplitude * Math.sin(w.dx * x + w.dy * y + w.phase);
      let colour = base;
      for (const b of blobs) {
        if (((x - b.cx) / b.rx) ** 2 + ((y - b.cy) / b.ry) ** 2 < 1) colour = b.rgb;
      }
      const offset = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const grain = (random() - 0.5) * 16;
        data[offset + c] = Math.max(0, Math.min(255, Math.round(colour[c] * shade + grain)));
      }
    }
  }
  return { width, height, data };
}

async function writeImages() {
  const random = mulberry32(1001);
  const written = [];
  for (const [classIndex, { name }] of CLASSES.entries()) {
    mkdirSync(join(imagesDirectory, name), { recursive: true });
    for (let i = 0; i < IMAGES_PER_CLASS; i++) {
      const { width, height, data } = paintImage(random, classIndex);
      const path = join(imagesDirectory, name, `img-${i}.jpg`);
      await sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 80 }).toFile(path);
      written.push({ path, classIndex });
    }
  }
  return written;
}

// ---------------------------------------------------------------------------------------
// Teacher weights, in ONNX/PyTorch layout: conv [out, in, kH, kW], fc [out, in].

// Colour-opponent detectors, written for RGB in [0, 1]: each fires on one class colour and
// stays near zero on the other three (checked against the CLASSES colours above).
const COLOUR_DETECTORS = [
  { weights: [1, -1, -0.3], bias: -0.1 },
  { weights: [-0.8, 1, -0.6], bias: -0.05 },
  { weights: [-0.5, -0.5, 1], bias: -0.05 },
  { weights: [0.5, 0.5, -1.2], bias: -0.2 },
];
const detectorResponse = ({ weights, bias }, rgb) => weights.reduce((sum, w, c) => sum + (w * rgb[c]) / 255, bias);
const BLUR_3X3 = [0.05, 0.1, 0.05, 0.1, 0.4, 0.1, 0.05, 0.1, 0.05];

function teacherWeights(numClasses) {
  const random = mulberry32(2002);
  const conv1 = { weight: new Float32Array(8 * 3 * 9), bias: new Float32Array(8) };
  for (let out = 0; out < 8; out++) {
    // Channels 4..7 are zero-mean edge detectors on a random colour mix: they respond to
    // texture, which is what makes two crops of one image disagree a little.
    const edge = Array.from({ length: 9 }, () => gaussian(random));
    const edgeMean = edge.reduce((a, b) => a + b, 0) / 9;
    const mix = [random(), random(), random()];
    // Equal gain on each detector's own colour, so no class dominates the logits.
    const gain = out < 4 ? 0.4 / detectorResponse(COLOUR_DETECTORS[out], CLASSES[out].rgb) : 1;
    let bias = out < 4 ? gain * COLOUR_DETECTORS[out].bias : 0.02;
    for (let c = 0; c < 3; c++) {
      for (let t = 0; t < 9; t++) {
        const raw =
          out < 4
            ? gain * COLOUR_DETECTORS[out].weights[c] * BLUR_3X3[t] * (1 + 0.2 * gaussian(random))
            : 1.5 * mix[c] * (edge[t] - edgeMean);
        // The net sees (x - mean) / std, so fold the normalisation into the first layer:
        // w·x01 = (w·std)·xn + w·mean.
        conv1.weight[((out * 3 + c) * 3 + Math.floor(t / 3)) * 3 + (t % 3)] = raw * STD[c];
        bias += raw * MEAN[c];
      }
    }
    conv1.bias[out] = bias;
  }

  // Mostly a per-channel blur (stride 2 halves the map), with a little cross-talk.
  const conv2 = { weight: new Float32Array(8 * 8 * 9), bias: new Float32Array(8) };
  for (let out = 0; out < 8; out++) {
    for (let c = 0; c < 8; c++) {
      for (let t = 0; t < 9; t++) {
        const own = out === c ? BLUR_3X3[t] : 0;
        conv2.weight[(out * 8 + c) * 9 + t] = own + 0.03 * gaussian(random);
      }
    }
  }

  const fc = { weight: new Float32Array(numClasses * 8), bias: new Float32Array(numClasses) };
  for (let cls = 0; cls < numClasses; cls++) {
    for (let feature = 0; feature < 8; feature++) {
      let w;
      if (cls >= 4) w = 0.5 * gaussian(random); // the extra outputs of wrong-classes.onnx
      else if (feature < 4) w = feature === cls ? 1 : -0.3;
      else w = 0.2 * gaussian(random);
      fc.weight[cls * 8 + feature] = LOGIT_SCALE * w;
    }
    fc.bias[cls] = cls >= 4 ? -1 : 0;
  }
  return { conv1, conv2, fc };
}

// ---------------------------------------------------------------------------------------
// ONNX teachers

// conv2 pads only bottom/right: that is TF's SAME for stride 2 on an even input, so the
// ONNX and TF.js teachers compute exactly the same function.
function buildOnnxTeacher(weights, { layout, batch }) {
  const numClasses = weights.fc.bias.length;
  const graph = new OnnxGraph('tiny-teacher');
  let x;
  if (layout === 'nhwc') {
    x = graph.input('input', [batch, INPUT_SIZE, INPUT_SIZE, 3]);
    x = graph.node('Transpose', [x], { perm: [0, 3, 1, 2] });
  } else {
    x = graph.input('input', [batch, 3, INPUT_SIZE, INPUT_SIZE]);
  }
  x = conv(graph, 'conv1', x, weights.conv1.weight, weights.conv1.bias, { kernel: 3, channels: [8, 3] });
  x = graph.node('Relu', [x]);
  x = conv(graph, 'conv2', x, weights.conv2.weight, weights.conv2.bias, {
    kernel: 3,
    stride: 2,
    pads: [0, 0, 1, 1],
    channels: [8, 8],
  });
  x = graph.node('Relu', [x]);
  x = graph.node('Flatten', [graph.node('GlobalAveragePool', [x])], { axis: 1 });
  gemm(graph, 'fc', x, weights.fc.weight, weights.fc.bias, [8, numClasses], 'logits');
  graph.output('logits', [batch, numClasses]);
  return graph.toBytes();
}

// A teacher over more classes than the folders, in another order: folder c is output
// SUPERSET_PLACES[c] of SUPERSET_OUTPUTS, the other outputs are distractors. teacherWeights
// draws the four folder rows of fc first, whatever the class count, so those outputs are
// exactly tiny.onnx's logits, and `fkd label --class-map` on it must store tiny.onnx's labels.
const SUPERSET_OUTPUTS = 10;
const SUPERSET_PLACES = [7, 2, 9, 4];

function supersetWeights() {
  const weights = teacherWeights(SUPERSET_OUTPUTS);
  const order = [...SUPERSET_PLACES];
  // The distractor rows (4..9) go to the outputs no folder takes, in order.
  for (let output = 0, extra = 4; output < SUPERSET_OUTPUTS; output++) if (!SUPERSET_PLACES.includes(output)) order[extra++] = output;
  const fc = { weight: new Float32Array(SUPERSET_OUTPUTS * 8), bias: new Float32Array(SUPERSET_OUTPUTS) };
  order.forEach((output, row) => {
    fc.weight.set(weights.fc.weight.subarray(row * 8, row * 8 + 8), output * 8);
    fc.bias[output] = weights.fc.bias[row];
  });
  return { ...weights, fc };
}

// ---------------------------------------------------------------------------------------
// TF.js teachers (NHWC). Kernels move from ONNX [out, in, kH, kW] to TF [kH, kW, in, out].

function toTfKernel(weight, outChannels, inChannels) {
  const kernel = new Float32Array(weight.length);
  for (let o = 0; o < outChannels; o++)
    for (let i = 0; i < inChannels; i++)
      for (let t = 0; t < 9; t++) kernel[(t * inChannels + i) * outChannels + o] = weight[(o * inChannels + i) * 9 + t];
  return kernel;
}

function toTfDense(weight, inFeatures, outFeatures) {
  const kernel = new Float32Array(weight.length);
  for (let o = 0; o < outFeatures; o++) for (let i = 0; i < inFeatures; i++) kernel[i * outFeatures + o] = weight[o * inFeatures + i];
  return kernel;
}

function tfWeights(weights) {
  return [
    { name: 'conv1/kernel', shape: [3, 3, 3, 8], data: toTfKernel(weights.conv1.weight, 8, 3) },
    { name: 'conv1/bias', shape: [8], data: weights.conv1.bias },
    { name: 'conv2/kernel', shape: [3, 3, 8, 8], data: toTfKernel(weights.conv2.weight, 8, 8) },
    { name: 'conv2/bias', shape: [8], data: weights.conv2.bias },
    { name: 'fc/kernel', shape: [8, 4], data: toTfDense(weights.fc.weight, 8, 4) },
    { name: 'fc/bias', shape: [4], data: weights.fc.bias },
  ];
}

// Loaded lazily: TF.js is slow to import and only this step needs it.
async function loadTfjs() {
  const tf = await import('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  await tf.ready();
  return tf;
}

// The file:// save handler needs tfjs-node (not installable here), so serialise ourselves.
async function writeTfjsLayers(tf, weights) {
  const directory = join(teacherDirectory, 'tfjs-layers');
  mkdirSync(directory, { recursive: true });
  // Explicit names: TF.js numbers unnamed layers with a process-wide counter.
  const model = tf.sequential({
    name: 'tiny_teacher',
    layers: [
      tf.layers.conv2d({ name: 'conv1', inputShape: [INPUT_SIZE, INPUT_SIZE, 3], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.conv2d({ name: 'conv2', filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }),
      tf.layers.globalAveragePooling2d({ name: 'pool' }),
      tf.layers.dense({ name: 'logits', units: 4 }),
    ],
  });
  model.setWeights(tfWeights(weights).map(({ shape, data }) => tf.tensor(data, shape)));
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = tf.io.concatenateArrayBuffers(artifacts.weightData);
      writeFileSync(join(directory, 'group1-shard1of1.bin'), new Uint8Array(weightData));
      const modelJson = {
        format: 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: artifacts.weightSpecs }],
      };
      writeFileSync(join(directory, 'model.json'), `${JSON.stringify(modelJson, null, 1)}\n`);
      return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
    }),
  );
  model.dispose();
}

// A GraphDef in the JSON form tfjs-converter emits. Attribute strings are base64 and
// int64 lists are decimal strings, exactly as protobuf's JSON mapping writes them.
function writeTfjsGraph(weights) {
  const directory = join(teacherDirectory, 'tfjs-graph');
  mkdirSync(directory, { recursive: true });
  const text = (value) => ({ s: Buffer.from(value).toString('base64') });
  const ints = (values) => ({ list: { i: values.map(String) } });
  const float = { type: 'DT_FLOAT' };
  const shape = (dims) => ({ dim: dims.map((d) => ({ size: String(d) })) });
  const constant = (name, dtype, dims) => ({
    name,
    op: 'Const',
    attr: { dtype: { type: dtype }, value: { tensor: { dtype, tensorShape: shape(dims) } } },
  });
  const conv2d = (name, input, stride) => [
    {
      name: `${name}/Conv2D`,
      op: 'Conv2D',
      input: [input, `${name}/kernel`],
      attr: { T: float, strides: ints([1, stride, stride, 1]), padding: text('SAME'), data_format: text('NHWC'), dilations: ints([1, 1, 1, 1]) },
    },
    { name: `${name}/BiasAdd`, op: 'BiasAdd', input: [`${name}/Conv2D`, `${name}/bias`], attr: { T: float, data_format: text('NHWC') } },
  ];

  const tensors = tfWeights(weights);
  const node = [
    { name: 'input', op: 'Placeholder', attr: { dtype: float, shape: { shape: shape([-1, INPUT_SIZE, INPUT_SIZE, 3]) } } },
    ...tensors.map(({ name, shape: dims }) => constant(name, 'DT_FLOAT', dims)),
    constant('pool/axes', 'DT_INT32', [2]),
    ...conv2d('conv1', 'input', 1),
    { name: 'conv1/Relu', op: 'Relu', input: ['conv1/BiasAdd'], attr: { T: float } },
    ...conv2d('conv2', 'conv1/Relu', 2),
    { name: 'conv2/Relu', op: 'Relu', input: ['conv2/BiasAdd'], attr: { T: float } },
    { name: 'pool/Mean', op: 'Mean', input: ['conv2/Relu', 'pool/axes'], attr: { T: float, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } } },
    { name: 'fc/MatMul', op: 'MatMul', input: ['pool/Mean', 'fc/kernel'], attr: { T: float, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: 'fc/BiasAdd', op: 'BiasAdd', input: ['fc/MatMul', 'fc/bias'], attr: { T: float, data_format: text('NHWC') } },
    { name: 'logits', op: 'Identity', input: ['fc/BiasAdd'], attr: { T: float } },
  ];

  const specs = [
    ...tensors.map(({ name, shape: dims }) => ({ name, shape: dims, dtype: 'float32' })),
    { name: 'pool/axes', shape: [2], dtype: 'int32' },
  ];
  const buffers = [
    ...tensors.map(({ data }) => Buffer.from(Float32Array.from(data).buffer)),
    Buffer.from(Int32Array.from([1, 2]).buffer),
  ];
  writeFileSync(join(directory, 'group1-shard1of1.bin'), Buffer.concat(buffers));
  const modelJson = {
    format: 'graph-model',
    generatedBy: 'fkd scripts/make-fixtures.js',
    convertedBy: null,
    modelTopology: { node, library: {}, versions: { producer: 1 } },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: specs }],
  };
  writeFileSync(join(directory, 'model.json'), `${JSON.stringify(modelJson, null, 1)}\n`);
}

// ---------------------------------------------------------------------------------------
// Checks: the fixtures are only useful if the teachers load and behave as documented.

/** Reads a TF.js model.json and its shards into ModelArtifacts without tfjs-node. */
function fileHandler(tf, modelPath) {
  return {
    load: async () => {
      const json = JSON.parse(readFileSync(modelPath, 'utf8'));
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights);
        const shards = manifest.flatMap((group) => group.paths.map((p) => readFileSync(join(dirname(modelPath), p))));
        // Copy into a fresh ArrayBuffer: a Node Buffer may be a view into a larger pool.
        const joined = Buffer.concat(shards);
        return [specs, joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength)];
      });
    },
  };
}

async function pixels(path, box = undefined) {
  let pipeline = sharp(path);
  if (box) pipeline = pipeline.extract(box);
  const { data } = await pipeline
    .resize(INPUT_SIZE, INPUT_SIZE, { fit: 'cover' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return data;
}

function normalise(hwc, layout) {
  const plane = INPUT_SIZE * INPUT_SIZE;
  const out = new Float32Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const value = (hwc[p * 3 + c] / 255 - MEAN[c]) / STD[c];
      out[layout === 'nchw' ? c * plane + p : p * 3 + c] = value;
    }
  }
  return out;
}

const argmax = (row) => row.indexOf(Math.max(...row));
const softmax = (row) => {
  const max = Math.max(...row);
  const exps = row.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / sum);
};
const rows = (data, width) => Array.from({ length: data.length / width }, (_, i) => Array.from(data.subarray(i * width, (i + 1) * width)));

async function check(images) {
  const ort = await import('onnxruntime-node');
  const count = images.length;
  const plane = 3 * INPUT_SIZE * INPUT_SIZE;
  const nchw = new Float32Array(count * plane);
  const nhwc = new Float32Array(count * plane);
  for (const [i, { path }] of images.entries()) {
    const hwc = await pixels(path);
    nchw.set(normalise(hwc, 'nchw'), i * plane);
    nhwc.set(normalise(hwc, 'nhwc'), i * plane);
  }

  const session = await ort.InferenceSession.create(join(teacherDirectory, 'tiny.onnx'));
  const logits = rows((await session.run({ input: new ort.Tensor('float32', nchw, [count, 3, INPUT_SIZE, INPUT_SIZE]) })).logits.data, 4);
  const top1 = logits.map(argmax);
  const agree = top1.filter((cls, i) => cls === images[i].classIndex).length;
  console.log(`tiny.onnx: top-1 matches folder on ${agree}/${count} whole images (centre 64 px)`);
  for (const i of [0, 7, 14, 21]) {
    const p = softmax(logits[i]).map((v) => v.toFixed(3)).join(' ');
    console.log(`  ${relative(fixturesDirectory, images[i].path)}: p = [${p}]`);
  }

  // Crops of one image should give different, unsaturated outputs.
  const random = mulberry32(3003);
  let cropAgree = 0;
  let cropCount = 0;
  let spread = 0;
  const cropsPerImage = 8;
  for (const { path, classIndex } of images) {
    const { width, height } = await sharp(path).metadata();
    const batch = new Float32Array(cropsPerImage * plane);
    for (let k = 0; k < cropsPerImage; k++) {
      const side = Math.round(Math.min(width, height) * (0.3 + 0.6 * random()));
      const box = { left: Math.floor(random() * (width - side)), top: Math.floor(random() * (height - side)), width: side, height: side };
      batch.set(normalise(await pixels(path, box), 'nchw'), k * plane);
    }
    const out = rows((await session.run({ input: new ort.Tensor('float32', batch, [cropsPerImage, 3, INPUT_SIZE, INPUT_SIZE]) })).logits.data, 4);
    const probabilities = out.map(softmax);
    cropAgree += out.filter((row) => argmax(row) === classIndex).length;
    cropCount += out.length;
    const ownClass = probabilities.map((p) => p[classIndex]);
    const mean = ownClass.reduce((a, b) => a + b, 0) / ownClass.length;
    spread += Math.sqrt(ownClass.reduce((a, b) => a + (b - mean) ** 2, 0) / ownClass.length);
  }
  console.log(`  random crops: top-1 matches folder on ${cropAgree}/${cropCount}; mean std of p(folder class) across crops of one image = ${(spread / count).toFixed(3)}`);
  await session.release();

  const fixed = await ort.InferenceSession.create(join(teacherDirectory, 'tiny-nhwc-fixed.onnx'));
  const fixedLogits = rows((await fixed.run({ input: new ort.Tensor('float32', nhwc.slice(0, 8 * plane), [8, INPUT_SIZE, INPUT_SIZE, 3]) })).logits.data, 4);
  const fixedDiff = Math.max(...fixedLogits.flatMap((row, i) => row.map((v, j) => Math.abs(v - logits[i][j]))));
  console.log(`tiny-nhwc-fixed.onnx: inputs ${fixed.inputNames}, max |Δlogit| vs tiny.onnx = ${fixedDiff.toExponential(1)}`);
  await fixed.release();

  const wrong = await ort.InferenceSession.create(join(teacherDirectory, 'wrong-classes.onnx'));
  const wrongOut = (await wrong.run({ input: new ort.Tensor('float32', nchw.slice(0, plane), [1, 3, INPUT_SIZE, INPUT_SIZE]) })).logits;
  // Its first four outputs are tiny.onnx's: only the class count differs.
  const wrongDiff = Math.max(...logits[0].map((v, j) => Math.abs(v - wrongOut.data[j])));
  console.log(`wrong-classes.onnx: output dims ${wrongOut.dims.join('x')}, first 4 logits max |Δ| vs tiny.onnx = ${wrongDiff.toExponential(1)}`);
  await wrong.release();

  const superset = await ort.InferenceSession.create(join(teacherDirectory, 'superset.onnx'));
  const supersetOut = (await superset.run({ input: new ort.Tensor('float32', nchw.slice(0, plane), [1, 3, INPUT_SIZE, INPUT_SIZE]) })).logits;
  const supersetDiff = Math.max(...logits[0].map((v, j) => Math.abs(v - supersetOut.data[SUPERSET_PLACES[j]])));
  console.log(`superset.onnx: output dims ${supersetOut.dims.join('x')}, mapped logits max |Δ| vs tiny.onnx = ${supersetDiff.toExponential(1)}`);
  await superset.release();
  if (supersetDiff > 1e-5) throw new Error('superset.onnx does not hold tiny.onnx at its mapped outputs');

  const tf = await loadTfjs();
  const input = tf.tensor4d(nhwc, [count, INPUT_SIZE, INPUT_SIZE, 3]);
  for (const [name, load] of [
    ['tfjs-layers', (handler) => tf.loadLayersModel(handler)],
    ['tfjs-graph', (handler) => tf.loadGraphModel(handler)],
  ]) {
    const model = await load(fileHandler(tf, join(teacherDirectory, name, 'model.json')));
    const output = model.predict(input);
    const tfLogits = rows(await output.data(), 4);
    const same = tfLogits.filter((row, i) => argmax(row) === top1[i]).length;
    const diff = Math.max(...tfLogits.flatMap((row, i) => row.map((v, j) => Math.abs(v - logits[i][j]))));
    console.log(`${name}: output ${output.shape.join('x')}, top-1 equals tiny.onnx on ${same}/${count}, max |Δlogit| = ${diff.toExponential(1)}`);
    output.dispose();
    model.dispose();
    if (same !== count) throw new Error(`${name} disagrees with tiny.onnx`);
  }
  input.dispose();
  if (agree < count * 0.75) throw new Error(`tiny.onnx agrees with the folders on only ${agree}/${count} images`);
}

// ---------------------------------------------------------------------------------------

function directorySize(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((total, entry) => total + directorySize(join(path, entry)), 0);
}

// Start clean so a renamed or removed fixture cannot linger.
rmSync(imagesDirectory, { recursive: true, force: true });
rmSync(teacherDirectory, { recursive: true, force: true });
mkdirSync(teacherDirectory, { recursive: true });

const images = await writeImages();
const weights = teacherWeights(4);
writeFileSync(join(teacherDirectory, 'tiny.onnx'), buildOnnxTeacher(weights, { layout: 'nchw', batch: 'batch' }));
writeFileSync(join(teacherDirectory, 'tiny-nhwc-fixed.onnx'), buildOnnxTeacher(weights, { layout: 'nhwc', batch: 8 }));
writeFileSync(join(teacherDirectory, 'wrong-classes.onnx'), buildOnnxTeacher(teacherWeights(7), { layout: 'nchw', batch: 'batch' }));
writeFileSync(join(teacherDirectory, 'superset.onnx'), buildOnnxTeacher(supersetWeights(), { layout: 'nchw', batch: 'batch' }));
writeFileSync(join(teacherDirectory, 'superset-class-map.json'), `${JSON.stringify(Object.fromEntries(CLASSES.map((c, i) => [c.name, SUPERSET_PLACES[i]])), null, 2)}\n`);
const tf = await loadTfjs();
await writeTfjsLayers(tf, weights);
writeTfjsGraph(weights);
const imageBytes = directorySize(imagesDirectory);
console.log(`images: ${images.length} files, ${(imageBytes / 1024).toFixed(1)} KiB; teacher: ${(directorySize(teacherDirectory) / 1024).toFixed(1)} KiB`);
// The fixtures ship in the npm package and in every clone; keep them small on purpose.
if (imageBytes > 300 * 1024) throw new Error(`fixtures/images is ${imageBytes} bytes, over the 300 KiB budget`);

if (!process.argv.includes('--no-check')) await check(images);
