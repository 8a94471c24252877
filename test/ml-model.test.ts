import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import {
  countParams, createViT, decays, encodeNpz, lrAt, methodMode, backboneFromNpz, loadViTNpz, npzLayout, paramSpecs, readNpz, scaledLr,
  scheduleFactor, selectBackend, VIT_B16, crossEntropy, type Method, type NpyArray, type ViT, type ViTConfig,
} from '../src/ml/index.js';
import { createRng } from '../src/util/rng.js';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, randomData, TINY, tinyWith } from './ml-helpers.js';

beforeAll(async () => {
  const b = await selectBackend('cpu');
  expect(b.ok).toBe(true);
});

describe('parameter counts', () => {
  it('ViT-B/16 backbone has exactly 85,798,656 parameters; VPT-deep P=10 adds 92,160', () => {
    expect(countParams(VIT_B16).backbone).toBe(85_798_656);
    expect(countParams({ ...VIT_B16, promptLength: 10, promptMode: 'deep' }).prompt).toBe(92_160);
    expect(countParams({ ...VIT_B16, promptLength: 10, promptMode: 'shallow' }).prompt).toBe(7_680);
    expect(countParams({ ...VIT_B16, numClasses: 100 }).head).toBe(768 * 100 + 100);
  });

  it('the built model holds exactly the counted parameters', () => {
    const c = tinyWith({ promptLength: 3 });
    const m = build(c);
    let n = 0;
    for (const v of m.params.values()) n += v.size;
    const counts = countParams(c);
    expect(n).toBe(counts.backbone + counts.prompt + counts.head);
    m.dispose();
  });

  it('rejects bad configs as values', () => {
    const r = createViT(tinyWith({ imageSize: 10 }), 0);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toMatch(/multiple of patchSize/);
    const h = createViT(tinyWith({ heads: 3 }), 0);
    expect(h.ok).toBe(false);
  });
});

describe('initialisation', () => {
  it('head bias is -log(99), prompts uniform within ±sqrt(6/(3p²+D)), head weight Kaiming-normal', () => {
    const c = tinyWith({ promptLength: 50, width: 16, numClasses: 64 });
    const m = build(c);
    const bias = m.p('head/bias').dataSync();
    for (const b of bias) expect(b).toBeCloseTo(-Math.log(99), 5);
    const bound = Math.sqrt(6 / (3 * 4 * 4 + 16));
    const pr = m.p('prompt/layer_0').dataSync();
    expect(Math.max(...pr.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...pr.map(Math.abs))).toBeGreaterThan(bound * 0.9);
    const w = Array.from(m.p('head/kernel').dataSync());
    const std = Math.sqrt(w.reduce((a, x) => a + x * x, 0) / w.length);
    expect(std).toBeGreaterThan(Math.sqrt(2 / 16) * 0.8);
    expect(std).toBeLessThan(Math.sqrt(2 / 16) * 1.2);
    m.dispose();
  });
});

