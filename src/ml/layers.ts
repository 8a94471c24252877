/**
 * The ViT's building blocks as tfjs ops.
 *
 * `linear` has two implementations with the same math: `plain` (tf.matMul, autodiff) and `fast`
 * (a tf.customGrad whose backward uses explicitly transposed, untransposed-2-D matMuls, which the
 * wasm backend sends to XNNPACK, and computes no weight gradient for a frozen weight). A test
 * pins the two to each other.
 */
import * as tf from '@tensorflow/tfjs-core';
import { simdKernels, type SimdKernels } from './simd/index.js';
import { wasmHeap } from './wasmHeap.js';

export type Kernels = 'fast' | 'plain';

/** y = x @ W + b over the last axis; x is [..., Din], W [Din, Dout], b [Dout]. */
export function linear(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor1D | undefined, trainW: boolean, kernels: Kernels): tf.Tensor {
  const shape = x.shape;
  const din = shape[shape.length - 1] as number;
  const dout = w.shape[1];
  const x2 = tf.reshape(x, [-1, din]) as tf.Tensor2D;
  let y: tf.Tensor2D;
  if (kernels === 'plain') {
    y = tf.matMul(x2, w);
    if (b) y = tf.add(y, b);
  } else if (trainW) {
    y = b ? linearTrainBias(x2, w, b) : linearTrain(x2, w);
  } else {
    y = b ? linearFrozenBias(x2, w, b) : linearFrozen(x2, w);
  }
  return tf.reshape(y, [...shape.slice(0, -1), dout]);
}

/**
 * Sum over rows of [N, D] as ones[1, N] @ x: on wasm a reduction over a non-last axis transposes
 * first, while this 2-D matMul runs on XNNPACK.
 */
export function colSum(x: tf.Tensor2D): tf.Tensor1D {
  const simd = simdKernels();
  if (simd && x.shape[1] % 4 === 0) return simd.colSum(x);
  return tf.reshape(tf.matMul(tf.ones([1, x.shape[0]]), x), [x.shape[1]]) as tf.Tensor1D;
}

/** x @ W + b as one fused kernel (the bias is added inside XNNPACK's matMul on wasm). */
const matMulBias = (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D => tf.fused.matMul({ a: x, b: w, bias: b }) as tf.Tensor2D;

/** dx = dy @ W^T with W^T materialised so the matMul is untransposed (the wasm fast path). */
const dxOf = (dy: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D => tf.matMul(dy, tf.transpose(w));
/** dW = x^T @ dy, again with an explicit transpose. */
const dwOf = (x: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor2D => tf.matMul(tf.transpose(x), dy);

const linearTrainBias = tf.customGrad((x, w, b, save) => {
  const xx = x as tf.Tensor2D;
  const ww = w as tf.Tensor2D;
  (save as tf.GradSaveFunc)([xx, ww]);
  return {
    value: matMulBias(xx, ww, b as tf.Tensor1D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D];
      const d = dy as tf.Tensor2D;
      return [dxOf(d, sw), dwOf(sx, d), colSum(d)];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

const linearTrain = tf.customGrad((x, w, save) => {
  const xx = x as tf.Tensor2D;
  const ww = w as tf.Tensor2D;
  (save as tf.GradSaveFunc)([xx, ww]);
  return {
    value: tf.matMul(xx, ww),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D];
      const d = dy as tf.Tensor2D;
      return [dxOf(d, sw), dwOf(sx, d)];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;

// Frozen weights are closed over rather than passed as inputs: the tape then never asks for (or
// allocates) a weight gradient, and dx still flows (needed by prompts, Integrated Gradients).
function linearFrozenBias(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  const f = tf.customGrad((xx) => ({
    value: matMulBias(xx as tf.Tensor2D, w, b),
    gradFunc: (dy: tf.Tensor) => [dxOf(dy as tf.Tensor2D, w)],
  })) as (x: tf.Tensor2D) => tf.Tensor2D;
  return f(x);
}

function linearFrozen(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((xx) => ({
    value: tf.matMul(xx as tf.Tensor2D, w),
    gradFunc: (dy: tf.Tensor) => [dxOf(dy as tf.Tensor2D, w)],
  })) as (x: tf.Tensor2D) => tf.Tensor2D;
  return f(x);
}

export const LAYER_NORM_EPS = 1e-6;

/**
 * LayerNorm over the last axis, eps 1e-6 (the ViT/VPT value). `fast` uses a hand-written
 * backward (fewer, fused-friendly ops; no scale/bias gradient when they are frozen).
 */
export function layerNorm(x: tf.Tensor, scale: tf.Tensor1D, bias: tf.Tensor1D, trainParams = true, kernels: Kernels = 'plain'): tf.Tensor {
  if (kernels === 'plain') {
    const axis = x.rank - 1;
    const { mean, variance } = tf.moments(x, axis, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, LAYER_NORM_EPS))), scale), bias);
  }
  const shape = x.shape;
  const d = shape[shape.length - 1] as number;
  const x2 = tf.reshape(x, [-1, d]) as tf.Tensor2D;
  let y: tf.Tensor2D;
  if (recordingGradients()) y = trainParams ? layerNormTrain(x2, scale, bias) : layerNormFrozen(x2, scale, bias);
  else {
    // No tape: the value alone (xhat is not written; the statistics are freed at once).
    const n = normalize(x2, scale, bias, false);
    tf.dispose([n.rstd, ...(n.xhat ? [n.xhat] : [])]);
    y = n.y;
  }
  return tf.reshape(y, shape);
}

interface Normalized {
  readonly y: tf.Tensor2D;
  readonly xhat?: tf.Tensor2D;
  readonly rstd: tf.Tensor2D;
}

/** y = xhat·scale + bias over rows of x [N, D], with xhat (if `keep`) and 1/std [N, 1] for the backward pass. */
function normalize(x: tf.Tensor2D, scale: tf.Tensor1D, bias: tf.Tensor1D, keep: boolean): Normalized {
  const simd = simdKernels();
  if (simd && x.shape[1] % 4 === 0) return simd.layerNorm(x, scale, bias, LAYER_NORM_EPS, keep);
  const mean = tf.mean(x, 1, true);
  const xc = tf.sub(x, mean);
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), 1, true), LAYER_NORM_EPS)) as tf.Tensor2D;
  const xhat = tf.mul(xc, rstd) as tf.Tensor2D;
  return { y: tf.add(tf.mul(xhat, scale), bias) as tf.Tensor2D, xhat, rstd };
}

