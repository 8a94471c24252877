import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { writeSplit, type TaskMeta } from '../src/io/shards.js';
import { createRng } from '../src/util/rng.js';
import { builtinKinds, type StageContext, type StageKind, type ProgressUpdate } from '../src/stages/index.js';
import { aggregateRuns, pickBest, rowsToCsv, trainAggregate, trainImport, trainPretrain, trainSelect, trainVit } from '../src/stages/train/index.js';
import { loadModelFile, loadTrainedModel, loadViTNpz, selectBackend } from '../src/ml/index.js';
import { quadrantImages } from './ml-helpers.js';
import { parseSkippedRun } from '../src/artifacts/index.js';

let ws: string;
const MODEL = { imageSize: 8, channels: 1, patchSize: 4, width: 16, depth: 2, heads: 2, mlpRatio: 2, dropout: 0 };

async function makeTask(name: string, splits: Record<string, number>, seed: number): Promise<string> {
  const dir = join(ws, 'tasks', name);
  await mkdir(dir, { recursive: true });
  const meta: TaskMeta = {
    name, group: 'structured', disparity: 'high', numClasses: 4, imageShape: [8, 8, 1],
    normalization: { mean: [0.5], std: [0.25] }, splits,
  };
  await writeFile(join(dir, 'task.json'), JSON.stringify(meta));
  let s = seed;
  for (const [split, n] of Object.entries(splits)) {
    const { images, labels } = quadrantImages(n, s++);
    await writeSplit(dir, split, meta, images, labels);
  }
  return `tasks/${name}`;
}

function ctxFor<P>(kind: StageKind<P>, id: string, params: P, extra: { backend?: string; signal?: AbortSignal } = {}): { ctx: StageContext<P>; logs: string[]; progress: ProgressUpdate[] } {
  const logs: string[] = [];
  const progress: ProgressUpdate[] = [];
  const outDir = join(ws, 'out', id);
  const outputs = Object.fromEntries(kind.outputs(params).map((o) => [o, join(outDir, o === 'table' ? `${o}.csv` : o === 'model' ? 'model.safetensors' : `${o}.json`)]));
  const seed = (params as { seed?: number }).seed ?? 0;
  const ctx: StageContext<P> = {
    stageId: id, params, workspace: ws, resolve: (p) => (isAbsolute(p) ? p : join(ws, p)), outputs, checkpointDir: join(ws, 'ck', id), seed, rng: createRng(seed),
    log: (l) => logs.push(l), progress: (u) => progress.push(u), signal: extra.signal ?? new AbortController().signal, backend: extra.backend ?? 'cpu',
  };
  return { ctx, logs, progress };
}

beforeAll(async () => {
  ws = await mkdtemp(join(tmpdir(), 'train-stages-'));
  await makeTask('quad', { train800: 32, val200: 16, test: 16, train800val200: 48 }, 1);
  await makeTask('source', { train: 64, val: 16 }, 50);
  for (const id of ['a', 'b', 'c', 'ft', 'pre', 'post', 'bad', 'imp', 'imp-bad', 'from-imp']) await mkdir(join(ws, 'out', id), { recursive: true });
  expect((await selectBackend('cpu')).ok).toBe(true);
});
afterAll(async () => {
  await rm(ws, { recursive: true, force: true });
});

describe('registry', () => {
  it('registers the five training kinds', () => {
    const names = builtinKinds().names();
    for (const n of ['train.vit', 'train.select', 'train.aggregate', 'train.pretrain', 'train.import']) expect(names).toContain(n);
    expect(trainVit.outputs({ data: 'x', method: 'vpt-deep' })).toEqual(['model', 'metrics', 'predictions']);
  });
});