describe('forward', () => {
  it('token layout is [CLS, prompts, patches]; tap sees [B, T, D] of the last block and can replace it', () => {
    const c = tinyWith({ promptLength: 3, promptMode: 'deep' });
    const m = build(c);
    const layout = m.tokenLayout();
    expect(layout).toEqual({ cls: 1, prompts: 3, gridH: 2, gridW: 2, patchStart: 4, total: 8 });
    const d = randomData(2, 5);
    const x = tf.tensor4d(d.images, [2, 8, 8, 1]);
    const plain = m.forward(x);
    let seen: number[] = [];
    const tapped = m.forwardWithTap(x, { training: false, tap: (a) => { seen = a.shape; return a; } });
    expect(seen).toEqual([2, 8, 16]);
    expect(Array.from(tapped.dataSync())).toEqual(Array.from(plain.dataSync()));
    const zeroed = m.forwardWithTap(x, { training: false, tap: (a) => tf.zerosLike(a) });
    expect(Array.from(zeroed.dataSync())).not.toEqual(Array.from(plain.dataSync()));
    // Eval mode is deterministic and the logits are differentiable w.r.t. the images (IG).
    const g = tf.grad((im: tf.Tensor) => tf.sum(m.forward(im as tf.Tensor4D)))(x);
    expect(g.shape).toEqual([2, 8, 8, 1]);
    expect(g.dataSync().some((v) => v !== 0)).toBe(true);
    tf.dispose([x, plain, tapped, zeroed, g]);
    m.dispose();
  });

  it('features: `cls` is exactly what the head reads (head(features) = logits); `mean-patch` averages the patch tokens of the final LayerNorm output', () => {
    const m = build(tinyWith({ promptLength: 3, promptMode: 'deep' }), 11);
    const layout = m.tokenLayout();
    const d = randomData(3, 12);
    const x = tf.tensor4d(d.images, [3, 8, 8, 1]);
    const logits = m.forward(x);
    const cls = m.features(x, 'cls');
    expect(cls.shape).toEqual([3, 16]);
    const viaHead = m.head(cls);
    const want = logits.dataSync();
    const got = viaHead.dataSync();
    for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i] as number, 6);
    const seq = m.encode(x);
    expect(seq.shape).toEqual([3, layout.total, 16]);
    const s = seq.arraySync();
    const mean = m.features(x, 'mean-patch').arraySync();
    const c = cls.arraySync();
    for (let b = 0; b < 3; b++) {
      // The final LayerNorm (scale 1, bias 0 at init): every token has mean 0 and variance 1.
      const tok = s[b]![0]!;
      const mu = tok.reduce((a, v) => a + v, 0) / tok.length;
      expect(mu).toBeCloseTo(0, 5);
      expect(tok.reduce((a, v) => a + (v - mu) ** 2, 0) / tok.length).toBeCloseTo(1, 4);
      for (let j = 0; j < 16; j++) {
        expect(c[b]![j]).toBe(tok[j]);
        let sum = 0;
        for (let t = layout.patchStart; t < layout.total; t++) sum += s[b]![t]![j]!;
        expect(mean[b]![j]).toBeCloseTo(sum / (layout.gridH * layout.gridW), 6);
      }
    }
    tf.dispose([x, logits, cls, viaHead, seq]);
    m.dispose();
  });

  it('shallow vs deep prompts: deep prompts of layers >= 1 matter only in deep mode', () => {
    const d = randomData(2, 6);
    const x = tf.tensor4d(d.images, [2, 8, 8, 1]);
    const deep = build(tinyWith({ promptLength: 2, promptMode: 'deep' }));
    const before = deep.forward(x).dataSync().slice();
    deep.p('prompt/layer_1').assign(tf.onesLike(deep.p('prompt/layer_1')));
    expect(Array.from(deep.forward(x).dataSync())).not.toEqual(Array.from(before));
    const shallow = build(tinyWith({ promptLength: 2, promptMode: 'shallow' }));
    expect(shallow.params.has('prompt/layer_1')).toBe(false);
    tf.dispose(x);
    deep.dispose();
    shallow.dispose();
  });

  it('fast linear kernels (customGrad, explicit transposes) equal the plain autodiff path: logits and gradients', () => {
    const c = tinyWith({ promptLength: 2 });
    const d = randomData(4, 7);
    for (const method of ['ft', 'vpt-deep', 'mixed', 'linear'] as const) {
      const m = build(c, 3);
      m.mode = methodMode(method);
      const run = (kernels: 'fast' | 'plain'): Float32Array[] => {
        m.kernels = kernels;
        return tf.tidy(() => {
          const x = tf.tensor4d(d.images, [4, 8, 8, 1]);
          const y = tf.tensor1d(d.labels, 'int32');
          const { value, grads } = tf.variableGrads(() => crossEntropy(m.forwardWithTap(x), y, c.numClasses), m.trainableVariables());
          return [value.dataSync() as Float32Array, ...m.trainableVariables().map((v) => grads[v.name]?.dataSync() as Float32Array)];
        });
      };
      const fast = run('fast');
      const plain = run('plain');
      expect(fast.length).toBe(plain.length);
      fast.forEach((f, i) => {
        const p = plain[i] as Float32Array;
        for (let j = 0; j < f.length; j++) expect(Math.abs((f[j] as number) - (p[j] as number))).toBeLessThan(1e-5 + 1e-4 * Math.abs(p[j] as number));
      });
      m.dispose();
    }
  });
});