/**
 * dx of LayerNorm, rstd·(g − mean(g) − xhat·mean(g·xhat)) with g = dy·scale, and with `params`
 * also dscale = Σ dy·xhat and dbias = Σ dy over rows.
 */
function layerNormGrads(dy: tf.Tensor2D, xhat: tf.Tensor2D, rstd: tf.Tensor2D, scale: tf.Tensor1D, params: boolean): tf.Tensor[] {
  const simd = simdKernels();
  if (simd && dy.shape[1] % 4 === 0) {
    const g = simd.layerNormGrad(dy, xhat, rstd, scale, params);
    return g.dscale && g.dbias ? [g.dx, g.dscale, g.dbias] : [g.dx];
  }
  const g = tf.mul(dy, scale) as tf.Tensor2D;
  const mg = tf.mean(g, 1, true);
  const mgx = tf.mean(tf.mul(g, xhat), 1, true);
  const dx = tf.mul(tf.sub(tf.sub(g, mg), tf.mul(xhat, mgx)), rstd);
  return params ? [dx, colSum(tf.mul(dy, xhat) as tf.Tensor2D), colSum(dy)] : [dx];
}

const layerNormTrain = tf.customGrad((x, scale, bias, save) => {
  const { y, xhat, rstd } = normalize(x as tf.Tensor2D, scale as tf.Tensor1D, bias as tf.Tensor1D, true);
  (save as tf.GradSaveFunc)([xhat as tf.Tensor2D, rstd, scale as tf.Tensor]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sr, ss] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
      return layerNormGrads(dy as tf.Tensor2D, sx, sr, ss, true);
    },
  };
}) as (x: tf.Tensor2D, scale: tf.Tensor1D, bias: tf.Tensor1D) => tf.Tensor2D;

function layerNormFrozen(x: tf.Tensor2D, scale: tf.Tensor1D, bias: tf.Tensor1D): tf.Tensor2D {
  const f = tf.customGrad((xx, save) => {
    const { y, xhat, rstd } = normalize(xx as tf.Tensor2D, scale, bias, true);
    (save as tf.GradSaveFunc)([xhat as tf.Tensor2D, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sr] = saved as [tf.Tensor2D, tf.Tensor2D];
        return layerNormGrads(dy as tf.Tensor2D, sx, sr, scale, false);
      },
    };
  }) as (x: tf.Tensor2D) => tf.Tensor2D;
  return f(x);
}

/**
 * Softmax over the last axis. `fast`: backward y·(dy − Σ dy·y), one SIMD pass on wasm; elsewhere
 * the row sums are spread by a 2-D matMul (rows @ ones[1, T]) instead of a broadcasting multiply.
 */
