import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../src/ml/quiet.js';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphModelFeatures, loadGraphModelFile } from '../src/ml/analysis/index.js';
import { createRng } from '../src/util/rng.js';
import { writeTinyGraphModel } from './helpers/graph-model.js';

const dir = mkdtempSync(join(tmpdir(), 'graph-model-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rng = createRng(1);
// Filter of a 1x1 convolution 3 -> 5 channels.
const filter = Float32Array.from({ length: 15 }, () => rng.normal());

// A tiny Inception-shaped graph: image [B,4,4,3] -> 1x1 Conv2D -> Relu -> spatial Mean -> [B, 5].
const writeModel = (): string => writeTinyGraphModel(join(dir, 'model.json'), { size: 4, width: 5, filter });

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('graph model (Inception-v3 route) loading from disk', () => {
  it('loads model.json + weights.bin and computes the pooled features', async () => {
    const path = writeModel();
    const loaded = await loadGraphModelFile(path);
    expect(loaded.ok).toBe(true);
    if (!loaded.ok) return;
    const b = 2;
    const pixels = Float32Array.from({ length: b * 4 * 4 * 3 }, () => rng.next());
    const images = tf.tensor4d(pixels, [b, 4, 4, 3]);
    const r = graphModelFeatures(loaded.value, images, { inputSize: [4, 4], inputRange: [-1, 1], outputNode: 'pool' });
    images.dispose();
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.dim).toBe(5);
    // Reference by hand: mean over pixels of relu((2p - 1) . W).
    for (let i = 0; i < b; i++) {
      for (let o = 0; o < 5; o++) {
        let s = 0;
        for (let px = 0; px < 16; px++) {
          let v = 0;
          for (let c = 0; c < 3; c++) v += (2 * (pixels[(i * 16 + px) * 3 + c] as number) - 1) * (filter[c * 5 + o] as number);
          s += Math.max(0, v);
        }
        expect(r.value.features[i * 5 + o]).toBeCloseTo(s / 16, 5);
      }
    }
    // Grey input at another size is tiled to RGB and resized to the model's input.
    const grey = tf.fill([1, 8, 8, 1], 0.5) as tf.Tensor4D;
    const g = graphModelFeatures(loaded.value, grey, { inputSize: [4, 4], inputRange: [0, 1] });
    grey.dispose();
    expect(g.ok).toBe(true);
    if (!g.ok) return;
    for (let o = 0; o < 5; o++) {
      const v = 0.5 * ((filter[o] as number) + (filter[5 + o] as number) + (filter[10 + o] as number));
      expect(g.value.features[o]).toBeCloseTo(Math.max(0, v), 5);
    }
  });

  it('reports an unknown output node as an error value', async () => {
    const loaded = await loadGraphModelFile(join(dir, 'model.json'));
    expect(loaded.ok).toBe(true);
    if (!loaded.ok) return;
    const images = tf.zeros([1, 4, 4, 3]) as tf.Tensor4D;
    const r = graphModelFeatures(loaded.value, images, { inputSize: [4, 4], inputRange: [0, 1], outputNode: 'no_such_node' });
    images.dispose();
    expect(r.ok === false && r.error.reason).toBe('bad-output');
  });

  it('reports a missing or broken model as an error value', async () => {
    const missing = await loadGraphModelFile(join(dir, 'nope', 'model.json'));
    expect(missing.ok === false && missing.error.reason).toBe('unreadable');
    writeFileSync(join(dir, 'broken.json'), '{"modelTopology": 1');
    const broken = await loadGraphModelFile(join(dir, 'broken.json'));
    expect(broken.ok === false && broken.error.reason).toBe('bad-model');
  });
});