describe('gradient checkpointing per block', () => {
  it('gives the same loss and gradients as the plain tape (dropout on, same masks) for ft and vpt-deep', () => {
    for (const method of ['ft', 'vpt-deep', 'mixed'] as const) {
      const c = tinyWith({ promptLength: method === 'ft' ? 0 : 2, dropout: 0.1, promptDropout: 0.1 });
      const m = build(c, 21);
      m.mode = methodMode(method);
      const d = randomData(4, 22);
      const run = (ckpt: boolean): Float32Array[] => {
        m.checkpointBlocks = ckpt;
        return tf.tidy(() => {
          const x = tf.tensor4d(d.images, [4, 8, 8, 1]);
          const y = tf.tensor1d(d.labels, 'int32');
          const vars = m.trainableVariables();
          const { value, grads } = tf.variableGrads(() => crossEntropy(m.forwardWithTap(x, { training: true, dropoutSeed: 77 }), y, c.numClasses), vars);
          return [value.dataSync() as Float32Array, ...vars.map((v) => (grads[v.name] as tf.Tensor).dataSync() as Float32Array)];
        });
      };
      const n0 = tf.memory().numTensors;
      const a = run(true);
      expect(tf.memory().numTensors).toBe(n0);
      const b = run(false);
      expect(a.length).toBe(b.length);
      a.forEach((f, i) => {
        const p = b[i] as Float32Array;
        for (let j = 0; j < f.length; j++) expect(Math.abs((f[j] as number) - (p[j] as number))).toBeLessThan(1e-5 + 1e-4 * Math.abs(p[j] as number));
      });
      m.dispose();
    }
  });
});

describe('gradient check vs central finite differences (float32, tiny model)', () => {
  // ft-then-pt runs the ft mode, then the vpt-deep mode: both are covered here.
  const methods = ['linear', 'ft', 'vpt-shallow', 'vpt-deep', 'mixed'] as const;
  for (const method of methods) {
    it(method, () => {
      const c = tinyWith({ promptLength: method === 'linear' || method === 'ft' ? 0 : 2, promptMode: method === 'vpt-shallow' ? 'shallow' : 'deep', numClasses: 3 });
      const m = build(c, 11);
      m.mode = methodMode(method);
      const d = randomData(4, 12, c);
      const x = tf.tensor4d(d.images, [4, 8, 8, 1]);
      const y = tf.tensor1d(d.labels, 'int32');
      const lossAt = (): number => tf.tidy(() => crossEntropy(m.forwardWithTap(x, { training: true }), y, c.numClasses).dataSync()[0] as number);
      const vars = m.trainableVariables();
      const vg = tf.variableGrads(() => crossEntropy(m.forwardWithTap(x, { training: true }), y, c.numClasses), vars);
      const grads = new Map(vars.map((v) => [v.name, (vg.grads[v.name] as tf.Tensor).dataSync().slice() as Float32Array]));
      tf.dispose([vg.value, ...Object.values(vg.grads)]);
      const rng = createRng(99);
      // Small enough for the LayerNorm curvature around the (near-zero) CLS/pos init, big enough for float32 noise.
      const eps = 2e-3;
      let checked = 0;
      let maxErr = 0;
      for (const v of vars) {
        const values = v.dataSync().slice() as Float32Array;
        const g = grads.get(v.name) as Float32Array;
        for (let k = 0; k < 2; k++) {
          const i = rng.int(values.length);
          const set = (val: number): void => {
            const copy = values.slice();
            copy[i] = val;
            const t = tf.tensor(copy, v.shape);
            v.assign(t);
            t.dispose();
          };
          set((values[i] as number) + eps);
          const up = lossAt();
          set((values[i] as number) - eps);
          const down = lossAt();
          set(values[i] as number);
          const numeric = (up - down) / (2 * eps);
          const analytic = g[i] as number;
          const errAbs = Math.abs(numeric - analytic);
          maxErr = Math.max(maxErr, errAbs / (1e-3 + Math.abs(analytic)));
          expect(errAbs, `${v.name}[${i}] numeric ${numeric} analytic ${analytic}`).toBeLessThan(2e-3 + 3e-2 * Math.abs(analytic));
          checked++;
        }
      }
      // The method's trainable set: prompts + head for VPT, head only for linear, everything for FT/Mixed.
      const expectedVars = paramSpecs(c).filter((s) => (s.group === 'head') || (s.group === 'prompt' && method !== 'linear' && method !== 'ft') || (s.group === 'backbone' && (method === 'ft' || method === 'mixed'))).length;
      expect(vars.length).toBe(expectedVars);
      expect(checked).toBe(2 * expectedVars);
      expect(maxErr).toBeLessThan(1);
      tf.dispose([x, y]);
      m.dispose();
    });
  }
});