export function softmax(x: tf.Tensor, kernels: Kernels = 'plain'): tf.Tensor {
  return kernels === 'plain' ? tf.softmax(x) : softmaxFast(x);
}

const softmaxFast = tf.customGrad((x, save) => {
  const y = tf.softmax(x as tf.Tensor);
  (save as tf.GradSaveFunc)([y]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sy] = saved as [tf.Tensor];
      const simd = simdKernels();
      if (simd) return [simd.softmaxGrad(sy, dy)];
      const t = sy.shape[sy.rank - 1] as number;
      const dyy = tf.mul(dy, sy);
      const rows = tf.reshape(tf.sum(dyy, -1), [-1, 1]) as tf.Tensor2D;
      const spread = tf.reshape(tf.matMul(rows, tf.ones([1, t])), sy.shape);
      return [tf.sub(dyy, tf.mul(spread, sy))];
    },
  };
}) as (x: tf.Tensor) => tf.Tensor;

/** Exact GELU, 0.5·x·(1 + erf(x/√2)), as in the PyTorch VPT code (not the tanh form). */
export function gelu(x: tf.Tensor, kernels: Kernels = 'plain'): tf.Tensor {
  if (kernels === 'plain') return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  if (recordingGradients()) return geluFast(x);
  // No tape (eval, or the forward pass of a recomputed block): the value alone, no slope.
  const simd = x.dtype === 'float32' ? simdKernels() : undefined;
  return simd ? simd.gelu(x, false).y : tf.mul(x, tf.mul(tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1), 0.5));
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * d/dx GELU = Φ(x) + x·φ(x). When gradients are being recorded the slope is computed in the
 * forward pass and saved instead of x (the same memory: the MLP hidden activations are the largest
 * saved tensors, and ViT-B/16 FT at batch 8 must fit the 4 GiB wasm heap), so the backward pass is
 * one multiply rather than a second erf (a scalar loop on wasm) and exp. Without a tape (eval) the
 * slope is not computed.
 */
const geluFast = tf.customGrad((x, save) => {
  const xx = x as tf.Tensor;
  const simd = xx.dtype === 'float32' ? simdKernels() : undefined;
  if (simd) {
    // One SIMD pass for the value and the slope (the backend's Erf and Exp are scalar loops).
    const { y, slope } = simd.gelu(xx, true);
    (save as tf.GradSaveFunc)([slope as tf.Tensor]);
    return { value: y, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, saved[0] as tf.Tensor)] };
  }
  const cdf = tf.mul(tf.add(tf.erf(tf.mul(xx, Math.SQRT1_2)), 1), 0.5);
  (save as tf.GradSaveFunc)([tf.add(cdf, tf.mul(xx, tf.mul(tf.exp(tf.mul(tf.square(xx), -0.5)), INV_SQRT_2PI)))]);
  return {
    value: tf.mul(xx, cdf),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, saved[0] as tf.Tensor)],
  };
}) as (x: tf.Tensor) => tf.Tensor;

/**
 * Whether ops called now are recorded for a gradient: the engine's own test (tfjs-core 4.22 state,
 * pinned). Inside a custom op's forward function it is false, so callers ask before entering one.
 */
function recordingGradients(): boolean {
  const state = (tf.engine() as unknown as { state?: { gradientDepth?: number; kernelDepth?: number } }).state;
  if (state?.gradientDepth === undefined || state.kernelDepth === undefined) return true;
  return state.gradientDepth > 0 && state.kernelDepth === 0;
}

/**
 * Inverted dropout with an explicit seed, so a step's masks depend only on (seed, epoch, step,
 * site) and are the same on every backend. The mask (0 or 1/keep) is drawn in JS with xorshift32:
 * about 3x cheaper than tf.randomUniform and one multiply instead of four ops.
 */
export function dropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  if (rate <= 0) return x;
  const simd = x.dtype === 'float32' ? simdKernels() : undefined;
  if (simd) return dropoutSimd(x, rate, seed, simd);
  return applyMask(x, dropoutMask(x.size, rate, seed));
}

/** xorshift32's start state and the keep threshold and scale of a dropout rate. */
function maskStream(rate: number, seed: number): { start: number; threshold: number; scale: number } {
  const keep = 1 - rate;
  return { start: (seed >>> 0) || 0x9e3779b9, threshold: Math.floor(keep * 4294967296), scale: 1 / keep };
}

