import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attributionKind, fidKind, parseMetrics, parsePredictions, placeQuadrants, quadrantCsv, quadrantMarkdown, quadrantsKind, referenceSamples, selectImages,
  selectImagesKind, median, type FidSummary, type QuadrantTable,
} from '../src/stages/analysis/index.js';
import type { StageContext } from '../src/stages/kind.js';
import { IMAGE_SELECTION_FORMAT, PREDICTIONS_FORMAT, RUN_METRICS_FORMAT } from '../src/artifacts/index.js';
import { builtinKinds } from '../src/stages/index.js';
import { writeSplit, type TaskMeta } from '../src/io/shards.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { readPngHeader } from '../src/ml/analysis/index.js';
import { svgSize } from '../src/stages/report/index.js';
import { createViT, saveModel, type ViTConfig } from '../src/ml/index.js';
import { writeTinyGraphModel } from './helpers/graph-model.js';
import { createRng } from '../src/util/rng.js';

const ws = mkdtempSync(join(tmpdir(), 'analysis-kinds-'));
afterAll(() => rmSync(ws, { recursive: true, force: true }));

function fakeCtx<P>(params: P, outputs: Record<string, string>, phases: string[] = []): StageContext<P> {
  return {
    stageId: 'test', params, workspace: ws, resolve: (p) => join(ws, p), outputs, checkpointDir: join(ws, 'ckpt'),
    seed: 0, rng: createRng(0), log: () => undefined, progress: (e) => void phases.push(e.phase ?? ''), signal: new AbortController().signal, backend: 'cpu',
  };
}

const SIZE = 8;
const meta = (name: string, extra: Partial<TaskMeta>): TaskMeta => ({
  name, group: 'natural', disparity: 'low', numClasses: 3, imageShape: [SIZE, SIZE, 1],
  normalization: { mean: [0.5], std: [0.25] }, splits: { train800val200: 40, test: 12 }, ...extra,
});

/** Grey images: noise around `level` (0..255). */
async function writeTask(name: string, level: number, seed: number, extra: Partial<TaskMeta>): Promise<string> {
  const dir = join(ws, 'tasks', name);
  await mkdir(dir, { recursive: true });
  const rng = createRng(seed);
  for (const [split, n] of [['train800val200', 40], ['test', 12]] as const) {
    const px = Uint8Array.from({ length: n * SIZE * SIZE }, () => Math.max(0, Math.min(255, Math.round(level + 40 * rng.normal()))));
    await writeSplit(dir, split, meta(name, extra), px, Int32Array.from({ length: n }, (_, i) => i % 3));
  }
  await writeFile(join(dir, 'task.json'), JSON.stringify(meta(name, extra)));
  return `tasks/${name}`;
}

const TINY: ViTConfig = {
  imageSize: SIZE, channels: 1, patchSize: 4, width: 8, depth: 1, heads: 2, mlpRatio: 2,
  dropout: 0, attentionDropout: 0, numClasses: 3, promptLength: 2, promptMode: 'deep', promptDropout: 0,
};

let modelRel = '';
beforeAll(async () => {
  await writeTask('pretrain', 128, 1, {});
  await writeTask('same-task', 128, 1, {});
  await writeTask('near-task', 128, 2, { similarity: 'far' });
  await writeTask('far-task', 40, 3, { group: 'structured', disparity: 'high', similarity: 'far' });
  const m = createViT(TINY, 3);
  if (!m.ok) throw new Error(m.error.message);
  modelRel = 'model.safetensors';
  await saveModel(join(ws, modelRel), m.value);
});

describe('kind registration', () => {
  it('registers the analysis and report kinds', () => {
    const names = builtinKinds().names();
    for (const n of ['analysis.fid', 'analysis.quadrants', 'analysis.select-images', 'analysis.attribution', 'report.study', 'report.plots']) expect(names).toContain(n);
  });
});

