/**
 * One shard of a training batch: forward, loss and the gradients of the trainable parameters.
 * The main thread and every data-parallel worker run this same function on their part of the batch.
 */
import * as tf from '@tensorflow/tfjs-core';
import { numPatches } from '../config.js';
import { crossEntropy } from '../loss.js';
import type { ViT } from '../vit.js';

export interface Shard {
  /** Patchified images [count, N, p·p·C], row-major. */
  readonly patches: Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
  /** Base seed of this shard's dropout masks. */
  readonly dropoutSeed: number;
}

export interface ShardResult {
  /** Mean loss over the shard. */
  readonly loss: number;
  readonly predicted: Int32Array;
  /** Parameter name -> gradient of the shard's mean loss, in the order of `model.trainableVariables()`. */
  readonly grads: Map<string, tf.Tensor>;
}

/** Forward and backward on one shard in training mode; the caller owns (and disposes) the gradients. */
export async function shardGradients(model: ViT, shard: Shard): Promise<ShardResult> {
  const c = model.config;
  const N = numPatches(c);
  const B = shard.count;
  const vars = model.trainableVariables();
  const nameOf = new Map<string, string>();
  for (const s of model.specs) nameOf.set(model.p(s.name).name, s.name);
  const x = tf.tensor3d(shard.patches, [B, N, shard.patches.length / (B * N)]);
  const y = tf.tensor1d(shard.labels, 'int32');
  let logitsKept: tf.Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.forwardPatches(x, { training: true, dropoutSeed: shard.dropoutSeed });
    logitsKept = tf.keep(logits);
    return crossEntropy(logits, y, c.numClasses);
  }, vars);
  const named = new Map<string, tf.Tensor>();
  for (const v of vars) {
    const g = grads[v.name];
    if (g) named.set(nameOf.get(v.name) ?? v.name, g);
  }
  const loss = (await value.data())[0] as number;
  const pred = tf.tidy(() => tf.argMax(logitsKept as tf.Tensor, 1));
  const predicted = Int32Array.from(await pred.data());
  tf.dispose([x, y, value, pred, logitsKept as tf.Tensor]);
  return { loss, predicted, grads: named };
}