describe('train.pretrain -> train.vit (init from its checkpoint) -> select -> aggregate', () => {
  it('runs end to end on tiny shards', async () => {
    const pre = ctxFor(trainPretrain, 'pre', { data: 'tasks/source', evalSplits: ['val'], model: MODEL, epochs: 4, warmup: 1, batch: 16, baseLr: 0.01, seed: 3 });
    const pr = await trainPretrain.run(pre.ctx);
    expect(pr.environment?.['backend']).toBe('cpu');
    // The default on cpu: two data-parallel shards, recorded next to the backend flags.
    expect(pr.environment?.['workers']).toBe(2);
    expect(JSON.parse(await readFile(pre.ctx.outputs['metrics'] as string, 'utf8')).workers).toBe(2);
    const preModel = await loadModelFile(pre.ctx.outputs['model'] as string);
    expect(preModel.ok && preModel.value.config.promptLength).toBe(0);

    const ids = ['a', 'b'] as const;
    const lrs = { a: 5, b: 20 };
    const metricsPaths: string[] = [];
    for (const id of ids) {
      const run = ctxFor(trainVit, id, {
        data: 'tasks/quad', method: 'vpt-deep' as const, epochs: 3, warmup: 1, batch: 16, baseLr: lrs[id], weightDecay: 0.001, seed: 42, promptLength: 2,
        init: `out/pre/model.safetensors`,
      });
      const r = await trainVit.run(run.ctx);
      expect(r.metrics?.['val_top1']).toBeGreaterThanOrEqual(0);
      expect(r.metrics?.['test_top1']).toBeGreaterThanOrEqual(0);
      expect(typeof r.metrics?.['train_loss']).toBe('number');
      const m = JSON.parse(await readFile(run.ctx.outputs['metrics'] as string, 'utf8'));
      expect(m.history).toHaveLength(3);
      expect(m.history[0].lr).toBe(0);
      expect(Object.keys(m.history[2].evals)).toEqual(['val200', 'test']);
      expect(m.baseLr).toBe(lrs[id]);
      expect(m.params.prompt).toBe(2 * 2 * 16);
      const preds = JSON.parse(await readFile(run.ctx.outputs['predictions'] as string, 'utf8'));
      expect(preds.items).toHaveLength(16);
      expect(preds.items.filter((i: { correct: boolean }) => i.correct).length / 16).toBeCloseTo(m.final.test_top1, 10);
      // Backbone came from the pretrain checkpoint, unchanged (VPT keeps it frozen).
      const trained = await loadModelFile(run.ctx.outputs['model'] as string);
      if (!trained.ok || !preModel.ok) throw new Error('model unreadable');
      expect(Array.from(trained.value.values.get('Transformer/encoderblock_1/MlpBlock_3/Dense_1/kernel') ?? [])).toEqual(Array.from(preModel.value.values.get('Transformer/encoderblock_1/MlpBlock_3/Dense_1/kernel') ?? []));
      expect(run.progress.every((p) => p.phase === 'epoch' && p.rateUnit === 'img/s')).toBe(true);
      metricsPaths.push(`out/${id}/metrics.json`);
    }
    const sel = ctxFor(trainSelect, 'c', { candidates: metricsPaths });
    await trainSelect.run(sel.ctx);
    const best = JSON.parse(await readFile(sel.ctx.outputs['best'] as string, 'utf8'));
    expect([5, 20]).toContain(best.baseLr);
    expect(best.candidates).toHaveLength(2);

    // A final run with the selected hparams overriding baseLr/weightDecay.
    const fin = ctxFor(trainVit, 'post', { data: 'tasks/quad', trainSplit: 'train800val200', method: 'vpt-deep' as const, epochs: 2, warmup: 0, batch: 16, baseLr: 999, seed: 44, promptLength: 2, init: 'out/pre/model.safetensors', hparams: 'out/c/best.json' });
    await trainVit.run(fin.ctx);
    const fm = JSON.parse(await readFile(fin.ctx.outputs['metrics'] as string, 'utf8'));
    expect(fm.baseLr).toBe(best.baseLr);
    expect(fm.weightDecay).toBe(best.weightDecay);
    const reloaded = await loadTrainedModel(fin.ctx.outputs['model'] as string);
    expect(reloaded.ok && reloaded.value.tokenLayout().prompts).toBe(2);
    if (reloaded.ok) reloaded.value.dispose();

    const agg = ctxFor(trainAggregate, 'ft', { runs: ['out/a/metrics.json', 'out/b/metrics.json', 'out/post/metrics.json'] });
    await trainAggregate.run(agg.ctx);
    const csv = await readFile(agg.ctx.outputs['table'] as string, 'utf8');
    expect(csv.split('\n')[0]).toBe('task,group,method,n,test_top1_mean,test_top1_std,seeds');
    expect(csv).toContain('quad,structured,vpt-deep,3,');
  }, 60_000);

  it('a rerun with the same checkpoint dir resumes instead of retraining, unless the worker count changed', async () => {
    const params = { data: 'tasks/quad', method: 'linear' as const, epochs: 2, warmup: 0, batch: 16, baseLr: 1, seed: 1, model: MODEL, workers: 1 };
    const first = ctxFor(trainVit, 'bad', params);
    const r1 = await trainVit.run(first.ctx);
    expect(r1.environment?.['workers']).toBe(1);
    const again = ctxFor(trainVit, 'bad', params);
    const r = await trainVit.run(again.ctx);
    expect(again.logs.some((l) => l.includes('resumed from checkpoint after epoch 2'))).toBe(true);
    expect(r.notes?.some((n) => n.includes('resumed'))).toBe(true);
    const other = ctxFor(trainVit, 'bad', { ...params, workers: 2 });
    await trainVit.run(other.ctx);
    expect(other.logs.some((l) => l.includes('checkpoint belongs to other settings'))).toBe(true);
  });
});

