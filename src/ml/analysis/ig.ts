/**
 * Integrated Gradients (Sundararajan et al. 2017) with a zero baseline, as the paper shows it:
 *   attr_i = (x_i - x'_i) * integral_0^1 dF(x' + a (x - x'))/dx_i da
 * integrated with 50 nodes by Gauss-Legendre or the trapezoid rule (Captum's two usual choices).
 * Completeness, sum(attr) = F(x) - F(x'), is measured and returned, never assumed.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node bundle has no gradient functions; the union package registers them into the
// same tfjs-core when it loads (as src/ml does).
import '@tensorflow/tfjs';
import { err, ok, type Result } from '../../util/result.js';
import { readAndDispose, type AttributionError } from './gradcam.js';

export type LogitForward = (x: tf.Tensor4D) => tf.Tensor2D;

export type IntegrationRule = 'gauss-legendre' | 'trapezoid';

export interface IgOptions {
  /** Number of integration nodes; default 50. */
  readonly steps?: number;
  /** Default `gauss-legendre`. */
  readonly rule?: IntegrationRule;
  /** Explained output: the class logit (default) or its softmax probability. */
  readonly output?: 'logit' | 'probability';
  /** Class to explain; default the prediction. */
  readonly targetClass?: number;
  /** Interpolated images per forward/backward pass; default 10. */
  readonly batchSize?: number;
}

export interface IgResult {
  /** [H, W, C], same layout as the image. */
  readonly attributions: Float32Array;
  readonly shape: readonly [number, number, number];
  readonly targetClass: number;
  readonly predicted: number;
  /** F(x) and F(baseline) of the explained output. */
  readonly fx: number;
  readonly fBaseline: number;
  /** sum(attributions) */
  readonly attributionSum: number;
  /** |sum(attr) - (F(x) - F(x'))| / |F(x) - F(x')| (absolute gap when F(x) = F(x')). */
  readonly completenessError: number;
  readonly steps: number;
  readonly rule: IntegrationRule;
}

