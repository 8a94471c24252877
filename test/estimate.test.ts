/**
 * Compute estimates (`pipeline run X.yaml --estimate`): the FLOP model, split sizes before the data
 * exists, the work of training stages, pricing and parallel wall time, and the CLI surface.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VIT_B16, VIT_MINI } from '../src/ml/config.js';
import { openPipeline } from '../src/open.js';
import { computeWorkload, flopsPerImage, priceWorkload, sizeFromSplitName, throughputFromFigure, type Workload } from '../src/plan/estimate/index.js';
import { planCalibration } from '../src/plan/estimate/calibrate.js';
import { runCli, workspace } from './helpers/cli.js';

const ROOT = resolve(import.meta.dirname, '..');

/** A data stage that has not run, and training stages on its tasks. */
function pipelineYaml(o: { epochs?: number; trainSize?: number; seeds?: number } = {}): string {
  return `
params: { epochs: ${o.epochs ?? 4}, pretrainTrainSize: ${o.trainSize ?? 1000} }
stages:
  prep:
    uses: data.mini-vtab
    with: { tasks: [shapes, textures], testSize: 300, pretrainTrainSize: "\${{ params.pretrainTrainSize }}" }
  pretrain:
    matrix: { seed: [${Array.from({ length: o.seeds ?? 8 }, (_, i) => i).join(', ')}] }
    uses: train.pretrain
    with:
      data: \${{ stages.prep.outputs.tasks }}/pretrain
      model: vit-mini
      epochs: \${{ params.epochs }}
      batch: 50
      seed: \${{ matrix.seed }}
  grid:
    matrix: { task: [shapes, textures], method: [ft, vpt-deep] }
    uses: train.vit
    with:
      data: \${{ stages.prep.outputs.tasks }}/\${{ matrix.task }}
      init: \${{ stages.pretrain[seed=0].outputs.model }}
      method: \${{ matrix.method }}
      trainSplit: train800
      evalSplits: [val200]
      epochs: \${{ params.epochs }}
      promptLength: 5
  ablation:
    uses: train.vit
    with:
      data: \${{ stages.prep.outputs.tasks }}/shapes
      init: \${{ stages.pretrain[seed=0].outputs.model }}
      method: ft-then-pt
      trainSplit: train800val200
      evalSplits: [test]
      epochs: 10
      ft: { epochs: 4 }
`;
}

async function workloadOf(yaml: string, selection: { targets?: string[] } = {}): Promise<Workload> {
  const ws = await workspace({ 'pipeline.yaml': yaml });
  const opened = await openPipeline(`${ws}/pipeline.yaml`, { cache: false });
  if (!opened.ok) throw new Error(JSON.stringify(opened.error));
  const w = await computeWorkload(opened.value.pipeline, 'wasm', selection);
  if (!w.ok) throw new Error(w.error.message);
  return w.value;
}

describe('the FLOP model', () => {
  it('gives ViT-B/16 its published ~17.6 GMACs per forward pass, FT ~3x and VPT ~2x that', () => {
    const forward = flopsPerImage(VIT_B16, 'eval', 0, false);
    expect(forward / 2 / 1e9).toBeCloseTo(17.56, 1);
    const ft = flopsPerImage(VIT_B16, 'full', 0, false);
    expect(ft / forward).toBeGreaterThan(2.95);
    expect(ft / forward).toBeLessThan(3.05);
    const vpt = flopsPerImage(VIT_B16, 'frozen', 0, false);
    expect(vpt / forward).toBeGreaterThan(1.95);
    expect(vpt / forward).toBeLessThan(2.1);
    // Prompts lengthen every block's sequence: 200 deep prompts about double the work.
    expect(flopsPerImage(VIT_B16, 'frozen', 200, false) / vpt).toBeGreaterThan(1.9);
    // Recomputing blocks in the backward pass (wasm) adds about one forward pass.
    expect((flopsPerImage(VIT_B16, 'full', 0, true) - ft) / forward).toBeCloseTo(1, 1);
    expect(flopsPerImage(VIT_MINI, 'head', 0, false)).toBe(flopsPerImage(VIT_MINI, 'eval', 0, false));
  });

  it('reads split sizes from VTAB split names', () => {
    expect(sizeFromSplitName('train800')).toBe(800);
    expect(sizeFromSplitName('val200')).toBe(200);
    expect(sizeFromSplitName('train800val200')).toBe(1000);
    expect(sizeFromSplitName('size400-val')).toBe(100);
    expect(sizeFromSplitName('size400-trainval')).toBe(500);
    expect(sizeFromSplitName('test')).toBeUndefined();
  });
});