describe('train.import -> train.vit', () => {
  const NPZ = join(import.meta.dirname, 'fixtures', 'ml-tiny-vit.npz');
  const NPZ_MODEL = { imageSize: 8, channels: 1, patchSize: 4, width: 16, depth: 2, heads: 2, mlpRatio: 2, dropout: 0 };

  it('writes the checkpoint\'s backbone as a model file that train.vit starts from, values unchanged', async () => {
    const imp = ctxFor(trainImport, 'imp', { checkpoint: NPZ, model: NPZ_MODEL });
    const r = await trainImport.run(imp.ctx);
    const file = await loadModelFile(imp.ctx.outputs['model'] as string);
    if (!file.ok) throw new Error(file.error.message);
    expect(file.value.metadata['role']).toBe('backbone');
    expect([...file.value.values.keys()].some((k) => k.startsWith('head/'))).toBe(false);
    const reference = await loadViTNpz(NPZ, { ...file.value.config, numClasses: 3 }, 0);
    if (!reference.ok) throw new Error(reference.error.message);
    const name = 'Transformer/encoderblock_1/MultiHeadDotProductAttention_1/query/kernel';
    expect(Array.from(file.value.values.get(name) ?? [])).toEqual(Array.from(reference.value.p(name).dataSync()));
    expect(r.metrics?.['arrays']).toBe(file.value.values.size);
    reference.value.dispose();

    // A frozen-backbone method keeps every imported value.
    const run = ctxFor(trainVit, 'from-imp', { data: 'tasks/quad', method: 'linear' as const, epochs: 1, warmup: 0, batch: 16, baseLr: 1, seed: 1, init: 'out/imp/model.safetensors', workers: 1 });
    await trainVit.run(run.ctx);
    const trained = await loadModelFile(run.ctx.outputs['model'] as string);
    if (!trained.ok) throw new Error(trained.error.message);
    expect(Array.from(trained.value.values.get(name) ?? [])).toEqual(Array.from(file.value.values.get(name) ?? []));
  }, 30_000);

  it('a checkpoint that does not fit the model config, or is missing, is an error naming why', async () => {
    const wide = ctxFor(trainImport, 'imp-bad', { checkpoint: NPZ, model: { ...NPZ_MODEL, width: 32 } });
    await expect(trainImport.run(wide.ctx)).rejects.toThrow(/shape|expected/);
    const missing = ctxFor(trainImport, 'imp-bad', { checkpoint: 'nowhere/ViT-B_16.npz', model: NPZ_MODEL });
    await expect(trainImport.run(missing.ctx)).rejects.toThrow(/ENOENT|no such file/);
  });
});

