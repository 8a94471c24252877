import '../src/ml/quiet.js';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  encodePng, gradCam, integratedGradients, integrationRule, jet, normalizeMap, readPngHeader, upsampleBilinear,
  type TapForward, type LogitForward,
} from '../src/ml/analysis/index.js';
import { createRng } from '../src/util/rng.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const PS = 2; // patch size
const GRID_H = 2, GRID_W = 3, PROMPTS = 2;
const LAYOUT = { prefix: 1 + PROMPTS, gridH: GRID_H, gridW: GRID_W };

/**
 * A tiny "ViT" with the ViT's tap contract: patch tokens are [brightness, 1, -brightness], led by
 * a loud CLS token and two prompt tokens; the tap sits on the token sequence. Class 1's logit is
 * the sum of squared patch brightness, class 0's a small constant read off channel 1: one bright
 * patch decides class 1.
 */
const tinyTapModel: TapForward = (x, tap) => tf.tidy(() => {
  const b = x.shape[0];
  const bright = tf.reshape(tf.avgPool(x, PS, PS, 'valid'), [b, GRID_H * GRID_W, 1]);
  const patches = tf.concat([bright, tf.onesLike(bright), tf.neg(bright)], 2);
  const cls = tf.fill([b, 1, 3], 10);
  const prompts = tf.fill([b, PROMPTS, 3], 5);
  const seq = tap(tf.concat([cls, prompts, patches], 1) as tf.Tensor3D);
  const patchOut = tf.slice(seq, [0, LAYOUT.prefix, 0], [b, GRID_H * GRID_W, 3]);
  const c1 = tf.sum(tf.square(tf.slice(patchOut, [0, 0, 0], [b, -1, 1])), [1, 2]);
  const c0 = tf.mul(0.1, tf.sum(tf.slice(patchOut, [0, 0, 1], [b, -1, 1]), [1, 2]));
  return tf.stack([c0, c1], 1) as tf.Tensor2D;
});

function plantedImages(plants: Array<[number, number]>): tf.Tensor4D {
  const rng = createRng(11);
  const h = GRID_H * PS, w = GRID_W * PS;
  const data = new Float32Array(plants.length * h * w);
  plants.forEach(([pr, pc], i) => {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const inPatch = Math.floor(y / PS) === pr && Math.floor(x / PS) === pc;
        data[i * h * w + y * w + x] = inPatch ? 1 : 0.1 * rng.next();
      }
    }
  });
  return tf.tensor4d(data, [plants.length, h, w, 1]);
}