describe('the work of training stages before their data exists', () => {
  it('counts images per phase from the params and the data stage, FT-then-PT as two phases', async () => {
    const w = await workloadOf(pipelineYaml());
    expect(w.trainings.map((t) => t.group)).toEqual([...Array(8).fill('pretrain'), 'grid', 'grid', 'grid', 'grid', 'ablation']);
    expect([...w.others]).toEqual([['data.mini-vtab', 1]]);
    const pre = w.trainings[0];
    // pretrainTrainSize from the data stage's params, 4 epochs, no evaluation.
    expect(pre?.train).toMatchObject({ images: 1000, source: 'stage-params' });
    expect(pre?.trainImages).toBe(4000);
    expect(pre?.steps).toBe(80);
    expect(pre?.evalImages).toBe(0);
    const grid = w.trainings.find((t) => t.id === 'grid[task=shapes,method=vpt-deep]');
    // The model comes from the stage that writes the init file (pretrain: vit-mini).
    expect(grid?.modelLabel).toBe('vit-mini');
    expect(grid?.batch).toBe(64);
    expect(grid?.phases.map((p) => [p.pass, p.tokens])).toEqual([['frozen', 1 + 64 + 5]]);
    // val200 each epoch, then the test split (testSize 300) once for the predictions.
    expect(grid?.trainImages).toBe(4 * 800);
    expect(grid?.evalImages).toBe(4 * 200 + 300);
    const ab = w.trainings.find((t) => t.id === 'ablation');
    expect(ab?.phases.map((p) => [p.name, p.pass, p.epochs, p.trainImages])).toEqual([['ft', 'full', 4, 4000], ['pt', 'frozen', 6, 6000]]);
    expect(ab?.evalImages).toBe(10 * 300 + 300);
    expect(w.reference?.label).toBe('vit-mini');
  });

  it('scales linearly with epochs and images, with the time per image, and inversely with N until the critical path', async () => {
    const only = { targets: ['pretrain'] };
    const base = await workloadOf(pipelineYaml(), only);
    const ref = base.reference;
    if (!ref) throw new Error('no reference');
    const at = (w: Workload, ms: number, slots?: number) => priceWorkload(w, throughputFromFigure(ref, ms, { kind: 'per-image-ms', ms }), slots);
    const one = at(base, 2);
    const serial = one.total.seconds as number;
    expect(serial).toBeGreaterThan(0);
    expect(one.total.stages).toBe(8);
    const doubledEpochs = at(await workloadOf(pipelineYaml({ epochs: 8 }), only), 2);
    expect(doubledEpochs.total.seconds).toBeCloseTo(2 * serial, 6);
    const tripledImages = at(await workloadOf(pipelineYaml({ trainSize: 3000 }), only), 2);
    expect(tripledImages.total.seconds).toBeCloseTo(3 * serial, 6);
    expect(at(base, 6).total.seconds).toBeCloseTo(3 * serial, 6);
    // An FT image at the figure given costs exactly that.
    const perImage = serial / one.total.trainImages;
    expect(perImage).toBeCloseTo(0.002, 9);
    // Eight independent trainings: wall = serial / N, until N reaches 8 (one training is the critical path).
    expect(at(base, 2, 2).parallel?.wallSeconds).toBeCloseTo(serial / 2, 6);
    expect(at(base, 2, 4).parallel?.wallSeconds).toBeCloseTo(serial / 4, 6);
    expect(at(base, 2, 16).parallel?.wallSeconds).toBeCloseTo(serial / 8, 6);
    expect(at(base, 2, 16).criticalPath.trainings).toHaveLength(1);
  });

  it('follows the DAG for the critical path: a grid point, then the run that waits for it', async () => {
    const w = await workloadOf(pipelineYaml());
    const ref = w.reference;
    if (!ref) throw new Error('no reference');
    const e = priceWorkload(w, throughputFromFigure(ref, 1, { kind: 'per-image-ms', ms: 1 }), 1000);
    expect(e.criticalPath.trainings[0]).toBe('pretrain[seed=0]');
    expect(e.criticalPath.trainings.length).toBe(2);
    expect(e.parallel?.wallSeconds).toBeCloseTo(e.criticalPath.seconds as number, 9);
    expect(e.parallel?.upperBoundSeconds).toBeGreaterThan(e.parallel?.wallSeconds as number);
  });

  it('calibrates a big model on few blocks and a small batch, a small one whole', () => {
    const base = { label: 'x', workers: 2, recompute: true, stages: 1 };
    const big = planCalibration({ ...base, model: VIT_B16, batch: 128 }, 'wasm');
    expect(big.config.depth).toBe(1);
    expect(big.fullDepth).toBe(12);
    expect(big.batch).toBe(4);
    const small = planCalibration({ ...base, model: VIT_MINI, batch: 64, recompute: false }, 'wasm');
    expect(small.config.depth).toBe(VIT_MINI.depth);
    expect(small.batch).toBe(64);
  });
});

