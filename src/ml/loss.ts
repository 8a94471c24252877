/** The training loss, shared by the training loop and its data-parallel workers. */
import * as tf from '@tensorflow/tfjs-core';

/** Mean softmax cross-entropy of logits [B, C] against int labels [B]. */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor1D, numClasses: number): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(labels, numClasses)), 1))) as tf.Scalar);
}