describe('gradCam (ViT, last block pre-attention LayerNorm tap)', () => {
  it('peaks on the patch that decides the predicted class, per image, on the patch grid', () => {
    const x = plantedImages([[1, 2], [0, 0], [1, 0]]);
    const r = gradCam(tinyTapModel, x, LAYOUT);
    x.dispose();
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.gridH).toBe(GRID_H);
    expect(r.value.gridW).toBe(GRID_W);
    expect(Array.from(r.value.predicted)).toEqual([1, 1, 1]);
    expect(Array.from(r.value.classes)).toEqual([1, 1, 1]);
    const n = GRID_H * GRID_W;
    const argmaxes = [0, 1, 2].map((i) => {
      const m = Array.from(r.value.maps.subarray(i * n, (i + 1) * n));
      return m.indexOf(Math.max(...m));
    });
    // row-major grid index = row * gridW + col
    expect(argmaxes).toEqual([1 * GRID_W + 2, 0, 1 * GRID_W + 0]);
    // The decisive patch dominates: every other patch is far below it.
    const m0 = Array.from(r.value.maps.subarray(0, n));
    const peak = Math.max(...m0);
    expect(m0.filter((v) => v > 0.2 * peak)).toHaveLength(1);
    // The reported score is the explained logit.
    expect(r.value.scores[0]).toBeGreaterThan(1);
  });

  it('explains a requested class instead of the prediction', () => {
    const x = plantedImages([[0, 1]]);
    const r = gradCam(tinyTapModel, x, LAYOUT, { targetClasses: [0] });
    x.dispose();
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.classes[0]).toBe(0);
    expect(r.value.predicted[0]).toBe(1);
    // Class 0 reads only the constant channel: a flat map.
    const m = Array.from(r.value.maps);
    expect(Math.max(...m) - Math.min(...m)).toBeLessThan(1e-6);
  });

  it('rejects a layout that does not match the tapped sequence, a model without a tap, and bad classes', () => {
    const x = plantedImages([[0, 0]]);
    const wrong = gradCam(tinyTapModel, x, { prefix: 1, gridH: GRID_H, gridW: GRID_W });
    expect(wrong.ok === false && wrong.error.reason).toBe('bad-layout');
    const noTap: TapForward = (img) => tf.tidy(() => tf.sum(img, [1, 2]) as tf.Tensor2D);
    const missing = gradCam(noTap, x, LAYOUT);
    expect(missing.ok === false && missing.error.reason).toBe('no-tap');
    const badClass = gradCam(tinyTapModel, x, LAYOUT, { targetClasses: [7] });
    expect(badClass.ok === false && badClass.error.reason).toBe('bad-input');
    const count = gradCam(tinyTapModel, x, LAYOUT, { targetClasses: [0, 1] });
    expect(count.ok === false && count.error.reason).toBe('bad-input');
    x.dispose();
  });

  it('does not leak tensors', () => {
    const x = plantedImages([[0, 0]]);
    const before = tf.memory().numTensors;
    gradCam(tinyTapModel, x, LAYOUT);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

/** A smooth tiny classifier: tanh MLP on the flattened 4x4x2 image, 3 classes. */
function tinyMlp(): LogitForward {
  const rng = createRng(3);
  const w1 = tf.tensor2d(Array.from({ length: 32 * 8 }, () => rng.normal() * 0.5), [32, 8]);
  const b1 = tf.tensor1d(Array.from({ length: 8 }, () => rng.normal() * 0.1));
  const w2 = tf.tensor2d(Array.from({ length: 8 * 3 }, () => rng.normal()), [8, 3]);
  const b2 = tf.tensor1d([0.3, -0.2, 0.1]);
  return (x) => tf.tidy(() => tf.add(tf.matMul(tf.tanh(tf.add(tf.matMul(tf.reshape(x, [x.shape[0], 32]), w1), b1)), w2), b2) as tf.Tensor2D);
}

describe('integrationRule', () => {
  it('Gauss-Legendre with n nodes integrates polynomials up to degree 2n-1 exactly on [0,1]', () => {
    for (const n of [1, 5, 50]) {
      const { nodes, weights } = integrationRule('gauss-legendre', n);
      expect(nodes.every((a) => a > 0 && a < 1)).toBe(true);
      for (let k = 0; k <= Math.min(2 * n - 1, 30); k++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += (weights[i] as number) * (nodes[i] as number) ** k;
        expect(s).toBeCloseTo(1 / (k + 1), 12);
      }
    }
  });

  it('trapezoid covers [0,1] with halved end weights', () => {
    const { nodes, weights } = integrationRule('trapezoid', 50);
    expect(nodes[0]).toBe(0);
    expect(nodes[49]).toBe(1);
    expect(weights[0]).toBeCloseTo(weights[1]! / 2, 15);
    expect(Array.from(weights).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });
});

describe('integratedGradients (zero baseline, 50 steps)', () => {
  const model = tinyMlp();
  const rng = createRng(21);
  const image = tf.tensor4d(Array.from({ length: 32 }, () => rng.normal()), [1, 4, 4, 2]);

  for (const rule of ['gauss-legendre', 'trapezoid'] as const) {
    for (const output of ['logit', 'probability'] as const) {
      it(`completeness within 1% (${rule}, ${output})`, () => {
        const r = integratedGradients(model, image, { rule, output, steps: 50 });
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.value.steps).toBe(50);
        expect(r.value.shape).toEqual([4, 4, 2]);
        expect(r.value.attributions).toHaveLength(32);
        const delta = r.value.fx - r.value.fBaseline;
        expect(Math.abs(delta)).toBeGreaterThan(1e-3);
        expect(r.value.completenessError).toBeLessThan(0.01);
        expect(Math.abs(r.value.attributionSum - delta) / Math.abs(delta)).toBeCloseTo(r.value.completenessError, 10);
      });
    }
  }

  it('the two rules agree on the attributions', () => {
    const a = integratedGradients(model, image, { rule: 'gauss-legendre' });
    const b = integratedGradients(model, image, { rule: 'trapezoid', batchSize: 7 });
    expect(a.ok && b.ok).toBe(true);
    if (!a.ok || !b.ok) return;
    let maxDiff = 0, maxAbs = 0;
    a.value.attributions.forEach((v, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(v - (b.value.attributions[i] as number)));
      maxAbs = Math.max(maxAbs, Math.abs(v));
    });
    expect(maxDiff / maxAbs).toBeLessThan(0.01);
  });

  it('does not leak tensors', () => {
    const before = tf.memory().numTensors;
    integratedGradients(model, image, { steps: 12, batchSize: 5 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects a batch, bad steps and bad classes', () => {
    const two = tf.zeros([2, 4, 4, 2]) as tf.Tensor4D;
    expect(integratedGradients(model, two).ok).toBe(false);
    two.dispose();
    const steps = integratedGradients(model, image, { steps: 0 });
    expect(steps.ok === false && steps.error.reason).toBe('bad-input');
    const cls = integratedGradients(model, image, { targetClass: 3 });
    expect(cls.ok === false && cls.error.reason).toBe('bad-input');
  });
});

describe('heatmap pictures', () => {
  it('upsamples bilinearly and keeps a constant map constant', () => {
    const up = upsampleBilinear([2, 2, 2, 2], 2, 2, 8, 8);
    expect(Array.from(up).every((v) => v === 2)).toBe(true);
    const ramp = upsampleBilinear([0, 1], 1, 2, 1, 4);
    expect(Array.from(ramp)).toEqual([0, 0.25, 0.75, 1]);
  });

  it('normalises and colour-maps (low blue, high red)', () => {
    expect(Array.from(normalizeMap([2, 4, 6]))).toEqual([0, 0.5, 1]);
    expect(Array.from(normalizeMap([3, 3]))).toEqual([0, 0]);
    expect(jet(0)[2]).toBeGreaterThan(100);
    expect(jet(0)[0]).toBe(0);
    expect(jet(1)[0]).toBeGreaterThan(100);
    expect(jet(1)[2]).toBe(0);
  });

  it('writes a PNG that decodes back to the same pixels', async () => {
    const w = 5, h = 3;
    const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256);
    const png = encodePng(rgb, w, h);
    expect(readPngHeader(png)).toEqual({ width: 5, height: 3, bitDepth: 8, colorType: 2 });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([5, 3, 3]);
    expect(Array.from(data)).toEqual(Array.from(rgb));
    expect(readPngHeader(Buffer.from('not a png at all, just some text bytes'))).toBeUndefined();
  });
});
