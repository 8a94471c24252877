/**
 * pipelines/vtab-full.yaml cannot silently break: the real file runs end to end, through the CLI from
 * the sources, on a stand-in for its data (test/helpers/vtab-standin.ts: the 19 VTAB-1k tasks in the
 * release layout with a few 16x16 images each, a tiny ViT checkpoint in the ViT-B/16 npz naming, a
 * tiny graph model for FID, a small ImageNet-style reference folder), every scale param shrunk with
 * `--set` (1 epoch, one grid point per method, seed 42 only), on CPU: the training stages keep their
 * declared `gpu: 1`, and `--gpus 2` grants two GPU slots (scheduling tokens; the stages compute on the
 * CPU backend). docs/vtab-full.md, "Smoke run on a stand-in".
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPipeline } from '../src/dsl/index.js';
import { builtinKinds } from '../src/stages/index.js';
import { runCli, type CliResult } from './helpers/cli.js';
import { makeVtabStandin, pipelineTasks, STANDIN_DEFAULTS, standinOverrides } from './helpers/vtab-standin.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PIPELINE = 'pipelines/vtab-full.yaml';
/** Two stages at a time on two cores; slots for what the paper's stages declare (cpu 4, gpu 1, 24 GiB). */
const SLOTS = ['--jobs', '2', '--gpus', '2', '--cpus', '8', '--memory', '200000'];

let ws: string;
let sets: string[];
let run: CliResult;
let seconds: number;

interface Results {
  readonly study: {
    readonly methods: readonly string[];
    readonly rows: ReadonlyArray<{ task: string; quadrant?: string; fid?: number; cells: Record<string, { mean: number; n: number; seeds: number[] }>; paper?: { ft: number; vpt: number } }>;
    readonly byQuadrant: ReadonlyArray<{ name: string; tasks: readonly string[] }>;
  };
  readonly quadrants: { readonly rows: readonly unknown[] } | null;
  readonly attributions: ReadonlyArray<{ task: string }>;
}