describe('analysis.fid -> analysis.quadrants (backbone features)', () => {
  it('measures a shifted task as farther than one drawn like the pretraining data, then places and flags them', async () => {
    const out = join(ws, 'out-fid');
    // `tasks` as the whole folder of tasks: every task in it but the reference.
    const res = await fidKind.run(fakeCtx({ reference: 'tasks/pretrain', tasks: ['tasks'], features: { source: 'backbone' as const, model: modelRel, pooling: 'mean-patch' as const }, batchSize: 16 }, { fid: out }));
    const summary = JSON.parse(readFileSync(join(out, 'fid.json'), 'utf8')) as FidSummary;
    expect(summary.reference).toBe('pretrain');
    expect(summary.features).toBe(`backbone ${modelRel} (mean of the patch tokens after the final LayerNorm)`);
    expect(summary.tasks.map((t) => t.task)).toEqual(['far-task', 'near-task', 'same-task']);
    const same = summary.tasks.find((t) => t.task === 'same-task')!;
    const near = summary.tasks.find((t) => t.task === 'near-task')!;
    const far = summary.tasks.find((t) => t.task === 'far-task')!;
    // Identical sets: 0 up to round-off. No eps: pytorch-fid's number, nothing on the diagonals,
    // although final-LayerNorm features are singular (they lie in a (D-1)-dim affine subspace).
    expect(Math.abs(same.fid)).toBeLessThan(1e-4);
    expect(same).toMatchObject({ rule: 'exact', offset: 0 });
    expect(same.route).toMatch(/^(gram|rows-cov|cholesky|pivoted-cholesky|svd)$/);
    expect(same).toMatchObject({ repeats: 1, fidStd: 0, fids: [same.fid] });
    expect(near.fid).toBeGreaterThan(0);
    expect(far.fid).toBeGreaterThan(near.fid * 5);
    expect(near.featureDim).toBe(TINY.width);
    expect(near.images).toBe(40);
    expect(near.referenceImages).toBe(40);
    expect(res.metrics?.['fid.far-task']).toBe(far.fid);
    expect(existsSync(join(out, 'far-task', 'fid.json'))).toBe(true);
    expect(res.environment?.['backend']).toBe('cpu');

    const qout = join(ws, 'out-quad');
    const q = await quadrantsKind.run(fakeCtx({ fid: 'out-fid', tasks: ['tasks'], threshold: (near.fid + far.fid) / 2 }, { quadrants: qout }));
    expect(q.metrics?.['tasks']).toBe(3);
    const table = JSON.parse(readFileSync(join(qout, 'quadrants.json'), 'utf8')) as QuadrantTable;
    const byTask = new Map(table.rows.map((r) => [r.task, r]));
    expect(byTask.get('near-task')?.quadrant).toBe('low-disparity/near');
    expect(byTask.get('far-task')?.quadrant).toBe('high-disparity/far');
    // near-task was declared far in task.json: measured near -> flagged.
    expect(table.mismatches).toEqual(['near-task']);
    expect(q.metrics?.['mismatches']).toBe(1);
    expect(table.uncertain).toEqual([]);
    expect(readFileSync(join(qout, 'quadrants.csv'), 'utf8').split('\n')[0]).toBe('task,group,disparity,fid,fid_std,similarity,intended_similarity,quadrant,mismatch,uncertain');
    expect(readFileSync(join(qout, 'quadrants.md'), 'utf8')).toContain('DIFFERS from intended');
    const svg = readFileSync(join(qout, 'quadrants.svg'), 'utf8');
    const size = svgSize(svg)!;
    expect(readPngHeader(readFileSync(join(qout, 'quadrants.png')))).toMatchObject({ width: size.width, height: size.height });
  });

  it('repeats: mean and sample std over seeded reference subsamples, features extracted once per set', async () => {
    const out = join(ws, 'out-fid-repeats');
    const phases: string[] = [];
    const params = { reference: 'tasks/pretrain', tasks: ['tasks/near-task', 'tasks/far-task'], features: { source: 'backbone' as const, model: modelRel }, batchSize: 64, repeats: 3 };
    const res = await fidKind.run(fakeCtx(params, { fid: out }, phases));
    const summary = JSON.parse(readFileSync(join(out, 'fid.json'), 'utf8')) as FidSummary;
    expect(summary.features).toBe(`backbone ${modelRel} (CLS token after the final LayerNorm (the head's input))`);
    for (const r of summary.tasks) {
      expect(r.repeats).toBe(3);
      expect(r.fids).toHaveLength(3);
      expect(new Set(r.fids).size).toBe(3);
      expect(r.fid).toBeCloseTo((r.fids[0]! + r.fids[1]! + r.fids[2]!) / 3, 12);
      expect(Number.isFinite(r.fidStd) && r.fidStd > 0).toBe(true);
      const m = r.fid;
      expect(r.fidStd).toBeCloseTo(Math.sqrt(r.fids.reduce((a, x) => a + (x - m) ** 2, 0) / 2), 12);
      // 80% of the reference's 40 images per subsample; the task side is whole.
      expect(r.referenceImages).toBe(32);
      expect(r.images).toBe(40);
    }
    expect(res.metrics?.['fidStd.far-task']).toBe(summary.tasks.find((t) => t.task === 'far-task')!.fidStd);
    // One batch per set: the reference went through the network once, not once per repeat.
    expect(phases.filter((ph) => ph === 'features reference')).toHaveLength(1);
    expect(phases.filter((ph) => ph.startsWith('features ') && ph.endsWith('near-task'))).toHaveLength(1);

    // The same subsample size, one repeat: std 0. maxImages also caps the task side.
    await fidKind.run(fakeCtx({ ...params, repeats: 1, maxImages: 32 }, { fid: join(ws, 'out-fid-once') }));
    const once = (JSON.parse(readFileSync(join(ws, 'out-fid-once', 'fid.json'), 'utf8')) as FidSummary).tasks[0]!;
    expect(once).toMatchObject({ repeats: 1, fidStd: 0, fids: [once.fid], referenceImages: 32, images: 32 });

    // The std reaches the quadrant table: a threshold at the FID is within 2 std of it.
    const far = summary.tasks.find((t) => t.task === 'far-task')!;
    const qout = join(ws, 'out-quad-repeats');
    const q = await quadrantsKind.run(fakeCtx({ fid: 'out-fid-repeats', threshold: far.fid + far.fidStd }, { quadrants: qout }));
    const table = JSON.parse(readFileSync(join(qout, 'quadrants.json'), 'utf8')) as QuadrantTable;
    expect(table.rows.find((r) => r.task === 'far-task')).toMatchObject({ fidStd: far.fidStd, similarity: 'near', uncertain: true });
    expect(table.uncertain).toContain('far-task');
    expect(q.metrics?.['uncertain']).toBe(table.uncertain.length);
    expect(readFileSync(join(qout, 'quadrants.md'), 'utf8')).toContain(`${far.fid.toFixed(3)} ± ${far.fidStd.toFixed(3)}`);
  });

  it('eps: the eps variant, that offset on both diagonals, recorded as such', async () => {
    const out = join(ws, 'out-fid-eps');
    const res = await fidKind.run(fakeCtx({ reference: 'tasks/pretrain', tasks: ['tasks/same-task'], features: { source: 'backbone' as const, model: modelRel }, eps: 1e-6 }, { fid: out }));
    const rec = (JSON.parse(readFileSync(join(out, 'fid.json'), 'utf8')) as FidSummary).tasks[0]!;
    expect(rec).toMatchObject({ rule: 'offset', offset: 1e-6 });
    expect(res.notes).toEqual([expect.stringContaining('eps variant')]);
  });

  it('refuses repeats that cannot give a spread, before any network runs', async () => {
    const base = { reference: 'tasks/pretrain', tasks: ['tasks/near-task'], features: { source: 'backbone' as const, model: 'no-such-model.safetensors' } };
    // The model does not exist: the repeats error comes first, so no image (nor model) was touched.
    await expect(fidKind.run(fakeCtx({ ...base, repeats: 2, maxImages: 40 }, { fid: join(ws, 'x') }))).rejects.toThrow(/bad-params: pretrain\/train800val200: repeats 2 draws subsamples of maxImages = 40 from 40 reference images: every repeat would use all of them/);
    await expect(fidKind.run(fakeCtx({ ...base, repeats: 2, maxImages: 50 }, { fid: join(ws, 'x') }))).rejects.toThrow(/every repeat would use all of them/);
    const rng = createRng(0);
    expect(referenceSamples(2, 2, undefined, rng)).toEqual({ ok: false, error: 'repeats 2 needs reference subsamples of at least 2 images; 80% of the reference\'s 2 images is 1' });
    expect(referenceSamples(4, 7, 2, rng)).toEqual({ ok: false, error: 'repeats 7 is more than the 6 distinct subsamples of 2 from 4 reference images' });
    const six = referenceSamples(4, 6, 2, rng);
    expect(six.ok && six.value.samples.every((x) => x.length === 2)).toBe(true);
    // One repeat: all images (no maxImages), or maxImages of them.
    expect(referenceSamples(5, 1, undefined, rng)).toEqual({ ok: true, value: { samples: [[0, 1, 2, 3, 4]], size: 5 } });
  });

  it('takes Inception-route features from a graph model on disk', async () => {
    // A tiny converter-format graph: image [B,SIZE,SIZE,3] -> 1x1 Conv2D (3 -> 4) -> Relu -> spatial Mean.
    const rng = createRng(8);
    writeTinyGraphModel(join(ws, 'inception', 'model.json'), { size: SIZE, width: 4, filter: Float32Array.from({ length: 12 }, () => rng.normal()), shard: 'weights.bin' });
    const out = join(ws, 'out-fid-inception');
    await fidKind.run(fakeCtx({ reference: 'tasks/pretrain', tasks: ['tasks/near-task', 'tasks/far-task'], features: { source: 'inception' as const, model: 'inception/model.json', inputSize: [SIZE, SIZE] as const, inputRange: [0, 1] as const, outputNode: 'pool', width: 4 }, maxImages: 30 }, { fid: out }));
    const summary = JSON.parse(readFileSync(join(out, 'fid.json'), 'utf8')) as FidSummary;
    const [near, far] = summary.tasks;
    expect(near?.featureDim).toBe(4);
    expect(near?.images).toBe(30);
    expect(near?.referenceImages).toBe(30);
    expect(summary.features).toMatch(/inception graph model/);
    expect(far!.fid).toBeGreaterThan(near!.fid);

    // Checked before a run: the input size and width the stage expects, and the weight files.
    const env = { workspace: ws, resolve: (p: string) => join(ws, p) };
    const features = { source: 'inception' as const, model: 'inception/model.json', inputSize: [SIZE, SIZE] as const, width: 4 };
    const params = { reference: 'tasks/pretrain', tasks: ['tasks/near-task'], features };
    expect(await fidKind.check?.(params, env)).toEqual([]);
    const asInception = (await fidKind.check?.({ ...params, features: { source: 'inception' as const, model: 'inception/model.json' } }, env))?.map((p) => p.message);
    expect(asInception).toEqual([expect.stringContaining(`its input is ${SIZE}x${SIZE}, the stage feeds 299x299`)]);
    const missing = await fidKind.check?.({ ...params, features: { ...features, model: 'nowhere/model.json' } }, env);
    expect(missing?.[0]?.message).toMatch(/the FID network: .*nowhere\/model\.json: does not exist/);
    expect(missing?.[0]?.hint).toMatch(/docs\/vtab-full\.md/);
    await mkdir(join(ws, 'half'), { recursive: true });
    await writeFile(join(ws, 'half', 'model.json'), readFileSync(join(ws, 'inception', 'model.json')));
    expect((await fidKind.check?.({ ...params, features: { ...features, model: 'half/model.json' } }, env))?.map((p) => p.message)).toEqual([expect.stringContaining('weight file(s) missing next to model.json: weights.bin')]);

    // A recorded output signature is checked before a run as well.
    const dims = (...s: number[]) => ({ dim: s.map((n) => ({ size: String(n) })) });
    await mkdir(join(ws, 'signed'), { recursive: true });
    const signed = { ...JSON.parse(readFileSync(join(ws, 'inception', 'model.json'), 'utf8')), signature: { inputs: { images: { tensorShape: dims(-1, SIZE, SIZE, 3) } }, outputs: { pool: { tensorShape: dims(-1, 4) } } } };
    await writeFile(join(ws, 'signed', 'model.json'), JSON.stringify(signed));
    await writeFile(join(ws, 'signed', 'weights.bin'), readFileSync(join(ws, 'inception', 'weights.bin')));
    expect((await fidKind.check?.({ ...params, features: { ...features, model: 'signed/model.json', width: 2048 } }, env))?.map((p) => p.message))
      .toEqual(['the FID network signed/model.json: it gives 4 features per image, not 2048 (Inception-v3 pool_3 gives 2048; set features.width for another network)']);

    // And again when the stage runs, before any image of the data goes through the network: the
    // input size from model.json, the width (not recorded here) from one blank image.
    const phases: string[] = [];
    await expect(fidKind.run(fakeCtx({ ...params, features: { source: 'inception' as const, model: 'inception/model.json' } }, { fid: join(ws, 'out-fid-small') }, phases)))
      .rejects.toThrow(`bad-model: the FID network inception/model.json: its input is ${SIZE}x${SIZE}, the stage feeds 299x299 (set features.inputSize)`);
    await expect(fidKind.run(fakeCtx({ ...params, features: { ...features, inputRange: [0, 1] as const, outputNode: 'pool', width: 2048 }, maxImages: 30 }, { fid: join(ws, 'out-fid-wide') }, phases)))
      .rejects.toThrow('bad-output: the FID network gives 4 features per image, not 2048 (Inception-v3 pool_3 gives 2048; set features.width for another network)');
    expect(phases).toEqual([]);
  });

  it('fails clearly on a missing task', async () => {
    await expect(fidKind.run(fakeCtx({ reference: 'tasks/pretrain', tasks: ['tasks/none'], features: { source: 'backbone' as const, model: modelRel } }, { fid: join(ws, 'x') }))).rejects.toThrow(/missing/);
  });
});

