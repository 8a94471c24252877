/**
 * tfjs-core's node bundle ships no gradient functions: the union package `@tensorflow/tfjs`
 * registers them (into the one shared tfjs-core, same pinned version) when it loads. Importing
 * this module before any differentiation is what makes `tf.grad`/`variableGrads` work.
 */
import '@tensorflow/tfjs';