describe('pipelines/vtab-full.yaml on the stand-in', () => {
  beforeAll(async () => {
    ws = await mkdtemp(join(tmpdir(), 'vpt-vtab-full-'));
    // The file with what it reads: params/paper.yaml and the include/ stage definitions.
    await cp(join(root, 'pipelines'), join(ws, 'pipelines'), { recursive: true });
    const standin = await makeVtabStandin(ws, await pipelineTasks(join(ws, PIPELINE)));
    sets = standinOverrides(standin).flatMap((s) => ['--set', s]);
    const started = Date.now();
    run = await runCli(['run', PIPELINE, ...sets, ...SLOTS], ws);
    seconds = (Date.now() - started) / 1000;
    process.stderr.write(`vtab-full on the stand-in: ${seconds.toFixed(1)} s (${run.stdout.trim().split('\n').pop() ?? ''})\n`);
  }, 900_000);

  afterAll(async () => {
    if (ws) await rm(ws, { recursive: true, force: true });
  });

  it('runs every stage and exits 0', () => {
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
    // 19 tasks x (2 grid points + 2 selections + 2 final runs + 2 ablations + 1 image pick) + 4 x 2
    // attributions + prep, backbone, reference, fid, quadrants, report.
    expect(run.stdout).toMatch(/done: 185 ran, 0 restored, 0 up to date, 0 failed, 0 skipped/);
  });

  it('writes the report: 19 task rows, the paper beside them, the quadrants, Mixed and FT-then-PT', async () => {
    const out = join(ws, 'results', 'vtab-full');
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as Results;
    const tasks = await pipelineTasks(join(ws, PIPELINE));
    expect(results.study.rows.map((r) => r.task).sort()).toEqual([...tasks].sort());
    expect(results.study.methods).toEqual(['ft', 'vpt', 'mixed', 'ft-then-pt']);
    for (const row of results.study.rows) {
      expect(Object.keys(row.cells).sort(), row.task).toEqual(['ft', 'ft-then-pt', 'mixed', 'vpt']);
      for (const cell of Object.values(row.cells)) expect(cell).toMatchObject({ n: 1, seeds: [42] });
      expect(row.paper, row.task).toBeDefined();
      expect(row.quadrant, row.task).toMatch(/^(low|high)-disparity\/(near|far)$/);
      expect(Number.isFinite(row.fid), row.task).toBe(true);
    }
    expect(results.quadrants?.rows).toHaveLength(19);
    expect(results.study.byQuadrant.reduce((n, q) => n + q.tasks.length, 0)).toBe(19);
    expect(results.attributions.map((a) => a.task).sort()).toEqual(['clevr_count', 'clevr_count', 'dsprites_loc', 'dsprites_loc', 'smallnorb_azi', 'smallnorb_azi', 'svhn', 'svhn']);

    const md = await readFile(join(out, 'report.md'), 'utf8');
    const section = (title: string): string => {
      const at = md.indexOf(`## ${title}`);
      expect(at, title).toBeGreaterThanOrEqual(0);
      const next = md.indexOf('\n## ', at + 3);
      return md.slice(at, next < 0 ? undefined : next);
    };
    const tableRows = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| ---')).slice(1);
    const perTask = section('Per-task results');
    expect(perTask).toContain('| task | group | quadrant | FT | VPT | Mixed | FT-then-PT | seeds | VPT - FT | winner |');
    expect(tableRows(perTask)).toHaveLength(19);
    const paper = tableRows(section('Side by side with the paper'));
    expect(paper).toHaveLength(19);
    // The paper's FT and VPT numbers (Han et al., Table 1) beside ours.
    expect(paper.some((l) => l.startsWith('| CIFAR-100 | 64.5 | ') && l.includes('| 77.7 |'))).toBe(true);
    expect(paper.some((l) => l.startsWith('| smallNORB/elevation | 28.6 | ') && l.includes('| 41.3 |'))).toBe(true);
    const quadrants = section('Group means and win counts per quadrant');
    expect(quadrants).toContain('| quadrant / group | tasks | FT mean | VPT mean | Mixed mean | FT-then-PT mean | VPT wins | FT wins | ties |');
    const quadrantRows = tableRows(quadrants).map((l) => (l.split(' | ')[0] as string).slice(2));
    expect(quadrantRows.at(-1)).toBe('all tasks');
    expect(quadrantRows.slice(0, -1).every((q) => /^(low|high)-disparity\/(near|far)$/.test(q))).toBe(true);
    expect(section('Integrated Gradients completeness')).toBeTruthy();
    for (const f of ['report.html', 'results.csv', 'figures/ablations.svg', 'figures/fid-vs-gap.svg']) await expect(readFile(join(out, f))).resolves.toBeDefined();
  });

  it('is all cached on a second run with the same params', async () => {
    const again = await runCli(['run', PIPELINE, ...sets, ...SLOTS], ws);
    expect(again.exitCode, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/done: 0 ran, 0 restored, 185 up to date/);
  }, 120_000);

  it('still needs GPU slots for a training stage: the declared gpu: 1 is not weakened', async () => {
    const r = await runCli(['run', PIPELINE, ...sets, '--jobs', '2', '--force', '--only', 'grid[task=dtd,method=ft,lr=0.001,wd=0.001]'], ws, { VPT_GPUS: '0' });
    expect(r.exitCode).toBe(1);
    expect(r.stdout + r.stderr).toContain('needs 1 GPU(s); the local executor has 0');
  }, 120_000);
});

