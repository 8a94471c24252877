/**
 * The data-parallel training step (src/ml/parallel): shard sizes, bitwise reproducibility with
 * two workers, agreement with one worker up to float summation order, phase changes reaching the
 * worker, a crashed worker failing the run with a clear error, and worker tear-down.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrainStepper } from '../src/ml/parallel/stepper.js';
import { createStepper, defaultWorkers, methodMode, Optimizer, patchify, selectBackend, shardSizes, train, type EpochRecord, type Method, type TrainOptions, type ViT, type ViTConfig } from '../src/ml/index.js';
import { bitsEqual, build, randomData, tinyWith } from './ml-helpers.js';

// Every stepper train() creates, so a test can reach its worker threads.
const created = vi.hoisted(() => [] as TrainStepper[]);
vi.mock('../src/ml/parallel/stepper.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../src/ml/parallel/stepper.js')>();
  return {
    ...mod,
    createStepper: async (...args: Parameters<typeof mod.createStepper>) => {
      const r = await mod.createStepper(...args);
      if (r.ok) created.push(r.value);
      return r;
    },
  };
});

let tmp: string;
beforeAll(async () => {
  expect((await selectBackend('cpu')).ok).toBe(true);
  tmp = await mkdtemp(join(tmpdir(), 'ml-parallel-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const weights = (m: ViT): Map<string, Float32Array> => new Map(m.specs.map((s) => [s.name, m.p(s.name).dataSync().slice() as Float32Array]));
const curves = (h: readonly EpochRecord[]): unknown => h.map(({ imgPerSec: _t, ...rest }) => rest);

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)) / (1 + Math.abs(b[i] as number)));
  return worst;
}

async function trainOnce(method: Method, cfg: ViTConfig, workers: number, extra: Partial<TrainOptions> = {}): Promise<{ model: ViT; history: EpochRecord[] }> {
  const model = build(cfg, 5);
  const r = await train({
    model, method, train: randomData(24, 8), evals: [{ name: 'val', data: randomData(8, 9) }], epochs: 4, warmupEpochs: 1, batchSize: 8,
    baseLr: method === 'ft' ? 0.05 : 1, weightDecay: 0.01, seed: 44, ft: { epochs: 2, baseLr: 0.05, warmupEpochs: 0 }, workers, ...extra,
  });
  if (!r.ok) throw new Error(r.error.message);
  return { model, history: r.value.history };
}

describe('shards', () => {
  it('contiguous sizes, the larger first, never empty; default worker counts per backend', () => {
    expect(shardSizes(64, 2)).toEqual([32, 32]);
    expect(shardSizes(7, 2)).toEqual([4, 3]);
    expect(shardSizes(5, 3)).toEqual([2, 2, 1]);
    expect(shardSizes(1, 2)).toEqual([1]);
    expect(shardSizes(9, 1)).toEqual([9]);
    expect(defaultWorkers('wasm')).toBe(2);
    expect(defaultWorkers('cpu')).toBe(2);
    expect(defaultWorkers('tensorflow')).toBe(1);
    expect(defaultWorkers('tensorflow-gpu')).toBe(1);
  });
});

describe('workers = 2', () => {
  it('two runs give bitwise the same weights and curves (dropout and prompt dropout on)', async () => {
    const cfg = tinyWith({ promptLength: 2, dropout: 0.1, promptDropout: 0.1 });
    const a = await trainOnce('mixed', cfg, 2);
    const b = await trainOnce('mixed', cfg, 2);
    expect(curves(b.history)).toEqual(curves(a.history));
    for (const s of a.model.specs) expect(bitsEqual(a.model.p(s.name).dataSync() as Float32Array, b.model.p(s.name).dataSync() as Float32Array), s.name).toBe(true);
    // The shards draw different dropout masks than one thread does, so workers = 1 differs.
    const one = await trainOnce('mixed', cfg, 1);
    expect(curves(one.history)).not.toEqual(curves(a.history));
    for (const m of [a.model, b.model, one.model]) m.dispose();
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: agrees with workers = 1 up to summation order (no dropout), across ft-then-pt's phase change`, async () => {
      expect((await selectBackend(backend)).ok).toBe(true);
      try {
        const cfg = tinyWith({ promptLength: 2 });
        const one = await trainOnce('ft-then-pt', cfg, 1);
        const two = await trainOnce('ft-then-pt', cfg, 2);
        expect(two.history.map((h) => h.phase)).toEqual(['ft', 'ft', 'pt', 'pt']);
        two.history.forEach((h, i) => {
          const ref = one.history[i] as EpochRecord;
          expect(Math.abs(h.train_loss - ref.train_loss)).toBeLessThan(1e-4);
          expect(Math.abs((h.evals['val']?.loss ?? NaN) - (ref.evals['val']?.loss ?? NaN))).toBeLessThan(1e-4);
        });
        // 12 steps of AdamW, then SGD on prompts: the worker must follow both phases' weights.
        const w1 = weights(one.model);
        const w2 = weights(two.model);
        // Except the attention key biases: their gradient is zero in exact arithmetic (softmax ignores a
        // constant added to every key), so AdamW divides rounding noise by its own size and moves them
        // by about lr·sign(noise), which differs between summation orders (measured: 2e-3; others < 1e-7).
        for (const [name, v] of w1) if (!name.endsWith('/key/bias')) expect(maxRelDiff(w2.get(name) as Float32Array, v), name).toBeLessThan(1e-6);
        one.model.dispose();
        two.model.dispose();
      } finally {
        expect((await selectBackend('cpu')).ok).toBe(true);
      }
    });
  }

  it('a batch of one image (17 images, batch 8) still publishes its update to the worker', async () => {
    const cfg = tinyWith({ promptLength: 2 });
    const extra = { train: randomData(17, 8) };
    const one = await trainOnce('vpt-deep', cfg, 1, extra);
    const two = await trainOnce('vpt-deep', cfg, 2, extra);
    // A worker left on the weights from before the 1-image step drifts from the next epoch on.
    two.history.forEach((h, i) => expect(Math.abs(h.train_loss - (one.history[i] as EpochRecord).train_loss), `epoch ${i}`).toBeLessThan(1e-4));
    const w1 = weights(one.model);
    for (const [name, v] of weights(two.model)) expect(maxRelDiff(v, w1.get(name) as Float32Array), name).toBeLessThan(1e-5);
    one.model.dispose();
    two.model.dispose();
  });

  it('one step: the combined gradient equals the whole-batch gradient within float rounding', async () => {
    const cfg = tinyWith({ promptLength: 2 });
    const data = randomData(8, 3);
    const patches = patchify(data.images, 8, cfg);
    const after: Map<string, Float32Array>[] = [];
    for (const workers of [1, 2, 3]) {
      const m = build(cfg, 2);
      m.mode = methodMode('mixed');
      const s = await createStepper(m, { workers, backend: 'cpu' });
      if (!s.ok) throw new Error(s.error.message);
      const opt = new Optimizer({ kind: 'sgd', weightDecay: 0 });
      const r = await s.value.step({ patches, labels: data.labels, count: 8, dropoutSeed: 1 }, opt, 1);
      expect(r.ok).toBe(true);
      await s.value.dispose();
      after.push(weights(m));
      m.dispose();
    }
    const [w1, w2, w3] = after as [Map<string, Float32Array>, Map<string, Float32Array>, Map<string, Float32Array>];
    for (const [name, v] of w1) {
      expect(maxRelDiff(w2.get(name) as Float32Array, v), name).toBeLessThan(1e-5);
      expect(maxRelDiff(w3.get(name) as Float32Array, v), name).toBeLessThan(1e-5);
    }
  });

  it('tf.memory().numTensors stays flat across steps on the main thread', async () => {
    const m = build(tinyWith({ promptLength: 2, dropout: 0.1, promptDropout: 0.1 }));
    const base = tf.memory().numTensors;
    const counts: number[] = [];
    const r = await train({ model: m, method: 'ft-then-pt', train: randomData(24, 5), evals: [{ name: 'v', data: randomData(8, 6) }], epochs: 4, warmupEpochs: 1, batchSize: 8, baseLr: 1, weightDecay: 0.01, seed: 4, workers: 2, onStep: () => { counts.push(tf.memory().numTensors); } });
    expect(r.ok).toBe(true);
    expect(counts.length).toBe(12);
    expect(new Set(counts).size).toBe(1);
    expect(tf.memory().numTensors).toBe(base);
    m.dispose();
  });
});

describe('worker failure and tear-down', () => {
  it('a worker terminated mid-step fails the step with a clear error, and later steps fail at once', async () => {
    const cfg = tinyWith({ dropout: 0.1 });
    const m = build(cfg);
    m.mode = methodMode('ft');
    const data = randomData(8, 3);
    const s = await createStepper(m, { workers: 2, backend: 'cpu' });
    if (!s.ok) throw new Error(s.error.message);
    const opt = new Optimizer({ kind: 'adamw', weightDecay: 0 });
    const batch = { patches: patchify(data.images, 8, cfg), labels: data.labels, count: 8, dropoutSeed: 1 };
    expect((await s.value.step(batch, opt, 0.01)).ok).toBe(true);
    const before = weights(m);
    const pending = s.value.step(batch, opt, 0.01);
    void s.value.threads[0]?.terminate();
    const r = await pending;
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.reason).toBe('worker-failed');
      expect(r.error.message).toMatch(/training worker 1 .*exited with code/);
    }
    // No update from a failed step.
    for (const [name, v] of before) expect(bitsEqual(m.p(name).dataSync() as Float32Array, v), name).toBe(true);
    const again = await s.value.step(batch, opt, 0.01);
    expect(!again.ok && again.error.message).toMatch(/exited with code/);
    await s.value.dispose();
    m.dispose();
  });

  it('train() returns a worker-failed error (not a hang) when its worker dies', async () => {
    created.length = 0;
    const m = build(tinyWith({}));
    const r = await train({
      model: m, method: 'ft', train: randomData(32, 1), epochs: 3, warmupEpochs: 0, batchSize: 8, baseLr: 0.1, weightDecay: 0, seed: 1, workers: 2,
      onStep: async (st) => {
        if (st.epoch === 1 && st.step === 1) await created[0]?.threads[0]?.terminate();
      },
    });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.reason).toBe('worker-failed');
      expect(r.error.message).toMatch(/epoch 2, step 3: training worker 1 .*exited with code/);
    }
    m.dispose();
  });

  it('workers are terminated when training ends and when it is aborted', async () => {
    created.length = 0;
    const m = build(tinyWith({}));
    const ok = await train({ model: m, method: 'linear', train: randomData(16, 1), epochs: 1, warmupEpochs: 0, batchSize: 8, baseLr: 1, weightDecay: 0, seed: 1, workers: 3 });
    expect(ok.ok).toBe(true);
    const ac = new AbortController();
    const aborted = await train({
      model: m, method: 'linear', train: randomData(16, 1), epochs: 5, warmupEpochs: 0, batchSize: 8, baseLr: 1, weightDecay: 0, seed: 1, workers: 2, signal: ac.signal,
      onStep: (st) => { if (st.epoch === 1) ac.abort(); },
    });
    expect(!aborted.ok && aborted.error.reason).toBe('aborted');
    expect(created.map((s) => s.threads.length)).toEqual([2, 1]);
    // A Worker's threadId is -1 once its thread has stopped.
    for (const s of created) for (const w of s.threads) expect(w.threadId).toBe(-1);
    m.dispose();
  });

  it('a worker that cannot start its backend is an error value naming the cause', async () => {
    const m = build(tinyWith({}));
    const s = await createStepper(m, { workers: 2, backend: 'tpu' });
    expect(s.ok).toBe(false);
    if (!s.ok) expect(s.error.message).toMatch(/training worker 1 did not start: unknown backend "tpu"/);
    m.dispose();
  });

  it('a worker that does not start in time is an error value naming the limit', async () => {
    const model = build(tinyWith({}));
    const r = await createStepper(model, { workers: 2, backend: 'cpu', startTimeoutMs: 1 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toBe('training worker 1 did not start: did not report ready within 0.001 s');
    model.dispose();
  });

  it('bad worker counts are rejected', async () => {
    const m = build(tinyWith({}));
    const r = await train({ model: m, method: 'linear', train: randomData(8, 1), epochs: 1, warmupEpochs: 0, batchSize: 8, baseLr: 1, weightDecay: 0, seed: 1, workers: 0 });
    expect(!r.ok && r.error.reason).toBe('bad-options');
    m.dispose();
  });
});