describe('optimisation recipe', () => {
  it('lr = base_lr × batch / 256', () => {
    expect(scaledLr(0.1, 64)).toBeCloseTo(0.025, 12);
    expect(scaledLr(0.001, 128)).toBeCloseTo(0.0005, 12);
  });

  it('warm-up from 0 then cosine to 0, per epoch', () => {
    expect(scheduleFactor(0, 100, 10)).toBe(0);
    expect(scheduleFactor(5, 100, 10)).toBeCloseTo(0.5, 12);
    expect(scheduleFactor(10, 100, 10)).toBeCloseTo(1, 12);
    expect(scheduleFactor(55, 100, 10)).toBeCloseTo(0.5, 12);
    expect(scheduleFactor(100, 100, 10)).toBeCloseTo(0, 12);
    expect(scheduleFactor(99, 100, 10)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI * 89 / 90)), 12);
    expect(scheduleFactor(0, 10, 0)).toBe(1);
    expect(lrAt(5, { baseLr: 0.5, batchSize: 64, epochs: 100, warmupEpochs: 10 })).toBeCloseTo(0.0625, 12);
    // Monotone non-increasing after warm-up.
    for (let e = 11; e < 100; e++) expect(scheduleFactor(e, 100, 10)).toBeLessThanOrEqual(scheduleFactor(e - 1, 100, 10));
  });

  it('no weight decay on the head bias (SGD); no decay on biases under AdamW (reference code)', () => {
    expect(decays('head/bias', 'sgd')).toBe(false);
    expect(decays('head/kernel', 'sgd')).toBe(true);
    expect(decays('prompt/layer_0', 'sgd')).toBe(true);
    expect(decays('Transformer/encoderblock_0/LayerNorm_0/bias', 'sgd')).toBe(true);
    expect(decays('head/bias', 'adamw')).toBe(false);
    expect(decays('Transformer/encoderblock_0/MlpBlock_3/Dense_0/bias', 'adamw')).toBe(false);
    expect(decays('Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel', 'adamw')).toBe(true);
  });

  it('SGD and AdamW updates match hand-computed PyTorch semantics', async () => {
    const { Optimizer } = await import('../src/ml/index.js');
    const p = new Map([['head/kernel', tf.variable(tf.tensor1d([1, -2]))], ['head/bias', tf.variable(tf.tensor1d([0.5]))]]);
    // apply() disposes the gradients it used: a fresh map per step.
    const g = (): Map<string, tf.Tensor> => new Map<string, tf.Tensor>([['head/kernel', tf.tensor1d([0.1, 0.2])], ['head/bias', tf.tensor1d([1])]]);
    const sgd = new Optimizer({ kind: 'sgd', weightDecay: 0.1 });
    sgd.apply(p, g(), 0.5);
    sgd.apply(p, g(), 0.5);
    // step1: d = g + 0.1 p; buf = d; p -= 0.5 buf. step2: buf = 0.9 buf + d'.
    let w = [1, -2];
    let buf = [0, 0];
    for (let s = 0; s < 2; s++) {
      const d = w.map((x, i) => [0.1, 0.2][i]! + 0.1 * x);
      buf = buf.map((b, i) => 0.9 * b + d[i]!);
      w = w.map((x, i) => x - 0.5 * buf[i]!);
    }
    const got = p.get('head/kernel')!.dataSync();
    expect(got[0]).toBeCloseTo(w[0]!, 5);
    expect(got[1]).toBeCloseTo(w[1]!, 5);
    // Head bias: no decay -> 0.5 - 0.5*1 - 0.5*(0.9+1).
    expect(p.get('head/bias')!.dataSync()[0]).toBeCloseTo(0.5 - 0.5 - 0.5 * 1.9, 5);
    const q = new Map([['x/kernel', tf.variable(tf.tensor1d([1]))]]);
    const adam = new Optimizer({ kind: 'adamw', weightDecay: 0.1 });
    adam.apply(q, new Map([['x/kernel', tf.tensor1d([0.3])]]), 0.01);
    // One AdamW step: p(1 - lr wd) - lr * m̂/(sqrt(v̂)+eps) = 0.999 - 0.01 * 0.3/0.3 = 0.989.
    expect(q.get('x/kernel')!.dataSync()[0]).toBeCloseTo(0.989, 6);
    sgd.dispose();
    adam.dispose();
  });
});

