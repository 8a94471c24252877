/**
 * FID features from a TensorFlow.js graph model (an Inception-v3 converted with
 * tensorflowjs_converter, whose pool output is the 2048-d FID feature). Node has no file://
 * loader without tfjs-node (which cannot be relied on), so this reads model.json and its weight
 * shards from disk itself and hands the artifacts to `loadGraphModel`.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { err, ok, type Result } from '../../util/result.js';

export type GraphModelError = { readonly reason: 'unreadable' | 'bad-model' | 'bad-output'; readonly message: string; readonly path: string };

/** An IOHandler that loads `model.json` and the weight files it lists from the local disk. */
export function fileModelHandler(modelJsonPath: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as tf.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          for (const p of group.paths) {
            const bytes = await readFile(join(dirname(modelJsonPath), p));
            buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
          }
          specs.push(...group.weights);
        }
        return [specs, tf.io.concatenateArrayBuffers(buffers)];
      });
    },
  };
}

export async function loadGraphModelFile(modelJsonPath: string): Promise<Result<GraphModel, GraphModelError>> {
  try {
    await readFile(modelJsonPath, { flag: 'r' });
  } catch (e) {
    return err({ reason: 'unreadable', message: `${modelJsonPath}: ${(e as Error).message}`, path: modelJsonPath });
  }
  try {
    return ok(await loadGraphModel(fileModelHandler(modelJsonPath)));
  } catch (e) {
    return err({ reason: 'bad-model', message: `${modelJsonPath}: ${(e as Error).message}`, path: modelJsonPath });
  }
}

export interface GraphFeatureOptions {
  /** Model input [H, W]; images are resized bilinearly to it. Inception-v3: 299x299. */
  readonly inputSize: readonly [number, number];
  /** Pixel range the model expects: [0,1] pixels are mapped linearly to it. Keras/Slim Inception: [-1, 1]. */
  readonly inputRange: readonly [number, number];
  /** Output node to read (default: the model's first output). */
  readonly outputNode?: string;
}

/**
 * Features [B, F] for images in [0, 1] (NHWC, 1 or 3 channels; grey is repeated to RGB).
 * Returns a Float32Array of B*F and F.
 */
export function graphModelFeatures(model: GraphModel, images01: tf.Tensor4D, options: GraphFeatureOptions, path = ''): Result<{ features: Float32Array; dim: number }, GraphModelError> {
  let out: tf.Tensor2D;
  try {
    out = tf.tidy(() => {
    let x: tf.Tensor4D = images01;
    if (x.shape[3] === 1) x = tf.tile(x, [1, 1, 1, 3]);
    if (x.shape[1] !== options.inputSize[0] || x.shape[2] !== options.inputSize[1]) {
      x = tf.image.resizeBilinear(x, [options.inputSize[0], options.inputSize[1]]);
    }
    const [lo, hi] = options.inputRange;
    x = tf.add(tf.mul(x, hi - lo), lo) as tf.Tensor4D;
    const y = (options.outputNode ? model.execute(x, options.outputNode) : model.execute(x)) as tf.Tensor | tf.Tensor[];
    const t = Array.isArray(y) ? y[0] : y;
    if (!t) throw new Error('model produced no output');
    return tf.reshape(t, [x.shape[0], -1]) as tf.Tensor2D;
    });
  } catch (e) {
    return err({ reason: 'bad-output', message: `executing the graph model: ${(e as Error).message}`, path });
  }
  const dim = out.shape[1];
  const features = Float32Array.from(out.dataSync());
  out.dispose();
  if (features.some((v) => !Number.isFinite(v))) return err({ reason: 'bad-output', message: 'graph model features are not finite', path });
  return ok({ features, dim });
}