/** Nodes and weights on [0, 1]. */
export function integrationRule(rule: IntegrationRule, steps: number): { nodes: Float64Array; weights: Float64Array } {
  const nodes = new Float64Array(steps);
  const weights = new Float64Array(steps);
  if (rule === 'trapezoid') {
    if (steps === 1) {
      nodes[0] = 1;
      weights[0] = 1;
      return { nodes, weights };
    }
    const h = 1 / (steps - 1);
    for (let k = 0; k < steps; k++) {
      nodes[k] = k === steps - 1 ? 1 : k * h;
      weights[k] = k === 0 || k === steps - 1 ? h / 2 : h;
    }
    return { nodes, weights };
  }
  // Gauss-Legendre: Newton on P_n from the usual cosine guesses, then mapped from [-1, 1].
  for (let i = 0; i < steps; i++) {
    let z = Math.cos((Math.PI * (i + 0.75)) / (steps + 0.5));
    let dp = 1;
    for (let it = 0; it < 100; it++) {
      let p0 = 1, p1 = z;
      for (let k = 2; k <= steps; k++) {
        const p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      const pn = steps === 1 ? z : p1;
      const pPrev = steps === 1 ? 1 : p0;
      dp = (steps * (z * pn - pPrev)) / (z * z - 1);
      const dz = pn / dp;
      z -= dz;
      if (Math.abs(dz) < 1e-15) break;
    }
    // Recompute P'_n at the converged root for the weight.
    let p0 = 1, p1 = z;
    for (let k = 2; k <= steps; k++) {
      const p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;
      p0 = p1;
      p1 = p2;
    }
    dp = steps === 1 ? 1 : (steps * (z * p1 - p0)) / (z * z - 1);
    nodes[steps - 1 - i] = (z + 1) / 2;
    weights[steps - 1 - i] = 1 / ((1 - z * z) * dp * dp);
  }
  return { nodes, weights };
}

/** IG for one image [1, H, W, C] (or [H, W, C]). */
export function integratedGradients(forward: LogitForward, image: tf.Tensor4D | tf.Tensor3D, options: IgOptions = {}): Result<IgResult, AttributionError> {
  const steps = options.steps ?? 50;
  const rule = options.rule ?? 'gauss-legendre';
  const output = options.output ?? 'logit';
  const batchSize = options.batchSize ?? 10;
  if (!Number.isInteger(steps) || steps < 1) return err({ reason: 'bad-input', message: `steps must be a positive integer, got ${steps}` });
  if (!Number.isInteger(batchSize) || batchSize < 1) return err({ reason: 'bad-input', message: `batchSize must be a positive integer, got ${batchSize}` });
  const x4 = image.rank === 3 ? tf.expandDims(image as tf.Tensor3D, 0) as tf.Tensor4D : (image as tf.Tensor4D);
  try {
    if (x4.shape[0] !== 1) return err({ reason: 'bad-input', message: `one image at a time, got a batch of ${x4.shape[0]}` });
    const [, h, w, c] = x4.shape;
    const explained = (logits: tf.Tensor2D): tf.Tensor2D => (output === 'probability' ? tf.softmax(logits) : logits);
    const first = tf.tidy(() => forward(x4));
    const numClasses = first.shape[1];
    const predicted = readAndDispose(tf.tidy(() => tf.argMax(first, 1)))[0] as number;
    const target = options.targetClass ?? predicted;
    if (!Number.isInteger(target) || target < 0 || target >= numClasses) {
      first.dispose();
      return err({ reason: 'bad-input', message: `class ${target} is outside 0..${numClasses - 1}` });
    }
    const fx = readAndDispose(tf.tidy(() => tf.slice(explained(first), [0, target], [1, 1])))[0] as number;
    first.dispose();
    // The baseline x' is zero, so the path is a * x.
    const fBaseline = readAndDispose(tf.tidy(() => tf.slice(explained(forward(tf.zerosLike(x4))), [0, target], [1, 1])))[0] as number;
    const { nodes, weights } = integrationRule(rule, steps);
    const gradFn = tf.grad((xs: tf.Tensor) => tf.sum(tf.slice(explained(forward(xs as tf.Tensor4D)), [0, target], [xs.shape[0] ?? 1, 1])));
    let total = tf.zeros([h, w, c]) as tf.Tensor3D;
    for (let s = 0; s < steps; s += batchSize) {
      const count = Math.min(batchSize, steps - s);
      const next = tf.tidy(() => {
        const alphas = tf.tensor4d(Array.from(nodes.subarray(s, s + count)), [count, 1, 1, 1]);
        const wts = tf.tensor4d(Array.from(weights.subarray(s, s + count)), [count, 1, 1, 1]);
        const xs = tf.mul(alphas, x4) as tf.Tensor4D;
        const g = gradFn(xs);
        return tf.add(total, tf.sum(tf.mul(g, wts), 0)) as tf.Tensor3D;
      });
      total.dispose();
      total = next;
    }
    const attr = tf.tidy(() => tf.mul(total, tf.squeeze(x4, [0])));
    total.dispose();
    const attributions = Float32Array.from(attr.dataSync());
    attr.dispose();
    let attributionSum = 0;
    for (const v of attributions) attributionSum += v;
    if (!Number.isFinite(attributionSum)) return err({ reason: 'not-finite', message: 'attributions are not finite' });
    const delta = fx - fBaseline;
    const gap = Math.abs(attributionSum - delta);
    const completenessError = Math.abs(delta) > 1e-12 ? gap / Math.abs(delta) : gap;
    return ok({ attributions, shape: [h, w, c], targetClass: target, predicted, fx, fBaseline, attributionSum, completenessError, steps, rule });
  } finally {
    if (x4 !== image) x4.dispose();
  }
}