describe('npz loader', () => {
  const cfg = tinyWith({ numClasses: 3 });
  function fakeNpz(c: ViTConfig, mutate?: (m: Map<string, NpyArray>) => void): Map<string, NpyArray> {
    const rng = createRng(5);
    const arrays = new Map<string, NpyArray>();
    for (const row of npzLayout(c)) {
      const n = row.shape.reduce((a, b) => a * b, 1);
      arrays.set(row.npz, { dtype: 'f4', shape: row.shape, data: Float32Array.from({ length: n }, () => rng.normal()) });
    }
    // Present in the public file and ignored by the loader.
    arrays.set('pre_logits/kernel', { dtype: 'f4', shape: [c.width, c.width], data: new Float32Array(c.width * c.width) });
    arrays.set('head/kernel', { dtype: 'f8', shape: [c.width, 7], data: new Float64Array(c.width * 7) });
    mutate?.(arrays);
    return arrays;
  }

  for (const compress of [false, true]) {
    it(`round trip of a tiny npz in the google-research naming (${compress ? 'deflate' : 'stored'})`, async () => {
      const arrays = fakeNpz(cfg);
      const dir = await mkdtemp(join(tmpdir(), 'npz-'));
      const path = join(dir, 'tiny.npz');
      await writeFile(path, encodeNpz(arrays, compress));
      const m = await loadViTNpz(path, cfg, 0);
      expect(m.ok).toBe(true);
      if (!m.ok) return;
      const q = arrays.get('Transformer/encoderblock_1/MultiHeadDotProductAttention_1/query/kernel') as NpyArray;
      expect(Array.from(m.value.p('Transformer/encoderblock_1/MultiHeadDotProductAttention_1/query/kernel').dataSync())).toEqual(Array.from(q.data as Float32Array));
      const pk = arrays.get('embedding/kernel') as NpyArray;
      expect(Array.from(m.value.p('embedding/kernel').dataSync())).toEqual(Array.from(pk.data as Float32Array));
      expect(m.value.p('head/kernel').shape).toEqual([16, 3]);
      // The npz reader itself: every array back with shape and dtype.
      const back = readNpz(encodeNpz(arrays, compress));
      expect(back.ok).toBe(true);
      if (back.ok) {
        expect(back.value.get('head/kernel')?.dtype).toBe('f8');
        expect(back.value.get('Transformer/posembed_input/pos_embedding')?.shape).toEqual([1, 5, 16]);
      }
      m.value.dispose();
    });
  }

  for (const file of ['ml-tiny-vit.npz', 'ml-tiny-vit-deflate.npz']) {
    it(`reads ${file}, written by numpy 1.24 np.savez${file.includes('deflate') ? '_compressed' : ''} (zip64 local headers)`, async () => {
      const m = await loadViTNpz(join(import.meta.dirname, 'fixtures', file), cfg, 0);
      expect(m.ok).toBe(true);
      if (!m.ok) return;
      // Reference values printed by numpy when the fixture was written.
      const q = m.value.p('Transformer/encoderblock_1/MultiHeadDotProductAttention_1/query/kernel').dataSync();
      expect(q[3 * 16 + 1 * 8 + 5]).toBeCloseTo(0.9961053133010864, 7);
      expect(Array.from(q).reduce((a, b) => a + b, 0)).toBeCloseTo(16.404430389404297, 3);
      const out = m.value.p('Transformer/encoderblock_0/MultiHeadDotProductAttention_1/out/kernel').dataSync();
      expect(out[(1 * 8 + 2) * 16 + 7]).toBeCloseTo(-0.5128902196884155, 7);
      m.value.dispose();
    });
  }

  it('a missing array is an error naming it', () => {
    const arrays = fakeNpz(cfg, (m) => m.delete('Transformer/encoderblock_1/MlpBlock_3/Dense_0/bias'));
    const r = backboneFromNpz(readNpzOk(encodeNpz(arrays)), cfg, 'x.npz');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.reason).toBe('missing-array');
      expect(r.error.message).toContain('Transformer/encoderblock_1/MlpBlock_3/Dense_0/bias');
    }
  });

  it('a mis-shaped array is an error with expected vs actual shape', () => {
    const arrays = fakeNpz(cfg, (m) => m.set('Transformer/encoderblock_0/MultiHeadDotProductAttention_1/out/kernel', { dtype: 'f4', shape: [16, 16], data: new Float32Array(256) }));
    const r = backboneFromNpz(readNpzOk(encodeNpz(arrays)), cfg, 'x.npz');
    expect(r.ok).toBe(false);
    if (!r.ok && r.error.reason === 'shape-mismatch') {
      expect(r.error.array).toBe('Transformer/encoderblock_0/MultiHeadDotProductAttention_1/out/kernel');
      expect(r.error.expected).toEqual([2, 8, 16]);
      expect(r.error.actual).toEqual([16, 16]);
      expect(r.error.message).toMatch(/\[16, 16\], expected \[2, 8, 16\]/);
    } else expect.fail('expected a shape-mismatch error');
  });

  it('garbage and missing files are errors, not throws', async () => {
    expect(readNpz(new Uint8Array([1, 2, 3, 4])).ok).toBe(false);
    const r = await loadViTNpz('/nonexistent/ViT-B_16.npz', cfg, 0);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.reason).toBe('unreadable');
  });
});

function readNpzOk(bytes: Uint8Array): Map<string, NpyArray> {
  const r = readNpz(bytes);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

void TINY;
