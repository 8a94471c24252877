/**
 * Kernel overrides for the wasm backend (tfjs 4.22.0, pinned).
 *
 * Identity: the wasm backend copies the tensor, while the cpu and webgl backends share the data
 * and bump its reference count. The engine clones every tensor a custom gradient saves for the
 * backward pass, so on wasm each training step copied every saved activation (about 4% of a mini
 * FT step). The backend keeps reference counts (its Reshape shares data the same way) and no wasm
 * kernel writes into its inputs, so sharing is safe; a test pins the override's results.
 */
import * as tf from '@tensorflow/tfjs-core';

interface RefCountingBackend {
  incRef(dataId: object): void;
}

function sharedIdentity(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const x = args.inputs['x'] as tf.TensorInfo;
  (args.backend as RefCountingBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

let originals: tf.KernelConfig[] | undefined;

/** Installs the overrides once, after the wasm backend is registered. */
export function installWasmKernels(): void {
  if (originals) return;
  const backend = tf.findBackend('wasm') as unknown as Partial<RefCountingBackend> | null;
  const identity = tf.getKernel(tf.Identity, 'wasm');
  if (typeof backend?.incRef !== 'function' || !identity) return;
  originals = [identity];
  tf.unregisterKernel(tf.Identity, 'wasm');
  tf.registerKernel({ kernelName: tf.Identity, backendName: 'wasm', kernelFunc: sharedIdentity as unknown as tf.KernelFunc });
}

/** Puts the backend's own kernels back (tests and benchmarks compare the two). */
export function uninstallWasmKernels(): void {
  if (!originals) return;
  for (const k of originals) {
    tf.unregisterKernel(k.kernelName, k.backendName);
    tf.registerKernel(k);
  }
  originals = undefined;
}
