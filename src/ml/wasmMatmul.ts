/**
 * Batched matMul on the wasm backend's fast path.
 *
 * tfjs-backend-wasm hands a matMul to XNNPACK only when it is [1, M, K] x [1, K, N] and
 * untransposed; a batched or transposed one runs in a scalar C++ loop (~1 GFLOP/s). Attention is
 * all batched matMuls, so here each batch slice is run through the fast path by registering a
 * temporary tensor id over the slice's bytes in the existing buffers (no copy), calling the
 * backend's own BatchMatMul export, and disposing the ids (which also drops the XNNPACK operator
 * cached for them). This uses the backend's internals (dataIdMap, register_tensor, dispose_data),
 * so @tensorflow/* is pinned to 4.22.0 and a test pins the result to `tf.matMul`.
 *
 * On any other backend `bmm` is plain `tf.matMul` with explicit transposes.
 */
import * as tf from '@tensorflow/tfjs-core';

interface WasmInternals {
  wasm: {
    cwrap(name: string, ret: null, args: string[]): (...a: unknown[]) => void;
    tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void };
  };
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number } | undefined };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

interface EngineInternals {
  makeTensorFromTensorInfo(info: tf.TensorInfo): tf.Tensor;
}

let cached: { backend: WasmInternals; call: (...a: unknown[]) => void } | undefined;

function wasmInternals(): { backend: WasmInternals; call: (...a: unknown[]) => void } | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const backend = tf.backend() as unknown as WasmInternals;
  if (cached?.backend === backend) return cached;
  if (typeof backend.wasm?.cwrap !== 'function' || typeof backend.makeOutput !== 'function' || typeof backend.dataIdNextNumber !== 'number') return undefined;
  const call = backend.wasm.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']);
  cached = { backend, call };
  return cached;
}

const shapeBytes = (s: readonly number[]): Uint8Array => new Uint8Array(new Int32Array(s).buffer);

/** [n, m, k] x [n, k, p] -> [n, m, p], slice by slice on XNNPACK (wasm) — no gradient. */
function sliceMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const w = wasmInternals();
  if (!w) return tf.matMul(a, b);
  const [n, m, k] = a.shape;
  const p = b.shape[2];
  const be = w.backend;
  const aInfo = be.dataIdMap.get(a.dataId);
  const bInfo = be.dataIdMap.get(b.dataId);
  if (!aInfo || !bInfo) return tf.matMul(a, b);
  const out = be.makeOutput([n, m, p], 'float32');
  const outInfo = be.dataIdMap.get(out.dataId) as { id: number; memoryOffset: number };
  const sa = shapeBytes([1, m, k]);
  const sb = shapeBytes([1, k, p]);
  for (let i = 0; i < n; i++) {
    const ia = be.dataIdNextNumber++;
    const ib = be.dataIdNextNumber++;
    const io = be.dataIdNextNumber++;
    be.wasm.tfjs.registerTensor(ia, m * k, aInfo.memoryOffset + i * m * k * 4);
    be.wasm.tfjs.registerTensor(ib, k * p, bInfo.memoryOffset + i * k * p * 4);
    be.wasm.tfjs.registerTensor(io, m * p, outInfo.memoryOffset + i * m * p * 4);
    w.call(ia, sa, 3, ib, sb, 3, 0, 0, io);
    be.wasm.tfjs.disposeData(ia);
    be.wasm.tfjs.disposeData(ib);
    be.wasm.tfjs.disposeData(io);
  }
  return (tf.engine() as unknown as EngineInternals).makeTensorFromTensorInfo(out) as tf.Tensor3D;
}

const transpose12 = (t: tf.Tensor3D): tf.Tensor3D => tf.transpose(t, [0, 2, 1]);

/**
 * Batched a @ b (optionally with b transposed), differentiable; every matMul in the forward and
 * backward pass is untransposed, so the wasm backend runs each slice on XNNPACK.
 */
export function bmm(a: tf.Tensor3D, b: tf.Tensor3D, transposeB = false): tf.Tensor3D {
  const bb = transposeB ? transpose12(b) : b;
  return bmmCustom(a, bb);
}

const bmmCustom = tf.customGrad((a, b, save) => {
  const aa = a as tf.Tensor3D;
  const bb = b as tf.Tensor3D;
  (save as tf.GradSaveFunc)([aa, bb]);
  return {
    value: sliceMatMul(aa, bb),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor3D, tf.Tensor3D];
      const d = dy as tf.Tensor3D;
      return [sliceMatMul(d, transpose12(sb)), sliceMatMul(transpose12(sa), d)];
    },
  };
}) as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;

/** Whether `bmm` is using the wasm slice path right now (for benchmarks and tests). */
export const bmmUsesWasmSlices = (): boolean => wasmInternals() !== undefined;