describe('pipelines/vtab-full.yaml params', () => {
  const load = async (set: readonly string[]) => {
    const r = await loadPipeline(join(root, PIPELINE), { kinds: builtinKinds(), set });
    if (!r.ok) throw new Error(r.error.map((d) => d.message).join('\n'));
    return r.value;
  };

  it('default to the paper run: ViT-B/16 at 224, the 10x4 SGD grid for VPT and 4x4 AdamW grid for FT, 5 seeds, on a GPU', async () => {
    const p = await load([]);
    const grid = p.stages.filter((s) => s.template === 'grid');
    const points = (method: string, task = 'dtd') => grid.filter((s) => s.matrix['method'] === method && s.matrix['task'] === task);
    expect(points('vpt-deep')).toHaveLength(40);
    expect(points('ft')).toHaveLength(16);
    expect([...new Set(points('vpt-deep').map((s) => s.matrix['lr']))]).toEqual([50, 25, 10, 5, 2.5, 1, 0.5, 0.25, 0.1, 0.05]);
    expect([...new Set(points('ft').map((s) => s.matrix['lr']))]).toEqual([0.001, 0.0005, 0.0001, 0.005]);
    expect([...new Set(grid.map((s) => s.matrix['wd']))]).toEqual([0.01, 0.001, 0.0001, 0]);
    expect(p.stages.map((s) => s.id)).toContain('grid[task=dtd,method=ft,lr=0.001,wd=0.01]');
    expect(grid).toHaveLength(19 * 56);
    expect(p.stages.filter((s) => s.template === 'final')).toHaveLength(19 * 2 * 5);
    const withOf = (id: string) => (p.stages.find((s) => s.id === id) as { with: Record<string, unknown> }).with;
    expect(withOf('prep')).toMatchObject({ imageSize: 224, root: 'data/vtab-1k' });
    expect(withOf('reference')).toMatchObject({ imageSize: 224, trainSize: 800, root: 'data/imagenet-sample' });
    expect(withOf('fid')).toMatchObject({ referenceSplit: 'train800val200', features: { source: 'inception', model: 'models/inception-v3-tfjs/model.json', inputSize: [299, 299], width: 2048 } });
    // The checkpoint is checked against ViT-B/16 once (train.import); every training starts from that stage's model.
    expect(withOf('backbone')).toEqual({ checkpoint: 'models/ViT-B_16.npz', model: 'vit-b16' });
    expect(withOf('grid[task=dtd,method=ft,lr=0.001,wd=0.01]')).toMatchObject({ init: 'artifacts/vtab-full/backbone/model', epochs: 100, batch: 128, warmup: 5, seed: 42, workers: 1 });
    expect(withOf('final[task=svhn,method=vpt-deep,seed=800]')).toMatchObject({ init: 'artifacts/vtab-full/backbone/model', epochs: 100, batch: 64, warmup: 10, promptLength: 200 });
    expect(withOf('ablation[task=svhn,method=ft-then-pt]')).toMatchObject({ epochs: 200, batch: 64, warmup: 10, ft: { epochs: 100, baseLr: 0.001, weightDecay: 0.0001 } });
    expect(p.stages.filter((s) => s.template === 'ablation').map((s) => s.matrix['method']).filter((m, i, a) => a.indexOf(m) === i)).toEqual(['mixed', 'ft-then-pt', 'linear']);
    expect(withOf('attribution[task=svhn,method=ft]')).toMatchObject({ limit: 8, igSteps: 50 });
    for (const s of p.stages.filter((x) => ['grid', 'final', 'ablation', 'attribution'].includes(x.template))) expect(s.resources.gpu, s.id).toBe(1);
  });

  it('the stand-in overrides keep the declared GPUs and give one grid point per method', async () => {
    const paths = { vtabRoot: 'standin/vtab-1k', checkpoint: 'standin/x.npz', inception: 'standin/i/model.json', fidReference: 'standin/imagenet' };
    const p = await load(standinOverrides({ dir: 'standin', paths, tasks: [], options: STANDIN_DEFAULTS }));
    expect(p.stages).toHaveLength(185);
    const grid = p.stages.filter((s) => s.template === 'grid' && s.matrix['task'] === 'dtd').map((s) => s.id);
    expect(grid).toEqual(['grid[task=dtd,method=vpt-deep,lr=0.25,wd=0.001]', 'grid[task=dtd,method=ft,lr=0.001,wd=0.001]']);
    for (const s of p.stages.filter((x) => ['grid', 'final', 'ablation', 'attribution'].includes(x.template))) expect(s.resources.gpu, s.id).toBe(1);
  });
});
