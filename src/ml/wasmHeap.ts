/**
 * Direct access to float32 tensors in the wasm backend's heap (tfjs 4.22.0, pinned).
 *
 * Some ops are cheaper as one JS pass over the heap than as a chain of wasm kernels: GELU with its
 * slope (the wasm Erf/Exp kernels are scalar and each op is a full pass), and writing prompts
 * into the token sequence (the wasm Slice kernel first copies its whole input out to JS). Views
 * are only valid until the next allocation (the heap may grow), so allocate first, then view.
 */
import * as tf from '@tensorflow/tfjs-core';

interface WasmBackendInternals {
  wasm: { asm: { memory: object } };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

interface EngineInternals {
  makeTensorFromTensorInfo(info: tf.TensorInfo): tf.Tensor;
}

export interface WasmHeap {
  /** A new float32 tensor with uninitialised contents. */
  alloc(shape: readonly number[]): tf.Tensor;
  /** A live view of a float32 tensor's data. */
  view(t: tf.Tensor): Float32Array;
  /** Byte offset of a tensor's data in the heap (for wasm code sharing the memory). */
  offset(t: tf.Tensor): number;
  /** The backend's WebAssembly.Memory. */
  readonly memory: object;
}

let cached: { backend: object; heap: WasmHeap } | undefined;

/** The heap of the active wasm backend, or undefined on any other backend. */
export function wasmHeap(): WasmHeap | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const backend = tf.backend() as unknown as Partial<WasmBackendInternals>;
  if (cached?.backend === backend) return cached.heap;
  const { makeOutput, typedArrayFromHeap, dataIdMap } = backend;
  const memory = backend.wasm?.asm?.memory;
  if (typeof makeOutput !== 'function' || typeof typedArrayFromHeap !== 'function' || !dataIdMap || !memory) return undefined;
  const engine = tf.engine() as unknown as EngineInternals;
  const heap: WasmHeap = {
    alloc: (shape) => engine.makeTensorFromTensorInfo(makeOutput.call(backend, [...shape], 'float32')),
    view: (t) => typedArrayFromHeap.call(backend, t),
    offset: (t) => {
      const info = dataIdMap.get(t.dataId);
      if (!info) throw new Error('wasm heap: tensor is not on the wasm backend');
      return info.memoryOffset;
    },
    memory,
  };
  cached = { backend, heap };
  return heap;
}
