import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluate, paramsToNamed, selectBackend, train, TRAIN_STATE_FILE, type EpochRecord, type Method, type ViT, type ViTConfig } from '../src/ml/index.js';
import { decodeSafetensors, readSafetensorsHeader } from '../src/io/safetensors.js';
import { bitsEqual, build, randomData, tinyWith } from './ml-helpers.js';

let tmp: string;
beforeAll(async () => {
  expect((await selectBackend('cpu')).ok).toBe(true);
  tmp = await mkdtemp(join(tmpdir(), 'ml-train-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function snapshot(m: ViT): Map<string, Float32Array> {
  return new Map(m.specs.map((s) => [s.name, m.p(s.name).dataSync().slice() as Float32Array]));
}

const curves = (h: readonly EpochRecord[]): unknown => h.map(({ imgPerSec: _t, ...rest }) => rest);

const promptCfg = (method: Method): ViTConfig =>
  tinyWith({ promptLength: method === 'linear' || method === 'ft' ? 0 : 2, promptMode: method === 'vpt-shallow' ? 'shallow' : 'deep' });

describe('what trains', () => {
  for (const method of ['vpt-shallow', 'vpt-deep', 'linear'] as const) {
    it(`${method}: every backbone weight bitwise unchanged; ${method === 'linear' ? 'head' : 'prompts and head'} change`, async () => {
      const m = build(tinyWith({ ...promptCfg(method), dropout: 0.1, promptDropout: 0.1 }));
      const before = snapshot(m);
      const r = await train({ model: m, method, train: randomData(16, 3), epochs: 2, warmupEpochs: 0, batchSize: 8, baseLr: 2, weightDecay: 0.01, seed: 1 });
      expect(r.ok).toBe(true);
      for (const s of m.specs) {
        const same = bitsEqual(before.get(s.name) as Float32Array, m.p(s.name).dataSync() as Float32Array);
        if (s.group === 'backbone') expect(same, s.name).toBe(true);
        else expect(same, s.name).toBe(false);
      }
      m.dispose();
    });
  }

  it('mixed: prompts, every backbone weight and the head all change', async () => {
    const m = build(tinyWith({ promptLength: 2, dropout: 0.1 }));
    const before = snapshot(m);
    const r = await train({ model: m, method: 'mixed', train: randomData(16, 3), epochs: 2, warmupEpochs: 0, batchSize: 8, baseLr: 1, weightDecay: 0.01, seed: 1 });
    expect(r.ok).toBe(true);
    for (const s of m.specs) expect(bitsEqual(before.get(s.name) as Float32Array, m.p(s.name).dataSync() as Float32Array), s.name).toBe(false);
    m.dispose();
  });

  it('a prompt method on a model without prompts is an error value', async () => {
    const m = build(tinyWith({}));
    const r = await train({ model: m, method: 'vpt-deep', train: randomData(4, 3), epochs: 1, warmupEpochs: 0, batchSize: 4, baseLr: 1, weightDecay: 0, seed: 1 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.reason).toBe('bad-options');
    m.dispose();
  });
});

describe('overfits a tiny batch to 100% train accuracy', () => {
  const settings: Record<Method, { baseLr: number; epochs: number }> = {
    linear: { baseLr: 64, epochs: 30 },
    ft: { baseLr: 0.5, epochs: 25 },
    'vpt-shallow': { baseLr: 64, epochs: 30 },
    'vpt-deep': { baseLr: 64, epochs: 30 },
    mixed: { baseLr: 8, epochs: 30 },
    'ft-then-pt': { baseLr: 64, epochs: 40 },
  };
  for (const method of Object.keys(settings) as Method[]) {
    it(method, async () => {
      const m = build(promptCfg(method), 2);
      const data = randomData(8, 4);
      const s = settings[method];
      // One thread: these check the methods; the data-parallel step has its own tests (ml-parallel).
      const r = await train({
        model: m, method, train: data, epochs: s.epochs, warmupEpochs: 0, batchSize: 8, baseLr: s.baseLr, weightDecay: 0, seed: 3,
        ft: { baseLr: 0.5, warmupEpochs: 0 }, workers: 1,
      });
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const last = r.value.history[r.value.history.length - 1] as EpochRecord;
      // Eval mode (dropout off) on the same images.
      expect((await evaluate(m, data)).metrics.top1).toBe(1);
      expect(last.train_loss).toBeLessThan((r.value.history[0] as EpochRecord).train_loss);
      m.dispose();
    });
  }
});

describe('memory', () => {
  it('tf.memory().numTensors stays flat across training steps and returns to the model size', async () => {
    const m = build(tinyWith({ promptLength: 2, dropout: 0.1, promptDropout: 0.1 }));
    const base = tf.memory().numTensors;
    const counts: number[] = [];
    const r = await train({ model: m, method: 'mixed', train: randomData(24, 5), evals: [{ name: 'v', data: randomData(8, 6) }], epochs: 3, warmupEpochs: 1, batchSize: 8, baseLr: 1, weightDecay: 0.01, seed: 4, workers: 1, onStep: () => { counts.push(tf.memory().numTensors); } });
    expect(r.ok).toBe(true);
    expect(counts.length).toBe(9);
    expect(new Set(counts).size).toBe(1);
    expect(tf.memory().numTensors).toBe(base);
    m.dispose();
  });
});

/** Interrupt deterministically after `k` epochs, resume in a fresh model; compare with an uninterrupted run. */
async function resumeEqualsUninterrupted(method: Method, k: number, backend: 'cpu' | 'wasm'): Promise<void> {
  expect((await selectBackend(backend)).ok).toBe(true);
  const cfg = tinyWith({ promptLength: method === 'ft' ? 0 : 2, dropout: 0.1, promptDropout: 0.1 });
  const opts = { method, train: randomData(20, 8), evals: [{ name: 'val', data: randomData(8, 9) }], epochs: 5, warmupEpochs: 2, batchSize: 8, baseLr: method === 'ft' ? 0.05 : 1, weightDecay: 0.01, seed: 44, ft: { epochs: 2, baseLr: 0.05 }, runKey: 'r', workers: 2 };
  const full = build(cfg, 5);
  const a = await train({ ...opts, model: full, checkpointDir: join(tmp, `${backend}-${method}-a`) });
  const dir = join(tmp, `${backend}-${method}-b`);
  const first = build(cfg, 5);
  const stopped = await train({ ...opts, model: first, checkpointDir: dir, stopAfterEpochs: k });
  expect(stopped.ok && !stopped.value.completed).toBe(true);
  first.dispose();
  const fresh = build(cfg, 5);
  const b = await train({ ...opts, model: fresh, checkpointDir: dir });
  expect(a.ok && b.ok).toBe(true);
  if (!a.ok || !b.ok) return;
  expect(b.value.resumedFrom).toBe(k);
  expect(curves(b.value.history)).toEqual(curves(a.value.history));
  for (const s of full.specs) expect(bitsEqual(full.p(s.name).dataSync() as Float32Array, fresh.p(s.name).dataSync() as Float32Array), s.name).toBe(true);
  full.dispose();
  fresh.dispose();
}

describe('checkpoint/resume gives bitwise the same weights and metrics (2 data-parallel workers)', () => {
  it('cpu, mixed (dropout + prompt dropout), stopped after epoch 2', async () => {
    await resumeEqualsUninterrupted('mixed', 2, 'cpu');
  });
  it('cpu, ft-then-pt stopped exactly at the phase boundary', async () => {
    await resumeEqualsUninterrupted('ft-then-pt', 2, 'cpu');
  });
  it('wasm, ft (AdamW slots + step count), stopped after epoch 3', async () => {
    await resumeEqualsUninterrupted('ft', 3, 'wasm');
    expect((await selectBackend('cpu')).ok).toBe(true);
  });
  it('a checkpoint of other settings is not resumed', async () => {
    const cfg = tinyWith({});
    const dir = join(tmp, 'other');
    const base = { method: 'linear' as const, train: randomData(8, 1), epochs: 2, warmupEpochs: 0, batchSize: 8, baseLr: 1, weightDecay: 0, seed: 1, checkpointDir: dir };
    const m1 = build(cfg);
    expect((await train({ ...base, model: m1, runKey: 'one' })).ok).toBe(true);
    const m2 = build(cfg);
    const r = await train({ ...base, model: m2, runKey: 'two' });
    expect(r.ok && r.value.resumedFrom).toBe(0);
    m1.dispose();
    m2.dispose();
  });
});

function runChild(args: string[]): { done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>; kill: () => void } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'ml-resume-child.ts'), ...args], { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((res) => child.on('exit', (code, signal) => res({ code, signal, stderr })));
  return { done, kill: () => child.kill('SIGKILL') };
}

describe('a real SIGKILL mid-training', () => {
  it('the resumed run ends with bitwise the same weights and metrics as an uninterrupted one (cpu, 2 workers)', async () => {
    const ref = runChild([join(tmp, 'ck-ref'), join(tmp, 'ref.safetensors'), 'cpu', '0']);
    const ckDir = join(tmp, 'ck-kill');
    const victim = runChild([ckDir, join(tmp, 'killed.safetensors'), 'cpu', '40']);
    // Wait until at least two epochs are checkpointed, then kill without warning.
    let epochs = 0;
    for (let i = 0; i < 600 && epochs < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const h = await readSafetensorsHeader(join(ckDir, TRAIN_STATE_FILE)).catch(() => undefined);
      if (h?.ok) epochs = Number(h.value.metadata['epochsDone']);
    }
    expect(epochs).toBeGreaterThanOrEqual(2);
    victim.kill();
    const killed = await victim.done;
    expect(killed.signal).toBe('SIGKILL');
    await expect(stat(join(tmp, 'killed.safetensors'))).rejects.toThrow();
    const resumed = runChild([ckDir, join(tmp, 'resumed.safetensors'), 'cpu', '0']);
    const [r1, r2] = await Promise.all([ref.done, resumed.done]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r2.code, r2.stderr).toBe(0);
    const a = decodeSafetensors(await readFile(join(tmp, 'ref.safetensors')));
    const b = decodeSafetensors(await readFile(join(tmp, 'resumed.safetensors')));
    if (!a.ok || !b.ok) throw new Error('unreadable child output');
    expect(Number(b.value.metadata['resumedFrom'])).toBeGreaterThanOrEqual(2);
    expect(Number(b.value.metadata['resumedFrom'])).toBeLessThan(6);
    expect(b.value.metadata['curves']).toBe(a.value.metadata['curves']);
    expect([...b.value.tensors.keys()]).toEqual([...a.value.tensors.keys()]);
    for (const [name, t] of a.value.tensors) expect(bitsEqual(t.data as Float32Array, b.value.tensors.get(name)?.data as Float32Array), name).toBe(true);
  }, 120_000);
});

void paramsToNamed;