describe('quadrant placement', () => {
  it('uses the median FID by default (even count: mean of the middle two)', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    const t = placeQuadrants([
      { task: 'a', fid: 1, disparity: 'low', intendedSimilarity: 'near' },
      { task: 'b', fid: 2, disparity: 'high', intendedSimilarity: 'far' },
      { task: 'c', fid: 3, disparity: 'low' },
      { task: 'd', fid: 4, disparity: 'high', intendedSimilarity: 'far' },
    ]);
    expect(t.threshold).toBe(2.5);
    expect(t.thresholdRule).toBe('median');
    expect(t.rows.map((r) => r.quadrant)).toEqual(['low-disparity/near', 'high-disparity/near', 'low-disparity/far', 'high-disparity/far']);
    expect(t.mismatches).toEqual(['b']);
    expect(t.uncertain).toEqual([]);
    expect(t.rows.every((r) => r.fidStd === 0 && !r.uncertain)).toBe(true);
  });

  it('flags a placement whose [fid - 2 std, fid + 2 std] holds the threshold, in the table, CSV and markdown', () => {
    const t = placeQuadrants([
      { task: 'straddles', fid: 9, fidStd: 0.6, disparity: 'low' },   // 9 + 1.2 >= 10: could be far
      { task: 'clear', fid: 7, fidStd: 1, disparity: 'low' },         // 7 + 2 < 10
      { task: 'above', fid: 10.5, fidStd: 0.3, disparity: 'high' },   // 10.5 - 0.6 <= 10: could be near
      { task: 'exact', fid: 10, disparity: 'high' },                  // at the threshold, but no std measured
    ], 10);
    expect(t.rows.map((r) => [r.task, r.similarity, r.uncertain])).toEqual([['straddles', 'near', true], ['clear', 'near', false], ['above', 'far', true], ['exact', 'near', false]]);
    expect(t.uncertain).toEqual(['straddles', 'above']);
    expect(quadrantCsv(t).split('\n').slice(0, 2)).toEqual(['task,group,disparity,fid,fid_std,similarity,intended_similarity,quadrant,mismatch,uncertain', 'straddles,,low,9,0.6,near,,low-disparity/near,false,true']);
    const md = quadrantMarkdown(t);
    expect(md).toContain('| straddles |  | low | 9.000 ± 0.600 | near | — | low-disparity/near | UNCERTAIN (threshold within 2 std) |');
    expect(md).toContain('| exact |  | high | 10.000 | near |');
    expect(md).toContain('Uncertain placement (the threshold is within 2 std of the FID) for: straddles, above.');
  });
});

