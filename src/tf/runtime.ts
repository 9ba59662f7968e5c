import { createRequire } from 'node:module';
import { dirname } from 'node:path';

import { registerFastCpuKernels } from './cpu-kernels.js';
import type { Tf } from './types.js';

export interface TfRuntime {
  tf: Tf;
  /** The package that provided TF.js: `@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node` or `@tensorflow/tfjs`. */
  packageName: string;
  /** The active backend: `tensorflow` for the native packages, else `wasm` or `cpu`. */
  backend: string;
}

export type TfPurpose = 'inference' | 'training';

const loaded = new Map<TfPurpose, Promise<TfRuntime>>();

/**
 * Loads the fastest TF.js available: tfjs-node-gpu, then tfjs-node, then pure tfjs. Pure
 * tfjs uses the wasm backend for inference and the cpu backend for training, because wasm
 * has no Conv2DBackpropFilter and cannot train convolutions.
 *
 * @example
 * const { tf, backend } = await loadTf('inference');
 */
export function loadTf(purpose: TfPurpose): Promise<TfRuntime> {
  let runtime = loaded.get(purpose);
  if (!runtime) {
    runtime = pickRuntime(purpose);
    loaded.set(purpose, runtime);
  }
  return runtime;
}

async function pickRuntime(purpose: TfPurpose): Promise<TfRuntime> {
  for (const packageName of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    const tf = await importOptional(packageName);
    if (tf) {
      await tf.ready();
      return { tf, packageName, backend: tf.getBackend() };
    }
  }
  const tf = (await import('@tensorflow/tfjs')) as Tf;
  if (purpose === 'inference' && (await useWasm(tf))) {
    return { tf, packageName: '@tensorflow/tfjs', backend: 'wasm' };
  }
  await tf.setBackend('cpu');
  await tf.ready();
  // The cpu backend prints a banner about tfjs-node on first use; fkd reports the backend itself.
  (tf.backend() as { firstUse?: boolean }).firstUse = false;
  // Pure-JS cpu only: its Conv2DBackpropFilter is a naive loop that dominates training time.
  registerFastCpuKernels(tf);
  return { tf, packageName: '@tensorflow/tfjs', backend: 'cpu' };
}

async function importOptional(packageName: string): Promise<Tf | null> {
  try {
    return (await import(packageName)) as Tf;
  } catch {
    // Optional native builds are absent wherever libtensorflow could not be downloaded.
    return null;
  }
}

async function useWasm(tf: Tf): Promise<boolean> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    const distDirectory = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    wasm.setWasmPaths(`${distDirectory}/`);
    return await tf.setBackend('wasm');
  } catch {
    return false;
  }
}