/** The mask `dropout` multiplies by: `size` values, each 0 or 1/(1 − rate). */
export function dropoutMask(size: number, rate: number, seed: number): Float32Array {
  const { start, threshold, scale } = maskStream(rate, seed);
  const mask = new Float32Array(size);
  let s = start;
  for (let i = 0; i < mask.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    mask[i] = s >>> 0 < threshold ? scale : 0;
  }
  return mask;
}

// The same stream drawn in wasm straight into the heap: no JS array, no upload.
function dropoutSimd(x: tf.Tensor, rate: number, seed: number, simd: SimdKernels): tf.Tensor {
  const { start, threshold, scale } = maskStream(rate, seed);
  const f = tf.customGrad((xx, save) => {
    const { y, mask } = simd.dropout(xx as tf.Tensor, start, threshold, scale);
    (save as tf.GradSaveFunc)([mask]);
    return { value: y, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, saved[0] as tf.Tensor)] };
  }) as (x: tf.Tensor) => tf.Tensor;
  return f(x);
}

// The mask is made inside the custom op and saved for the backward pass (a closed-over tensor
// would be freed with the forward pass's intermediates); x itself is not kept.
function applyMask(x: tf.Tensor, values: Float32Array): tf.Tensor {
  const f = tf.customGrad((xx, save) => {
    const mask = tf.tensor(values, (xx as tf.Tensor).shape, 'float32');
    (save as tf.GradSaveFunc)([mask]);
    return {
      value: tf.mul(xx as tf.Tensor, mask),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, saved[0] as tf.Tensor)],
    };
  }) as (x: tf.Tensor) => tf.Tensor;
  return f(x);
}

/**
 * VPT's prompt placement on tokens x [B, T, D]: [CLS, prompt ⊙ mask_b, patches]. `replace` drops
 * the P tokens after CLS first (deep prompts, layers >= 1); otherwise the prompts are inserted
 * (layer 0). `mask` ([B·P·D], from `dropoutMask`) is the prompt dropout, per image.
 * On wasm this is one copy pass over the heap each way; elsewhere broadcast, slice and concat.
 */
export function placePrompts(x: tf.Tensor3D, prompt: tf.Tensor2D, mask: Float32Array | undefined, replace: boolean, kernels: Kernels = 'plain'): tf.Tensor3D {
  const [B, T, D] = x.shape;
  const P = prompt.shape[0];
  const keepFrom = replace ? 1 + P : 1;
  const heap = kernels === 'fast' ? wasmHeap() : undefined;
  if (!heap) {
    let pr = tf.broadcastTo(tf.expandDims(prompt, 0), [B, P, D]);
    if (mask) pr = applyMask(pr, mask);
    return tf.concat([tf.slice(x, [0, 0, 0], [B, 1, D]), pr, tf.slice(x, [0, keepFrom, 0], [B, T - keepFrom, D])], 1) as tf.Tensor3D;
  }
  const f = tf.customGrad((xx, pp) => {
    const Tout = T - keepFrom + 1 + P;
    const out = heap.alloc([B, Tout, D]);
    const xs = heap.view(xx as tf.Tensor);
    const ps = heap.view(pp as tf.Tensor);
    const os = heap.view(out);
    for (let b = 0; b < B; b++) {
      const xo = b * T * D;
      const oo = b * Tout * D;
      os.set(xs.subarray(xo, xo + D), oo);
      if (mask) for (let j = 0; j < P * D; j++) os[oo + D + j] = (ps[j] as number) * (mask[b * P * D + j] as number);
      else os.set(ps, oo + D);
      os.set(xs.subarray(xo + keepFrom * D, xo + T * D), oo + (1 + P) * D);
    }
    return {
      value: out,
      gradFunc: (dy: tf.Tensor) => {
        const dx = heap.alloc([B, T, D]);
        const dp = heap.alloc([P, D]);
        const ds = heap.view(dy);
        const dxs = heap.view(dx);
        const dps = heap.view(dp);
        dps.fill(0);
        for (let b = 0; b < B; b++) {
          const xo = b * T * D;
          const oo = b * Tout * D;
          dxs.set(ds.subarray(oo, oo + D), xo);
          if (replace) dxs.fill(0, xo + D, xo + keepFrom * D);
          dxs.set(ds.subarray(oo + (1 + P) * D, oo + Tout * D), xo + keepFrom * D);
          for (let j = 0; j < P * D; j++) dps[j] = (dps[j] as number) + (ds[oo + D + j] as number) * (mask ? (mask[b * P * D + j] as number) : 1);
        }
        return [dx, dp];
      },
    };
  }) as (x: tf.Tensor3D, p: tf.Tensor2D) => tf.Tensor3D;
  return f(x, prompt);
}
