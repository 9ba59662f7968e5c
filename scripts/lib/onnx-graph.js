// A deliberately small ONNX model builder on top of onnx-proto's generated protobuf classes.
// It exists so fixture and benchmark models can be produced from Node alone: tests and CI
// must never need Python or a network download to get a teacher model.
//
// Only what fkd's fixtures need is here: float32 tensors, int/float/ints attributes, one
// graph, one opset. Everything is kept in insertion order so the same calls always encode
// to the same bytes.

import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

/**
 * Marks a number as a FLOAT attribute. Plain JS numbers cannot tell `1` from `1.0`, and
 * ONNX rejects an INT where the operator schema wants a FLOAT (e.g. Gemm's alpha).
 *
 * @example
 * graph.node('Gemm', [x, w, b], { alpha: floatAttribute(1), transB: 1 });
 */
export function floatAttribute(value) {
  return { float: value };
}

function toAttribute(name, value) {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === 'object' && value !== null && 'float' in value) {
    return { name, type: AttributeType.FLOAT, f: value.float };
  }
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? { name, type: AttributeType.INT, i: value }
      : { name, type: AttributeType.FLOAT, f: value };
  }
  if (typeof value === 'string') {
    return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  }
  if (Array.isArray(value) && value.every(Number.isInteger)) {
    return { name, type: AttributeType.INTS, ints: value };
  }
  throw new TypeError(`Expected int, float, string or int[] for attribute ${name} but received ${JSON.stringify(value)}`);
}

// A string dimension becomes a symbolic (dynamic) one, e.g. 'batch'.
function tensorType(shape) {
  return {
    tensorType: {
      elemType: FLOAT,
      shape: { dim: shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
    },
  };
}

function littleEndianBytes(typedArray) {
  // rawData must be little-endian; copying through a DataView keeps that true on any host.
  const bytes = new Uint8Array(typedArray.length * typedArray.BYTES_PER_ELEMENT);
  const view = new DataView(bytes.buffer);
  typedArray.forEach((value, index) => {
    if (typedArray instanceof BigInt64Array) view.setBigInt64(index * 8, value, true);
    else view.setFloat32(index * 4, value, true);
  });
  return bytes;
}

/**
 * Collects nodes, initializers, inputs and outputs, then encodes a ModelProto.
 *
 * @example
 * const graph = new OnnxGraph('tiny');
 * const x = graph.input('input', ['batch', 3, 64, 64]);
 * const w = graph.initializer('w', [4, 3, 1, 1], new Float32Array(12).fill(0.1));
 * const y = graph.node('Conv', [x, w], { kernel_shape: [1, 1] });
 * graph.output(graph.node('GlobalAveragePool', [y]), 'pooled', ['batch', 4, 1, 1]);
 * fs.writeFileSync('tiny.onnx', graph.toBytes());
 */
export class OnnxGraph {
  constructor(name) {
    this.name = name;
    this.nodes = [];
    this.initializers = [];
    this.inputs = [];
    this.outputs = [];
    this.counter = 0;
  }

  input(name, shape) {
    this.inputs.push({ name, type: tensorType(shape) });
    return name;
  }

  /** A float32 constant; `values.length` must equal the product of `shape`. */
  initializer(name, shape, values) {
    const expected = shape.reduce((a, b) => a * b, 1);
    if (values.length !== expected) {
      throw new RangeError(`Expected ${expected} values for initializer ${name} but received ${values.length}`);
    }
    this.initializers.push({ name, dims: shape, dataType: FLOAT, rawData: littleEndianBytes(Float32Array.from(values)) });
    return name;
  }

  /** An int64 constant, for shape-like operands such as Reshape's target shape. */
  int64Initializer(name, values) {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims: [values.length], dataType: INT64, rawData: littleEndianBytes(data) });
    return name;
  }

  /**
   * Appends a node and returns its (single) output name. Pass `outputName` to give the
   * result a stable, public name such as `logits`.
   */
  node(opType, inputs, attributes = {}, outputName = undefined) {
    this.counter += 1;
    const output = outputName ?? `${opType.toLowerCase()}_${this.counter}`;
    this.nodes.push({
      name: `${opType}_${this.counter}`,
      opType,
      input: inputs,
      output: [output],
      attribute: Object.entries(attributes).map(([key, value]) => toAttribute(key, value)),
    });
    return output;
  }

  /** Declares a graph output; `name` must be the output of some node. */
  output(name, shape) {
    this.outputs.push({ name, type: tensorType(shape) });
    return name;
  }

  /** IR version 8 with opset 13 is loadable by every onnxruntime since 1.10. */
  toBytes({ opset = 13, producer = 'fkd-fixtures' } = {}) {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: producer,
      producerVersion: '1',
      opsetImport: [{ domain: '', version: opset }],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/**
 * Convolution with bias, weights in ONNX's [out, in, kH, kW] order.
 * `pads` is [top, left, bottom, right].
 *
 * @example
 * x = conv(graph, 'stem', x, weights, bias, { kernel: 3, stride: 2, pads: [0, 0, 1, 1] });
 */
export function conv(graph, name, x, weight, bias, { kernel, stride = 1, pads, channels }) {
  const [outChannels, inChannels] = channels;
  const w = graph.initializer(`${name}.weight`, [outChannels, inChannels, kernel, kernel], weight);
  const b = graph.initializer(`${name}.bias`, [outChannels], bias);
  const half = (kernel - 1) / 2;
  return graph.node('Conv', [x, w, b], {
    kernel_shape: [kernel, kernel],
    strides: [stride, stride],
    pads: pads ?? [half, half, half, half],
  });
}

/**
 * Fully connected layer as one Gemm: y = x · Wᵀ + b with W in PyTorch's [out, in] order.
 *
 * @example
 * const logits = gemm(graph, 'fc', pooled, w, b, [512, 1000], 'logits');
 */
export function gemm(graph, name, x, weight, bias, [inFeatures, outFeatures], outputName = undefined) {
  const w = graph.initializer(`${name}.weight`, [outFeatures, inFeatures], weight);
  const b = graph.initializer(`${name}.bias`, [outFeatures], bias);
  return graph.node('Gemm', [x, w, b], { transB: 1 }, outputName);
}

/**
 * Deterministic PRNG (mulberry32). Fixtures must be byte-identical on every run, so nothing
 * may touch Math.random.
 *
 * @example
 * const random = mulberry32(42);
 * random(); // 0 <= x < 1, same sequence every run
 */
export function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples from a uniform source (Box–Muller). */
export function gaussian(random) {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
