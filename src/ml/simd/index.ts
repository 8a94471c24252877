/**
 * Hand-written wasm SIMD kernels (kernels.wat) that run on the tfjs wasm backend's own memory,
 * for the elementwise math that the backend runs as scalar loops. Available only on the wasm
 * backend with SIMD; callers fall back to tf ops otherwise.
 */
import * as tf from '@tensorflow/tfjs-core';
import { KERNELS_WASM_BASE64 } from './kernels.generated.js';

// The WebAssembly global, typed here: this project's TypeScript libs (no DOM) do not declare it.
interface WebAssemblyApi {
  Memory: abstract new (...args: never[]) => object;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

interface WasmBackendInternals {
  wasm: { asm: { memory: object } };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

interface Exports {
  gelu(x: number, y: number, d: number, n: number): void;
}

export interface SimdKernels {
  /** GELU(x) (exact-erf form to float32 precision) and, if asked, its slope Φ(x) + x·φ(x). */
  gelu(x: tf.Tensor, withSlope: boolean): { y: tf.Tensor; slope?: tf.Tensor };
}

let cached: { backend: object; kernels: SimdKernels | undefined } | undefined;

/** The kernels bound to the active wasm backend, or undefined (another backend, or no SIMD). */
export function simdKernels(): SimdKernels | undefined {
  if (tf.getBackend() !== 'wasm' || !tf.env().getBool('WASM_HAS_SIMD_SUPPORT')) return undefined;
  const backend = tf.backend() as unknown as Partial<WasmBackendInternals>;
  if (cached?.backend !== backend) cached = { backend, kernels: bind(backend) };
  return cached.kernels;
}

function bind(backend: Partial<WasmBackendInternals>): SimdKernels | undefined {
  const memory = backend.wasm?.asm?.memory;
  const { dataIdMap, makeOutput } = backend;
  if (!(memory instanceof wasmApi.Memory) || !dataIdMap || typeof makeOutput !== 'function') return undefined;
  const module = new wasmApi.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
  const exports = new wasmApi.Instance(module, { env: { memory } }).exports as unknown as Exports;
  const engine = tf.engine() as unknown as { makeTensorFromTensorInfo(info: tf.TensorInfo): tf.Tensor };
  const offset = (t: tf.TensorInfo): number => {
    const info = dataIdMap.get(t.dataId);
    if (!info) throw new Error('simd kernels: tensor is not on the wasm backend');
    return info.memoryOffset;
  };
  return {
    gelu(x, withSlope) {
      const y = makeOutput.call(backend, [...x.shape], 'float32');
      const d = withSlope ? makeOutput.call(backend, [...x.shape], 'float32') : undefined;
      exports.gelu(offset(x), offset(y), d ? offset(d) : 0, x.size);
      const out = engine.makeTensorFromTensorInfo(y);
      return d ? { y: out, slope: engine.makeTensorFromTensorInfo(d) } : { y: out };
    },
  };
}