describe('pipeline run --estimate', () => {
  it('lists the ~1,300 trainings of vtab-full without its data, with hours and the wall time on N GPUs', async () => {
    const r = await runCli(['run', 'pipelines/vtab-full.yaml', '--estimate', '--per-step-ms', '500', '--gpus', '8', '--json'], ROOT);
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as {
      total: { trainings: number; computeHours: number; trainImages: number };
      groups: { group: string; trainings: number }[];
      serialHours: number;
      criticalPath: { hours: number };
      parallel: { slots: number; wallHours: number };
      splitSizes: Record<string, number>;
      reference: { model: string; batch: number };
    };
    expect(j.total.trainings).toBe(1311);
    expect(Object.fromEntries(j.groups.map((g) => [g.group, g.trainings]))).toEqual({ grid: 1064, final: 190, ablation: 57 });
    // 19 tasks x (56 grid points x 800 + 10 final runs x 1,000) x 100 epochs + 57 ablations (Mixed, FT-then-PT, linear) x 1,000 x 200.
    expect(j.total.trainImages).toBe(19 * (56 * 800 + 10 * 1000) * 100 + 57 * 1000 * 200);
    expect(j.reference).toMatchObject({ model: 'vit-b16', batch: 128 });
    expect(j.splitSizes['vtab-table']).toBeGreaterThan(0);
    expect(j.parallel.slots).toBe(8);
    expect(j.parallel.wallHours).toBeCloseTo(Math.max(j.serialHours / 8, j.criticalPath.hours), 6);

    const text = await runCli(['run', 'pipelines/vtab-full.yaml', '--estimate', '--per-step-ms', '500', '--nodes', '4', '--gpus', '2'], ROOT);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/vtab-full: 1,311 training stages selected/);
    expect(text.stdout).toMatch(/^\s+grid\s+1,064\s/m);
    expect(text.stdout).toMatch(/on 4 nodes x 2 GPUs \(8 trainings at once/);
    expect(text.stdout).toMatch(/VTAB-1k test sets from the table/);
  });

  it('prices the study files at paper scale too: ViT-B/16 from the imported checkpoint, one-shot and data-size splits by their names', async () => {
    type Estimate = { total: { trainings: number; trainImages: number }; groups: { group: string; trainings: number; trainImages: number }[]; reference: { model: string } };
    const est = async (file: string): Promise<Estimate> => {
      const r = await runCli(['run', file, '--estimate', '--per-step-ms', '500', '--json'], ROOT);
      expect(r.exitCode, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as Estimate;
    };
    const group = (e: Estimate, g: string) => e.groups.find((x) => x.group === g);
    const ablations = await est('pipelines/ablations.yaml');
    expect(ablations.reference.model).toBe('vit-b16');
    expect(group(ablations, 'prompt-sweep')?.trainings).toBe(19 * 2 * 6);
    const oneShot = await est('pipelines/one-shot.yaml');
    // One image per class for train and one for val, 100 epochs, 2 methods x 5 seeds: 2 x 940 classes x 100 x 10.
    expect(group(oneShot, 'one-shot')).toMatchObject({ trainings: 190, trainImages: 2 * 940 * 100 * 10 });
    const sizes = await est('pipelines/data-scale.yaml');
    // size<N>-trainval holds N + N/4 images: 19 tasks x 2 methods x 3 seeds x 100 epochs.
    const perRun = [400, 800, 1000, 2000, 5000, 10000, 20000].reduce((a, n) => a + n * 1.25, 0);
    expect(group(sizes, 'size-run')).toMatchObject({ trainings: 19 * 2 * 7 * 3, trainImages: 19 * 2 * 3 * 100 * perRun });
  }, 120_000);

  it('estimates the work without a throughput, and says how to get hours', async () => {
    const ws = await workspace({ 'pipeline.yaml': pipelineYaml() });
    const r = await runCli(['run', '--estimate', 'grid'], ws);
    expect(r.exitCode, r.stderr).toBe(0);
    // A target brings its ancestors: the one pretraining that writes grid's init, and the data stage.
    expect(r.stdout).toMatch(/5 training stages selected \(and 1 other stage, not estimated\)/);
    expect(r.stdout).toMatch(/no throughput: give --per-image-ms/);
    // Nothing ran: no stage output, no run record.
    expect(existsSync(join(ws, 'artifacts'))).toBe(false);
    expect(await readdir(join(ws, '.vpt', 'runs')).catch(() => [])).toEqual([]);
  });

  it('times a few steps here with --calibrate', async () => {
    const ws = await workspace({ 'pipeline.yaml': pipelineYaml().replaceAll('model: vit-mini', 'model: { preset: vit-mini, patchSize: 8, depth: 1 }') });
    const r = await runCli(['run', '--estimate', '--calibrate', '--backend', 'wasm', '--json', 'pretrain'], ws);
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { throughput: { source: { kind: string }; flopsPerSecond: Record<string, number> }; calibration: { measurements: unknown[] }; serialHours: number };
    expect(j.throughput.source.kind).toBe('calibrated');
    for (const pass of ['full', 'frozen', 'head', 'eval']) expect(j.throughput.flopsPerSecond[pass]).toBeGreaterThan(0);
    expect(j.calibration.measurements).toHaveLength(3);
    expect(j.serialHours).toBeGreaterThan(0);
  });

  it.each([
    [['--estimate', '--per-step-ms', '0'], /--per-step-ms takes a time in milliseconds > 0, got '0'/],
    [['--estimate', '--per-step-ms', '-20'], /--per-step-ms takes a time in milliseconds > 0, got '-20'/],
    [['--estimate', '--per-image-ms', 'fast'], /--per-image-ms takes a time in milliseconds > 0, got 'fast'/],
    [['--estimate', '--per-image-ms', '1', '--calibrate'], /--per-image-ms and --calibrate are alternatives/],
    [['--estimate', '--step-batch', '64'], /--step-batch goes with --per-step-ms/],
    [['--estimate', '--per-step-ms', '100', '--gpus', '0'], /--gpus takes a whole number >= 1, got '0'/],
    [['--estimate', '--nodes', '2.5'], /--nodes takes a whole number >= 1, got '2.5'/],
    [['--per-image-ms', '5'], /--per-image-ms goes with --estimate/],
    [['--estimate', '--backend', 'tpu'], /--backend: unknown backend 'tpu'/],
    [['--estimate', 'nosuchstage'], /no stage matches 'nosuchstage'/],
    [['--estimat'], /unknown option '--estimat'/],
  ])('refuses %j with exit code 2', async (args, message) => {
    const ws = await workspace({ 'pipeline.yaml': pipelineYaml() });
    const r = await runCli(['run', ...args], ws);
    expect(r.exitCode, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });
});