const predictionsFile = (labels: number[], predicted: number[]) => JSON.stringify({
  format: PREDICTIONS_FORMAT, task: 't', method: 'x', seed: 42, split: 'test', top1: 0,
  items: labels.map((l, i) => ({ index: i, label: l, predicted: predicted[i], correct: l === predicted[i] })),
});

describe('image selection and run files', () => {
  const labels = [0, 1, 2, 0, 1, 2];
  const ftPred = [0, 2, 2, 1, 1, 0];   // right: 0, 2, 4
  const vptPred = [1, 1, 2, 0, 0, 2];  // right: 1, 2, 3, 5

  it('picks FT-fails/VPT-succeeds and the reverse from train.vit predictions', async () => {
    const ft = parsePredictions(predictionsFile(labels, ftPred), 'ft.json');
    const vpt = parsePredictions(predictionsFile(labels, vptPred), 'vpt.json');
    expect(ft.ok && vpt.ok).toBe(true);
    if (!ft.ok || !vpt.ok) return;
    const s = selectImages(ft.value, vpt.value);
    expect(s.ok && s.value.ftFailsVptSucceeds).toEqual([1, 3, 5]);
    expect(s.ok && s.value.vptFailsFtSucceeds).toEqual([0, 4]);
    const limited = selectImages(ft.value, vpt.value, 2);
    expect(limited.ok && limited.value.ftFailsVptSucceeds).toEqual([1, 3]);
    const other = parsePredictions(predictionsFile([2, 1, 2, 0, 1, 2], vptPred), 'o.json');
    expect(other.ok && selectImages(ft.value, other.value).ok).toBe(false);
    // One format: no CSV or bare arrays guessed at; a wrong `correct` is refused.
    const csv = parsePredictions('label,predicted,correct\n0,0,true\n1,2,false\n', 'p.csv');
    expect(!csv.ok && csv.error.message).toMatch(/p\.csv: not JSON/);
    const wrong = JSON.parse(predictionsFile([0], [1])) as { items: Array<{ correct: boolean }> };
    (wrong.items[0] as { correct: boolean }).correct = true;
    const lie = parsePredictions(JSON.stringify(wrong), 'p.json');
    expect(!lie.ok && lie.error.message).toMatch(/items\[0\]: correct=true but label 0 vs predicted 1/);
    expect(parsePredictions('{"foo": 1}', 'p.json').ok).toBe(false);

    await writeFile(join(ws, 'ft-pred.json'), predictionsFile(labels, ftPred));
    await writeFile(join(ws, 'vpt-pred.json'), predictionsFile(labels, vptPred));
    const out = join(ws, 'selection.json');
    const r = await selectImagesKind.run(fakeCtx({ ft: 'ft-pred.json', vpt: 'vpt-pred.json' }, { selection: out }));
    expect(r.metrics).toMatchObject({ ftFailsVptSucceeds: 3, vptFailsFtSucceeds: 2, testImages: 6 });
    const sel = JSON.parse(readFileSync(out, 'utf8')) as { ftFailsVptSucceeds: Array<{ index: number; label: number; ftPredicted: number; vptPredicted: number }> };
    expect(sel.ftFailsVptSucceeds[0]).toEqual({ index: 1, label: 1, ftPredicted: 2, vptPredicted: 1 });
  });

  it('reads train.vit metrics.json in its one format (split names, final, size from the split name) and nothing else', () => {
    const good = {
      format: RUN_METRICS_FORMAT, task: 'dtd', group: 'natural', method: 'vpt-deep', seed: 44, baseLr: 0.5, weightDecay: 0.001,
      trainSplit: 'size5000-trainval', valSplit: null, testSplit: 'test',
      environment: { backend: 'wasm', tfBackend: 'wasm', tfjsVersion: '4.22.0', simd: true, workers: 2 }, final: { test_top1: 0.625 },
      history: [
        { epoch: 0, phase: 'vpt', lr: 0.1, train_loss: 2, train_top1: 0.3, evals: { test: { loss: 1.9, top1: 0.4 } } },
        { epoch: 1, phase: 'vpt', lr: 0.1, train_loss: 1.5, train_top1: 0.5, evals: { test: { loss: 1.7, top1: 0.625 } } },
      ],
    };
    const r = parseMetrics(JSON.stringify(good), { metrics: 'm.json' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toMatchObject({ task: 'dtd', method: 'vpt-deep', seed: 44, trainSize: 5000, group: 'natural', testTop1: 0.625 });
    expect(r.value.epochs).toEqual([{ epoch: 0, phase: 'vpt', trainLoss: 2, testLoss: 1.9, testTop1: 0.4 }, { epoch: 1, phase: 'vpt', trainLoss: 1.5, testLoss: 1.7, testTop1: 0.625 }]);
    expect(r.value.environment['backend']).toBe('wasm');
    // Anything else is refused, saying what is wrong (no "tolerant" guesses at other shapes).
    const bad = (change: Record<string, unknown>): string => {
      const res = parseMetrics(JSON.stringify({ ...good, ...change }), { metrics: 'm.json' });
      return res.ok ? 'accepted' : res.error.message;
    };
    expect(bad({ format: undefined })).toMatch(/m\.json: format undefined, expected "vpt\.run-metrics\/1"/);
    expect(bad({ final: { test_top1: 64.5 } })).toMatch(/final\.test_top1 64\.5 is not a fraction/);
    expect(bad({ history: [{ epoch: 0 }] })).toMatch(/history\[0\] must hold/);
    expect(bad({ environment: { backend: 'wasm', cpuModel: 'Xeon' } })).toMatch(/environment must hold/);
    expect(bad({ final: {} })).toMatch(/no final\.test_top1/);
    expect(parseMetrics('not json', { metrics: 'm.json' }).ok).toBe(false);
  });
});

describe('analysis.attribution on a saved ViT', () => {
  it('writes GradCAM overlays, IG maps, raw maps and the measured completeness', async () => {
    const image = (index: number) => ({ index, label: 0, ftPredicted: 1, vptPredicted: 0 });
    const sel = { format: IMAGE_SELECTION_FORMAT, ft: 'ft.json', vpt: 'vpt.json', total: 10, ftFailsVptSucceeds: [image(3), image(7)], vptFailsFtSucceeds: [image(5)] };
    await writeFile(join(ws, 'sel.json'), JSON.stringify(sel));
    const out = join(ws, 'out-attr');
    const r = await attributionKind.run(fakeCtx({ model: modelRel, task: 'tasks/near-task', selection: 'sel.json', which: 'both' as const, igSteps: 50 }, { attribution: out }));
    const report = JSON.parse(readFileSync(join(out, 'attribution.json'), 'utf8')) as {
      layout: { prefix: number; gridH: number; gridW: number };
      completeness: { maxRelativeError: number };
      images: Array<{ index: number; gradcam: { png: string; explainedClass: number }; ig: { png: string; completenessError: number; attributionSum: number; fx: number; fBaseline: number }; predicted: number }>;
    };
    expect(report.layout).toEqual({ prefix: 1 + TINY.promptLength, gridH: 2, gridW: 2 });
    expect(report.images.map((i) => i.index)).toEqual([3, 7, 5]);
    for (const img of report.images) {
      expect(img.gradcam.explainedClass).toBe(img.predicted);
      expect(readPngHeader(readFileSync(join(out, img.gradcam.png)))).toMatchObject({ width: 224, height: 224 });
      expect(readPngHeader(readFileSync(join(out, img.ig.png)))).toMatchObject({ width: 224, height: 224 });
      expect(img.ig.completenessError).toBeLessThan(0.01);
      expect(Math.abs(img.ig.attributionSum - (img.ig.fx - img.ig.fBaseline))).toBeLessThan(0.01 * Math.abs(img.ig.fx - img.ig.fBaseline) + 1e-6);
    }
    expect(r.metrics?.['igMaxCompletenessError']).toBe(report.completeness.maxRelativeError);
    const maps = await readSafetensors(join(out, 'maps.safetensors'));
    expect(maps.ok).toBe(true);
    if (!maps.ok) return;
    expect(maps.value.tensors.get('gradcam')?.shape).toEqual([3, 2, 2]);
    expect(maps.value.tensors.get('ig')?.shape).toEqual([3, SIZE, SIZE, 1]);
    expect(Array.from(maps.value.tensors.get('indices')?.data as Int32Array)).toEqual([3, 7, 5]);
  });

  it('rejects an index outside the split', async () => {
    await expect(attributionKind.run(fakeCtx({ model: modelRel, task: 'tasks/near-task', indices: [99] }, { attribution: join(ws, 'bad') }))).rejects.toThrow(/outside/);
  });
});
