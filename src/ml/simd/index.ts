/**
 * Hand-written wasm SIMD kernels (kernels.wat) that run on the tfjs wasm backend's own memory,
 * for the elementwise math that the backend runs as scalar loops. Available only on the wasm
 * backend with SIMD; callers fall back to tf ops otherwise.
 */
import * as tf from '@tensorflow/tfjs-core';
import { KERNELS_WASM_BASE64 } from './kernels.generated.js';
import { wasmHeap, type WasmHeap } from '../wasmHeap.js';

// The WebAssembly global, typed here: this project's TypeScript libs (no DOM) do not declare it.
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

interface Exports {
  gelu(x: number, y: number, d: number, n: number): void;
  layer_norm(x: number, scale: number, bias: number, y: number, xhat: number, rstd: number, rows: number, d: number, eps: number): void;
  layer_norm_grad(dy: number, xhat: number, rstd: number, scale: number, dx: number, dscale: number, dbias: number, rows: number, d: number): void;
  col_sum(x: number, out: number, rows: number, d: number): void;
  dropout(x: number, y: number, mask: number, n: number, seed: number, threshold: number, scale: number): void;
  softmax_grad(y: number, dy: number, dx: number, rows: number, t: number): void;
}

export interface SimdKernels {
  /** GELU(x) (exact-erf form to float32 precision) and, if asked, its slope Φ(x) + x·φ(x). */
  gelu(x: tf.Tensor, withSlope: boolean): { y: tf.Tensor; slope?: tf.Tensor };
  /** LayerNorm over rows of x [N, D] (D a multiple of 4): y, and xhat (if `keepXhat`) and rstd [N, 1] for the backward pass. */
  layerNorm(x: tf.Tensor2D, scale: tf.Tensor1D, bias: tf.Tensor1D, eps: number, keepXhat: boolean): { y: tf.Tensor2D; xhat?: tf.Tensor2D; rstd: tf.Tensor2D };
  /** LayerNorm's dx, and with `params` dscale and dbias. */
  layerNormGrad(dy: tf.Tensor2D, xhat: tf.Tensor2D, rstd: tf.Tensor2D, scale: tf.Tensor1D, params: boolean): { dx: tf.Tensor2D; dscale?: tf.Tensor1D; dbias?: tf.Tensor1D };
  /** Column sums of x [N, D] (D a multiple of 4). */
  colSum(x: tf.Tensor2D): tf.Tensor1D;
  /** y = x·mask with the mask of `dropoutMask(x.size, rate, seed)` drawn in wasm; the mask is returned too. */
  dropout(x: tf.Tensor, seed: number, threshold: number, scale: number): { y: tf.Tensor; mask: tf.Tensor };
  /** Softmax's backward pass over the last axis: y·(dy − Σ dy·y). */
  softmaxGrad(y: tf.Tensor, dy: tf.Tensor): tf.Tensor;
}

let cached: { heap: WasmHeap; kernels: SimdKernels } | undefined;

/** The kernels bound to the active wasm backend, or undefined (another backend, or no SIMD). */
export function simdKernels(): SimdKernels | undefined {
  const heap = wasmHeap();
  if (!heap) return undefined;
  if (cached?.heap !== heap) {
    if (!hasSimd()) return undefined;
    cached = { heap, kernels: bind(heap) };
  }
  return cached.kernels;
}

// The flag is evaluated asynchronously when the backend starts (selectBackend); before that, no.
function hasSimd(): boolean {
  try {
    return tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
  } catch {
    return false;
  }
}

function bind(heap: WasmHeap): SimdKernels {
  const module = new wasmApi.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
  const exports = new wasmApi.Instance(module, { env: { memory: heap.memory } }).exports as unknown as Exports;
  const offset = (t: tf.Tensor): number => heap.offset(t);
  const alloc = <T extends tf.Tensor>(shape: readonly number[]): T => heap.alloc(shape) as T;
  return {
    gelu(x, withSlope) {
      const y = alloc(x.shape);
      const slope = withSlope ? alloc(x.shape) : undefined;
      exports.gelu(offset(x), offset(y), slope ? offset(slope) : 0, x.size);
      return slope ? { y, slope } : { y };
    },
    layerNorm(x, scale, bias, eps, keepXhat) {
      const [rows, d] = x.shape;
      const y = alloc<tf.Tensor2D>([rows, d]);
      const xhat = keepXhat ? alloc<tf.Tensor2D>([rows, d]) : undefined;
      const rstd = alloc<tf.Tensor2D>([rows, 1]);
      exports.layer_norm(offset(x), offset(scale), offset(bias), offset(y), xhat ? offset(xhat) : 0, offset(rstd), rows, d, eps);
      return xhat ? { y, xhat, rstd } : { y, rstd };
    },
    layerNormGrad(dy, xhat, rstd, scale, params) {
      const [rows, d] = dy.shape;
      const dx = alloc<tf.Tensor2D>([rows, d]);
      const dscale = params ? alloc<tf.Tensor1D>([d]) : undefined;
      const dbias = params ? alloc<tf.Tensor1D>([d]) : undefined;
      exports.layer_norm_grad(offset(dy), offset(xhat), offset(rstd), offset(scale), offset(dx), dscale ? offset(dscale) : 0, dbias ? offset(dbias) : 0, rows, d);
      return dscale && dbias ? { dx, dscale, dbias } : { dx };
    },
    colSum(x) {
      const [rows, d] = x.shape;
      const out = alloc<tf.Tensor1D>([d]);
      exports.col_sum(offset(x), offset(out), rows, d);
      return out;
    },
    dropout(x, seed, threshold, scale) {
      const y = alloc(x.shape);
      const mask = alloc(x.shape);
      exports.dropout(offset(x), offset(y), offset(mask), x.size, seed | 0, threshold | 0, scale);
      return { y, mask };
    },
    softmaxGrad(y, dy) {
      const t = y.shape[y.rank - 1] as number;
      const dx = alloc(y.shape);
      exports.softmax_grad(offset(y), offset(dy), offset(dx), y.size / t, t);
      return dx;
    },
  };
}
