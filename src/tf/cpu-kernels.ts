import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { Tf } from './types.js';

const KERNEL = 'Conv2DBackpropFilter';
const BACKEND = 'cpu';
/** Marks kernel functions installed here, so registering twice never wraps our own kernel. */
const FAST = Symbol('fkd.fastCpuKernel');

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];

interface BackpropFilterAttrs {
  strides: [number, number] | number;
  pad: Pad;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

interface CpuBackendLike {
  disposeIntermediateTensorInfo(info: TensorInfo): void;
}

type KernelArgs = Parameters<KernelFunc>[0];

/**
 * Replaces the pure-JS cpu backend's `Conv2DBackpropFilter` (a naive, cache-hostile loop that
 * dominates student training time) with one forward `Conv2D` over transposed tensors:
 *
 *   dW[fh, fw, ci, co] = Σ_{b, oh, ow} x[b, oh·s + fh − top, ow·s + fw − left, ci] · dy[b, oh, ow, co]
 *
 * which is a conv of xᵀ = x[ci, h, w, b] (batch ci, channels b) with the filter dyᵀ = dy[oh, ow, b, co]
 * at stride 1 and dilation s. The kernel has no dilations attribute (tfjs refuses gradients of
 * dilated convs before reaching it). Cases not handled here (NCHW, non-float32, a dy whose size
 * disagrees with the recomputed output size) fall back to the original kernel function.
 * Idempotent; returns a function that restores the original kernel.
 *
 * @example
 * const restore = registerFastCpuKernels(tf);
 */
export function registerFastCpuKernels(tf: Tf): () => void {
  const current = tf.getKernel(KERNEL, BACKEND);
  if (!current) return () => {};
  const installed = current.kernelFunc as KernelFunc & { [FAST]?: KernelFunc };
  const original = installed[FAST] ?? current.kernelFunc;
  if (!installed[FAST]) {
    const fast = makeFastBackpropFilter(tf, original) as KernelFunc & { [FAST]?: KernelFunc };
    fast[FAST] = original;
    replaceKernel(tf, { ...current, kernelFunc: fast });
  }
  return () => {
    const now = tf.getKernel(KERNEL, BACKEND);
    if (now && (now.kernelFunc as { [FAST]?: KernelFunc })[FAST]) {
      replaceKernel(tf, { ...now, kernelFunc: original });
    }
  };
}

function replaceKernel(tf: Tf, config: KernelConfig): void {
  tf.unregisterKernel(KERNEL, BACKEND);
  tf.registerKernel(config);
}

function makeFastBackpropFilter(tf: Tf, original: KernelFunc): KernelFunc {
  const kernel = (name: string): KernelFunc => {
    const config = tf.getKernel(name, BACKEND);
    if (!config) throw new Error(`fkd: cpu backend has no ${name} kernel`);
    return config.kernelFunc;
  };
  return (args: KernelArgs) => {
    const { inputs, backend } = args;
    const attrs = args.attrs as unknown as BackpropFilterAttrs;
    const x = inputs['x'];
    const dy = inputs['dy'];
    if (!x || !dy || attrs.dataFormat !== 'NHWC' || x.dtype !== 'float32' || dy.dtype !== 'float32') {
      return original(args);
    }
    const { filterShape } = attrs;
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const { padInfo, strideHeight, strideWidth, filterHeight, filterWidth, inHeight, inWidth, outHeight, outWidth } =
      info;
    // tfjs's conv2d gradient drops dimRoundingMode, so with 'ceil'/'round' dy can be larger than
    // the out size recomputed here; the original kernel then ignores dy's extra rows. Keep its
    // exact behaviour by deferring to it.
    if (outHeight <= 0 || outWidth <= 0 || dy.shape[1] !== outHeight || dy.shape[2] !== outWidth) {
      return original(args);
    }
    // Pad the bottom/right only as far as the last tap needs; a smaller padInfo.bottom/right just
    // means the conv yields extra rows/columns past the filter size, which are sliced off below.
    const bottom = Math.max(0, filterHeight + strideHeight * (outHeight - 1) - inHeight - padInfo.top);
    const right = Math.max(0, filterWidth + strideWidth * (outWidth - 1) - inWidth - padInfo.left);

    const cpu = backend as unknown as CpuBackendLike;
    const transpose = kernel('Transpose');
    const intermediates: TensorInfo[] = [];
    const run = (func: KernelFunc, inputs: KernelArgs['inputs'], kernelAttrs: object): TensorInfo => {
      const out = func({ inputs, backend, attrs: kernelAttrs as NonNullable<KernelArgs['attrs']> }) as TensorInfo;
      intermediates.push(out);
      return out;
    };
    try {
      const xT = run(transpose, { x }, { perm: [3, 1, 2, 0] }); // [ci, h, w, b]
      const dyT = run(transpose, { x: dy }, { perm: [1, 2, 0, 3] }); // [oh, ow, b, co]
      let conv = run(
        kernel('Conv2D'),
        { x: xT, filter: dyT },
        {
          strides: 1,
          pad: [
            [0, 0],
            [padInfo.top, bottom],
            [padInfo.left, right],
            [0, 0],
          ],
          dataFormat: 'NHWC',
          dilations: [strideHeight, strideWidth],
        },
      ); // [ci, ≥fh, ≥fw, co]
      if (conv.shape[1] !== filterHeight || conv.shape[2] !== filterWidth) {
        conv = run(kernel('Slice'), { x: conv }, {
          begin: [0, 0, 0, 0],
          size: [filterShape[2], filterHeight, filterWidth, filterShape[3]],
        });
      }
      const dW = transpose({ inputs: { x: conv }, backend, attrs: { perm: [1, 2, 0, 3] } }) as TensorInfo;
      return dW;
    } finally {
      for (const info of intermediates) cpu.disposeIntermediateTensorInfo(info);
    }
  };
}
