/**
 * GradCAM for Vision Transformers, as the paper uses it: the target layer is the LayerNorm before
 * attention in the LAST block; only the patch tokens count (CLS and prompt tokens are dropped);
 * the token axis is reshaped to the patch grid; the explained class is the predicted one.
 *
 * The model is reached through a tap: `forward(x, tap)` calls `tap(a)` with that LayerNorm's
 * output [B, T, D] and continues with whatever tap returns. Two passes: one to read the
 * activations and the prediction, one that feeds those activations back in as the input the
 * gradient is taken against (the residual stream around the tap is a constant for it, exactly as
 * a hook on that layer sees it).
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node bundle has no gradient functions; the union package registers them into the
// same tfjs-core when it loads (as src/ml does).
import '@tensorflow/tfjs';
import { err, ok, type Result } from '../../util/result.js';

/** A model with a replaceable activation: the ViT's `forwardWithTap` bound to eval mode. */
export type TapForward = (x: tf.Tensor4D, tap: (a: tf.Tensor3D) => tf.Tensor3D) => tf.Tensor2D;

/** Token layout of the tapped sequence: `prefix` tokens (CLS + prompts), then gridH*gridW patches, row-major. */
export interface TokenLayout {
  readonly prefix: number;
  readonly gridH: number;
  readonly gridW: number;
}

export type AttributionError = { readonly reason: 'bad-layout' | 'bad-input' | 'no-tap' | 'not-finite'; readonly message: string };

export interface GradCamResult {
  readonly batch: number;
  readonly gridH: number;
  readonly gridW: number;
  /** [B, gridH, gridW], ReLU'd, not normalised. */
  readonly maps: Float32Array;
  /** Explained class per image (the prediction unless given). */
  readonly classes: Int32Array;
  /** Model's predicted class per image. */
  readonly predicted: Int32Array;
  /** Logit of the explained class per image. */
  readonly scores: Float32Array;
}

export interface GradCamOptions {
  /** Explain these classes instead of the predictions (one per image). */
  readonly targetClasses?: ArrayLike<number>;
}

export function gradCam(forward: TapForward, x: tf.Tensor4D, layout: TokenLayout, options: GradCamOptions = {}): Result<GradCamResult, AttributionError> {
  const batch = x.shape[0];
  const patches = layout.gridH * layout.gridW;
  if (!(layout.prefix >= 0 && layout.gridH > 0 && layout.gridW > 0 && Number.isInteger(layout.prefix + layout.gridH + layout.gridW))) {
    return err({ reason: 'bad-layout', message: `bad token layout ${JSON.stringify(layout)}` });
  }
  if (options.targetClasses && options.targetClasses.length !== batch) {
    return err({ reason: 'bad-input', message: `${options.targetClasses.length} target classes for ${batch} images` });
  }
  // Pass 1: activations at the tap and the prediction.
  let act: tf.Tensor3D | undefined;
  const logits = tf.tidy(() => forward(x, (a) => {
    act = tf.keep(a.clone());
    return a;
  }));
  if (!act) {
    logits.dispose();
    return err({ reason: 'no-tap', message: 'the forward function never called the tap' });
  }
  const activations: tf.Tensor3D = act;
  try {
    const [, tokens, dim] = activations.shape;
    if (tokens !== layout.prefix + patches) {
      return err({ reason: 'bad-layout', message: `tapped sequence has ${tokens} tokens, layout expects ${layout.prefix} + ${layout.gridH}x${layout.gridW} = ${layout.prefix + patches}` });
    }
    const numClasses = logits.shape[1];
    const predicted = Int32Array.from(readAndDispose(tf.tidy(() => tf.argMax(logits, 1))));
    const classes = options.targetClasses ? Int32Array.from(options.targetClasses) : predicted;
    for (const c of classes) {
      if (!Number.isInteger(c) || c < 0 || c >= numClasses) return err({ reason: 'bad-input', message: `class ${c} is outside 0..${numClasses - 1}` });
    }
    const maps = tf.tidy(() => {
      const mask = tf.cast(tf.oneHot(tf.tensor1d(classes, 'int32'), numClasses), 'float32');
      // Pass 2: d(score)/d(activation), the activation fed back in through the tap.
      const grad = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(forward(x, () => a as tf.Tensor3D), mask)))(activations) as tf.Tensor3D;
      const patchAct = tf.slice(activations, [0, layout.prefix, 0], [batch, patches, dim]);
      const patchGrad = tf.slice(grad, [0, layout.prefix, 0], [batch, patches, dim]);
      // Channel weights: gradient averaged over the patch grid (global average pooling).
      const weights = tf.mean(patchGrad, 1, true); // [B, 1, D]
      return tf.relu(tf.sum(tf.mul(patchAct, weights), 2)); // [B, N]
    });
    const mapData = Float32Array.from(maps.dataSync());
    maps.dispose();
    const scores = tf.tidy(() => tf.sum(tf.mul(logits, tf.cast(tf.oneHot(tf.tensor1d(classes, 'int32'), numClasses), 'float32')), 1));
    const scoreData = Float32Array.from(scores.dataSync());
    scores.dispose();
    if (mapData.some((v) => !Number.isFinite(v))) return err({ reason: 'not-finite', message: 'GradCAM map has non-finite values' });
    return ok({ batch, gridH: layout.gridH, gridW: layout.gridW, maps: mapData, classes, predicted, scores: scoreData });
  } finally {
    activations.dispose();
    logits.dispose();
  }
}

/** Copies a tensor's values out and frees it. */
export function readAndDispose(t: tf.Tensor): Float32Array | Int32Array | Uint8Array {
  const v = t.dataSync() as Float32Array | Int32Array | Uint8Array;
  t.dispose();
  return v;
}
