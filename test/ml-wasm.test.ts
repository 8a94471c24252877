/**
 * The wasm fast paths pinned to the plain ones: the slice-by-slice XNNPACK batched matMul (which
 * relies on tfjs-backend-wasm internals) against tf.matMul, and the whole model's logits and
 * gradients with fast kernels against the plain autodiff path, on the wasm backend.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { createViT, crossEntropy, methodMode, selectBackend } from '../src/ml/index.js';
import { bmm, bmmUsesWasmSlices } from '../src/ml/wasmMatmul.js';
import { colSum, dropout, dropoutMask, gelu, layerNorm, placePrompts, softmax } from '../src/ml/layers.js';
import { simdKernels } from '../src/ml/simd/index.js';
import { spawnSync } from 'node:child_process';
import { createRng } from '../src/util/rng.js';
import { randomData, tinyWith } from './ml-helpers.js';

beforeAll(async () => {
  const b = await selectBackend('wasm');
  expect(b.ok).toBe(true);
  if (b.ok) expect(b.value.simd).toBe(true);
});

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5): void => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs((a[i] as number) - (b[i] as number))).toBeLessThan(tol * (1 + Math.abs(b[i] as number)));
};

describe('backend selection', () => {
  it('auto falls through the missing native packages to wasm (SIMD) and records why', async () => {
    const saved = process.env['VPT_BACKEND'];
    delete process.env['VPT_BACKEND'];
    const b = await selectBackend();
    expect(b.ok).toBe(true);
    if (b.ok) {
      expect(['tensorflow-gpu', 'tensorflow', 'wasm']).toContain(b.value.backend);
      if (b.value.backend === 'wasm') {
        expect(b.value.skipped.map((s) => s.split(':')[0])).toEqual(['tensorflow-gpu', 'tensorflow']);
        expect(b.value.simd).toBe(true);
      }
      expect(b.value.tfjsVersion).toBe('4.22.0');
    }
    process.env['VPT_BACKEND'] = 'cpu';
    const c = await selectBackend();
    expect(c.ok && c.value.backend).toBe('cpu');
    // An explicit argument wins over the environment.
    const w = await selectBackend('wasm');
    expect(w.ok && w.value.backend).toBe('wasm');
    const bad = await selectBackend('tpu');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.reason).toBe('unknown-backend');
    if (saved === undefined) delete process.env['VPT_BACKEND'];
    else process.env['VPT_BACKEND'] = saved;
  });
});

describe('wasm slice-by-slice batched matMul', () => {
  it('is active on wasm and equals tf.matMul, forward and gradients, with and without transposed b', () => {
    expect(bmmUsesWasmSlices()).toBe(true);
    const rng = createRng(1);
    const rand = (shape: number[]): tf.Tensor3D => tf.tensor3d(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape as [number, number, number]);
    const a = rand([6, 9, 5]);
    const b = rand([6, 5, 7]);
    const bt = rand([6, 7, 5]);
    close(bmm(a, b).dataSync(), tf.matMul(a, b).dataSync());
    close(bmm(a, bt, true).dataSync(), tf.matMul(a, bt, false, true).dataSync());
    const w = rand([6, 9, 7]);
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(bmm(x as tf.Tensor3D, y as tf.Tensor3D), w)))([a, b]);
    const [pa, pb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D), w)))([a, b]);
    close((ga as tf.Tensor).dataSync(), (pa as tf.Tensor).dataSync());
    close((gb as tf.Tensor).dataSync(), (pb as tf.Tensor).dataSync());
  });

  it('does not leak tensors or corrupt its inputs', () => {
    const a = tf.randomNormal([4, 3, 2], 0, 1, 'float32', 2) as tf.Tensor3D;
    const b = tf.randomNormal([4, 2, 3], 0, 1, 'float32', 3) as tf.Tensor3D;
    const before = a.dataSync().slice();
    const n0 = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) bmm(a, b).dispose();
    expect(tf.memory().numTensors).toBe(n0);
    expect(Array.from(a.dataSync())).toEqual(Array.from(before));
  });
});

describe('patchify', () => {
  it('forwardWithTap on RGB images equals forwardPatches on JS-patchified input (5-D transpose on wasm)', async () => {
    const { patchify } = await import('../src/ml/index.js');
    const c = tinyWith({ channels: 3, imageSize: 8, patchSize: 4 });
    const m = createViT(c, 2);
    if (!m.ok) throw new Error(m.error.message);
    const rng = createRng(8);
    const images = Float32Array.from({ length: 2 * 8 * 8 * 3 }, () => rng.normal());
    const a = m.value.forwardWithTap(tf.tensor4d(images, [2, 8, 8, 3])).dataSync();
    const b = m.value.forwardPatches(tf.tensor3d(patchify(images, 2, c), [2, 4, 48])).dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
    m.value.dispose();
  });
});

describe('fast kernels equal the plain path on wasm', () => {
  for (const method of ['ft', 'vpt-deep', 'mixed'] as const) {
    it(method, () => {
      const c = tinyWith({ promptLength: method === 'ft' ? 0 : 2 });
      const m = createViT(c, 4);
      if (!m.ok) throw new Error(m.error.message);
      const model = m.value;
      model.mode = methodMode(method);
      const d = randomData(4, 5);
      const run = (kernels: 'fast' | 'plain'): Float32Array[] => {
        model.kernels = kernels;
        return tf.tidy(() => {
          const x = tf.tensor4d(d.images, [4, 8, 8, 1]);
          const y = tf.tensor1d(d.labels, 'int32');
          const vars = model.trainableVariables();
          const { value, grads } = tf.variableGrads(() => crossEntropy(model.forwardWithTap(x), y, c.numClasses), vars);
          return [value.dataSync() as Float32Array, ...vars.map((v) => (grads[v.name] as tf.Tensor).dataSync() as Float32Array)];
        });
      };
      const fast = run('fast');
      const plain = run('plain');
      fast.forEach((f, i) => close(f, plain[i] as Float32Array, 1e-4));
      model.dispose();
    });
  }
});

describe('wasm heap kernels equal the generic ops', () => {
  const gradsOf = (f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): Float32Array[] =>
    tf.tidy(() => {
      const value = f(...xs);
      const grads = tf.grads((...ins: tf.Tensor[]) => tf.sum(tf.mul(f(...ins), dy)))(xs);
      return [value.dataSync() as Float32Array, ...grads.map((g) => g.dataSync() as Float32Array)];
    });

  it('Identity shares data on wasm: a clone survives its source and frees nothing twice', () => {
    const before = tf.memory().numBytes;
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.clone(a);
    expect(b.dataId).toBe(a.dataId);
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    b.dispose();
    expect(tf.memory().numBytes).toBe(before);
  });

  it('GELU with its slope saved in the forward pass equals exact-erf GELU autodiff (values -6..6)', () => {
    const rng = createRng(11);
    // 63 x 65 = 4095 values: the kernel's one-lane tail (n mod 4 = 3) is covered too.
    const x = tf.tensor2d(Float32Array.from({ length: 4095 }, () => (rng.next() - 0.5) * 12), [63, 65]);
    const dy = tf.tensor2d(Float32Array.from({ length: 4095 }, () => rng.normal()), [63, 65]);
    const [fv, fg] = gradsOf((t) => gelu(t, 'fast'), [x], dy);
    const [pv, pg] = gradsOf((t) => gelu(t, 'plain'), [x], dy);
    close(fv as Float32Array, pv as Float32Array, 2e-6);
    close(fg as Float32Array, pg as Float32Array, 2e-6);
    // Without a tape the fast path computes the value alone and keeps nothing.
    const before = tf.memory().numTensors;
    const y = gelu(x, 'fast');
    close(y.dataSync(), pv as Float32Array, 2e-6);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, dy]);
  });

  for (const d of [8, 6]) {
    it(`LayerNorm ${d % 4 === 0 ? 'in SIMD' : 'through tf ops (D not a multiple of 4)'}: values and the x, scale and bias gradients`, () => {
      const rng = createRng(13);
      const x = tf.tensor2d(Float32Array.from({ length: 10 * d }, () => rng.normal() * 3 + 1), [10, d]);
      const scale = tf.tensor1d(Float32Array.from({ length: d }, () => 1 + rng.normal() * 0.1));
      const bias = tf.tensor1d(Float32Array.from({ length: d }, () => rng.normal() * 0.1));
      const dy = tf.tensor2d(Float32Array.from({ length: 10 * d }, () => rng.normal()), [10, d]);
      const f = (kernels: 'fast' | 'plain', train: boolean) => (a: tf.Tensor, sc: tf.Tensor, b: tf.Tensor) => layerNorm(a, sc as tf.Tensor1D, b as tf.Tensor1D, train, kernels);
      const plain = gradsOf(f('plain', true), [x, scale, bias], dy);
      const fast = gradsOf(f('fast', true), [x, scale, bias], dy);
      fast.forEach((v, i) => close(v, plain[i] as Float32Array, 1e-5));
      const frozen = tf.tidy(() => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f('fast', false)(a, scale, bias), dy)))(x).dataSync() as Float32Array);
      close(frozen, plain[1] as Float32Array, 1e-5);
      // Without a tape: the same value; in SIMD no xhat is written and the statistics are freed
      // (the only new data buffer is y's; the reshapes share data).
      const before = tf.memory().numDataBuffers;
      const y = f('fast', true)(x, scale, bias);
      if (d % 4 === 0) expect(tf.memory().numDataBuffers - before).toBe(1);
      close(y.dataSync(), plain[0] as Float32Array, 1e-5);
      y.dispose();
      tf.dispose([x, scale, bias, dy]);
    });
  }

  it('dropout drawn in wasm is bitwise the JS mask stream (values and gradient), for an odd size and seed 0', () => {
    for (const [size, seed] of [[1037, 12345], [64, 0], [4096, 0xfffffff0]] as const) {
      const rng = createRng(14);
      const x = tf.tensor1d(Float32Array.from({ length: size }, () => rng.normal()));
      const dy = tf.tensor1d(Float32Array.from({ length: size }, () => rng.normal()));
      const mask = dropoutMask(size, 0.1, seed);
      const [v, g] = gradsOf((t) => dropout(t, 0.1, seed), [x], dy);
      const xs = x.dataSync();
      const ds = dy.dataSync();
      expect(Array.from(v as Float32Array)).toEqual(Array.from(xs, (xi, i) => Math.fround(xi * (mask[i] as number))));
      expect(Array.from(g as Float32Array)).toEqual(Array.from(ds, (di, i) => Math.fround(di * (mask[i] as number))));
      expect(mask.filter((m) => m === 0).length / size).toBeGreaterThan(0.03);
      tf.dispose([x, dy]);
    }
  });

  it('softmax backward in SIMD equals autodiff of tf.softmax (row length 75, not a multiple of 4)', () => {
    const rng = createRng(16);
    const x = tf.tensor3d(Float32Array.from({ length: 6 * 5 * 75 }, () => rng.normal() * 2), [6, 5, 75]);
    const dy = tf.tensor3d(Float32Array.from({ length: 6 * 5 * 75 }, () => rng.normal()), [6, 5, 75]);
    const fast = gradsOf((t) => softmax(t, 'fast'), [x], dy);
    const plain = gradsOf((t) => softmax(t, 'plain'), [x], dy);
    fast.forEach((v, i) => close(v, plain[i] as Float32Array, 1e-6));
    tf.dispose([x, dy]);
  });

  it('column sums in SIMD equal the ones @ x matMul', () => {
    const rng = createRng(15);
    const x = tf.tensor2d(Float32Array.from({ length: 37 * 12 }, () => rng.normal()), [37, 12]);
    const simd = colSum(x).dataSync();
    const ref = tf.tidy(() => tf.matMul(tf.ones([1, 37]), x).dataSync());
    close(simd, ref, 1e-6);
    x.dispose();
  });

  for (const replace of [false, true]) {
    it(`prompt placement (${replace ? 'replace, deep layers' : 'insert, layer 0'}) with a dropout mask: values and both gradients`, () => {
      const rng = createRng(12);
      const [B, T, D, P] = [3, replace ? 7 : 5, 4, 2];
      const x = tf.tensor3d(Float32Array.from({ length: B * T * D }, () => rng.normal()), [B, T, D]);
      const prompt = tf.tensor2d(Float32Array.from({ length: P * D }, () => rng.normal()), [P, D]);
      const mask = dropoutMask(B * P * D, 0.3, 99);
      const Tout = replace ? T : T + P;
      const dy = tf.tensor3d(Float32Array.from({ length: B * Tout * D }, () => rng.normal()), [B, Tout, D]);
      const f = (kernels: 'fast' | 'plain') => (a: tf.Tensor, p: tf.Tensor) => placePrompts(a as tf.Tensor3D, p as tf.Tensor2D, mask, replace, kernels);
      const fast = gradsOf(f('fast'), [x, prompt], dy);
      const plain = gradsOf(f('plain'), [x, prompt], dy);
      fast.forEach((v, i) => close(v, plain[i] as Float32Array, 1e-6));
      tf.dispose([x, prompt, dy]);
    });
  }
});

describe('SIMD kernels', () => {
  it('are active on the wasm backend, and kernels.generated.ts is assembled from kernels.wat as committed', async () => {
    expect(simdKernels()).toBeDefined();
    const r = spawnSync(process.execPath, ['scripts/build-simd.mjs', '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