describe('train.vit ifSplitMissing', () => {
  it('skip: a split the data stage could not fill gives skipped-run documents with its note; fail (default) is an error', async () => {
    const dir = await makeTask('small', { train800: 16, val200: 8, test: 8, train800val200: 24 }, 7);
    const metaPath = join(ws, dir, 'task.json');
    const meta = JSON.parse(await readFile(metaPath, 'utf8'));
    await writeFile(metaPath, JSON.stringify({ ...meta, notes: ['data-size 4000 skipped: needs 5000 train+val images (4000:1000), the pool has 24'] }));
    const params = { data: dir, method: 'ft' as const, trainSplit: 'size4000-trainval', evalSplits: ['test'], epochs: 1, batch: 8, seed: 42, model: MODEL, workers: 1 };
    const skip = ctxFor(trainVit, 'c', { ...params, ifSplitMissing: 'skip' as const });
    const r = await trainVit.run(skip.ctx);
    expect(r.metrics).toEqual({ skipped: 1 });
    for (const path of Object.values(skip.ctx.outputs)) {
      const doc = parseSkippedRun(await readFile(path, 'utf8'), path);
      expect(doc.ok && doc.value?.reason).toMatch(/^data-size 4000 skipped: needs 5000/);
    }
    const fail = ctxFor(trainVit, 'c', params);
    await expect(trainVit.run(fail.ctx)).rejects.toThrow(/size4000-trainval/);
  });
});

describe('bad input', () => {
  it('a missing task folder, a wrong image size and a bad backend are errors', async () => {
    await expect(trainVit.run(ctxFor(trainVit, 'bad', { data: 'tasks/nope', method: 'linear', model: MODEL }).ctx)).rejects.toThrow(/task\.json/);
    await expect(trainVit.run(ctxFor(trainVit, 'bad', { data: 'tasks/quad', method: 'linear', model: { ...MODEL, imageSize: 16 } }).ctx)).rejects.toThrow(/8x8x1 but the model expects 16x16x1/);
    await expect(trainVit.run(ctxFor(trainVit, 'bad', { data: 'tasks/quad', method: 'linear', model: MODEL }, { backend: 'tpu' }).ctx)).rejects.toThrow(/unknown backend/);
    await expect(trainVit.run(ctxFor(trainVit, 'bad', { data: 'tasks/quad', method: 'linear', model: MODEL, init: 'nope.npz' }).ctx)).rejects.toThrow(/nope\.npz/);
  });

  it('an aborted run stops with an error and leaves its checkpoint', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(trainVit.run(ctxFor(trainVit, 'bad', { data: 'tasks/quad', method: 'linear', model: MODEL, epochs: 5, seed: 9 }, { signal: ac.signal }).ctx)).rejects.toThrow(/aborted/);
  });

  it('select: ties go to the smaller lr, diverged runs never win; select/aggregate reject bad metrics', async () => {
    expect(pickBest([
      { path: 'x', baseLr: 10, weightDecay: 0, val_top1: 0.5 },
      { path: 'y', baseLr: 1, weightDecay: 0.01, val_top1: 0.5 },
      { path: 'z', baseLr: 0.1, weightDecay: 0, val_top1: NaN },
    ])?.path).toBe('y');
    await writeFile(join(ws, 'junk.json'), '{"task": 1}');
    await expect(trainSelect.run(ctxFor(trainSelect, 'bad', { candidates: ['junk.json'] }).ctx)).rejects.toThrow(/junk\.json: format undefined, expected "vpt\.run-metrics\/1"/);
    await expect(trainAggregate.run(ctxFor(trainAggregate, 'bad', { runs: ['junk.json'] }).ctx)).rejects.toThrow(/junk\.json: format undefined/);
    await expect(trainSelect.run(ctxFor(trainSelect, 'bad', { candidates: ['missing.json'] }).ctx)).rejects.toThrow(/missing\.json/);
  });

  it('aggregate: mean and sample std per task × method', () => {
    const rows = aggregateRuns([
      { task: 't', method: 'ft', seed: 42, test_top1: 0.5 },
      { task: 't', method: 'ft', seed: 44, test_top1: 0.7 },
      { task: 't', method: 'vpt-deep', seed: 42, test_top1: 0.9 },
    ]);
    expect(rows).toHaveLength(2);
    expect(rows[0]?.test_top1_mean).toBeCloseTo(0.6, 12);
    expect(rows[0]?.test_top1_std).toBeCloseTo(Math.sqrt(0.02), 12);
    expect(rows[1]?.test_top1_std).toBe(0);
    expect(rowsToCsv(rows).trim().split('\n')).toHaveLength(3);
  });
});
