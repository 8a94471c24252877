/**
 * analysis.fid against the numerics' interface (src/ml/analysis/fid.ts: `frechetDistance(a, b,
 * { offset? })` returning `route` and `rule`), with the numerics replaced by a recording stand-in:
 * what the kind asks for (no offset unless `eps` is given) and what it writes from the answer.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FeatureStats } from '../src/ml/analysis/index.js';

const calls: { readonly refN: number; readonly options: unknown }[] = [];
vi.mock('../src/ml/analysis/index.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/ml/analysis/index.js')>();
  return {
    ...real,
    // The first feature's reference mean stands in for the FID, so subsamples give different values.
    frechetDistance: (a: FeatureStats, _b: FeatureStats, options: { readonly offset?: number } = {}) => {
      calls.push({ refN: a.n, options });
      const fid = 10 + (a.mean[0] as number);
      return { ok: true, value: { fid, meanTerm: fid / 2, covTerm: fid / 2, traceSqrt: 1, offset: options.offset ?? 0, route: 'stand-in route', rule: options.offset === undefined ? 'exact' : 'offset' } };
    },
  };
});

const { fidKind } = await import('../src/stages/analysis/index.js');
const { writeSplit } = await import('../src/io/shards.js');
const { createViT, saveModel } = await import('../src/ml/index.js');
const { createRng } = await import('../src/util/rng.js');
type FidSummary = import('../src/stages/analysis/index.js').FidSummary;
type StageContext<P> = import('../src/stages/kind.js').StageContext<P>;
type TaskMeta = import('../src/io/shards.js').TaskMeta;

const ws = mkdtempSync(join(tmpdir(), 'fid-kind-'));
afterAll(() => rmSync(ws, { recursive: true, force: true }));

function ctx<P>(params: P, out: string, notes: string[] = []): StageContext<P> {
  return {
    stageId: 'test', params, workspace: ws, resolve: (p) => join(ws, p), outputs: { fid: join(ws, out) }, checkpointDir: join(ws, 'ckpt'),
    seed: 0, rng: createRng(0), log: (m) => void notes.push(m), progress: () => undefined, signal: new AbortController().signal, backend: 'cpu',
  };
}

beforeAll(async () => {
  const rng = createRng(4);
  for (const [name, level] of [['pretrain', 128], ['task', 90]] as const) {
    const meta: TaskMeta = {
      name, group: 'natural', disparity: 'low', numClasses: 2, imageShape: [8, 8, 1],
      normalization: { mean: [0.5], std: [0.25] }, splits: { train800val200: 20 },
    };
    const dir = join(ws, 'tasks', name);
    await mkdir(dir, { recursive: true });
    const px = Uint8Array.from({ length: 20 * 64 }, () => Math.max(0, Math.min(255, Math.round(level + 40 * rng.normal()))));
    await writeSplit(dir, 'train800val200', meta, px, Int32Array.from({ length: 20 }, (_, i) => i % 2));
    await writeFile(join(dir, 'task.json'), JSON.stringify(meta));
  }
  const m = createViT({ imageSize: 8, channels: 1, patchSize: 4, width: 8, depth: 1, heads: 2, mlpRatio: 2, dropout: 0, attentionDropout: 0, numClasses: 2, promptLength: 0, promptMode: 'deep', promptDropout: 0 }, 1);
  if (!m.ok) throw new Error(m.error.message);
  await saveModel(join(ws, 'model.safetensors'), m.value);
});

beforeEach(() => {
  calls.length = 0;
});

const base = { reference: 'tasks/pretrain', tasks: ['tasks/task'], features: { source: 'backbone' as const, model: 'model.safetensors', pooling: 'mean' as const } };
const record = (out: string) => (JSON.parse(readFileSync(join(ws, out, 'fid.json'), 'utf8')) as FidSummary).tasks[0]!;

describe('analysis.fid and the FID numerics', () => {
  it('asks for no offset by default (pytorch-fid\'s number) and records the route and rule it got', async () => {
    const r = await fidKind.run(ctx(base, 'plain'));
    expect(calls).toEqual([{ refN: 20, options: {} }]);
    expect(record('plain')).toMatchObject({ rule: 'exact', offset: 0, route: 'stand-in route', repeats: 1, fidStd: 0, images: 20, referenceImages: 20 });
    expect(record('plain').features).toMatch(/mean of the patch tokens after the final LayerNorm/);
    expect(r.notes).toBeUndefined();
  });

  it('eps: the eps variant, that value on both diagonals, said in a note', async () => {
    const r = await fidKind.run(ctx({ ...base, eps: 1e-3 }, 'eps'));
    expect(calls.map((c) => c.options)).toEqual([{ offset: 1e-3 }]);
    expect(record('eps')).toMatchObject({ rule: 'offset', offset: 1e-3 });
    expect(r.notes).toEqual(['eps variant (an offset on both covariance diagonals, not pytorch-fid\'s number) for: task (0.001)']);
  });

  it('repeats: one call per reference subsample, mean and sample std of what they return', async () => {
    await fidKind.run(ctx({ ...base, repeats: 4, maxImages: 10 }, 'rep'));
    expect(calls.map((c) => c.refN)).toEqual([10, 10, 10, 10]);
    const rec = record('rep');
    const fids = rec.fids;
    const mean = fids.reduce((a, b) => a + b, 0) / 4;
    expect(rec).toMatchObject({ repeats: 4, referenceImages: 10, images: 10, route: 'stand-in route' });
    expect(rec.fid).toBeCloseTo(mean, 12);
    expect(rec.fidStd).toBeCloseTo(Math.sqrt(fids.reduce((a, x) => a + (x - mean) ** 2, 0) / 3), 12);
    expect(rec.fidStd).toBeGreaterThan(0);
  });
});
