/**
 * The study files (pipelines/ablations.yaml, data-scale.yaml, one-shot.yaml and their mini twins in
 * pipelines/mini/) cannot silently break:
 * - at paper scale each validates and plans with the paper's grid of cells, and every stage it shares
 *   with vtab-full is the same stage (kind, params, the params it read, inputs, outputs, env), so a
 *   vtab-full run's cache serves it; likewise each mini twin against vtab-mini;
 * - at a reduced mini scale (`--set`: two tasks, one seed, one epoch), through the real CLI: after
 *   vtab-mini, `--only` one ablation cell restores it without training, the ablations study runs only
 *   its prompt-length sweep and report, and the one-shot and data-size studies run only their own
 *   stages; each report holds the tables and figures it should.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPipeline, type BuiltinStage, type Pipeline, type Stage } from '../src/dsl/index.js';
import { builtinKinds } from '../src/stages/index.js';
import { runCli, type CliResult } from './helpers/cli.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

async function load(file: string, set: readonly string[] = []): Promise<Pipeline> {
  const r = await loadPipeline(join(root, file), { kinds: builtinKinds(), set });
  if (!r.ok) throw new Error(`${file}: ${r.error.map((d) => d.message).join('\n')}`);
  return r.value;
}

/** What a stage's fingerprint is made of (src/plan/fingerprint.ts), besides the input bytes. */
function identity(s: Stage): unknown {
  return { type: s.type, ...(s.type === 'builtin' ? { uses: s.uses, with: s.with } : { command: s.command }), params: s.paramsUsed, inputs: s.inputs, outputs: s.outputs, env: s.env, resources: s.resources };
}

function expectShared(base: Pipeline, study: Pipeline, templates: readonly string[]): void {
  const byId = new Map(base.stages.map((s) => [s.id, s]));
  const shared = study.stages.filter((s) => templates.includes(s.template));
  expect(shared.length).toBeGreaterThan(0);
  for (const s of shared) {
    const twin = byId.get(s.id);
    expect(twin, `${study.name}: ${s.id} is not in ${base.name}`).toBeDefined();
    expect(identity(s), s.id).toEqual(identity(twin as Stage));
  }
}

const cells = (p: Pipeline, template: string): BuiltinStage[] => p.stages.filter((s): s is BuiltinStage => s.template === template && s.type === 'builtin');

describe('the study files at paper scale', () => {
  it('plan the paper\'s cells and share every common stage with vtab-full', async () => {
    const full = await load('pipelines/vtab-full.yaml');
    const ablations = await load('pipelines/ablations.yaml');
    expect(cells(ablations, 'prompt-sweep')).toHaveLength(19 * 2 * 6);
    expect([...new Set(cells(ablations, 'prompt-sweep').map((s) => s.matrix['length']))]).toEqual([1, 5, 10, 50, 100, 200]);
    expect(cells(ablations, 'prompt-sweep').every((s) => s.resources.gpu === 1)).toBe(true);
    expectShared(full, ablations, ['prep', 'backbone', 'grid', 'select', 'final', 'ablation']);

    const oneShot = await load('pipelines/one-shot.yaml');
    expect(cells(oneShot, 'one-shot')).toHaveLength(19 * 2 * 5);
    expect(cells(oneShot, 'one-shot')[0]?.with).toMatchObject({ trainSplit: 'oneshot-trainval', epochs: 100 });
    expectShared(full, oneShot, ['prep', 'backbone', 'grid', 'select']);
    expect(oneShot.stages.some((s) => s.template === 'final')).toBe(false);

    const sizes = await load('pipelines/data-scale.yaml');
    expect(cells(sizes, 'size-run')).toHaveLength(19 * 2 * 7 * 3);
    expect(cells(sizes, 'prep-sizes').map((s) => s.with['root'])).toContain('data/full/dtd/train');
    expect(cells(sizes, 'size-run').find((s) => s.id === 'size-run[task=dtd,method=ft,size=20000,seed=42]')?.with).toMatchObject({ trainSplit: 'size20000-trainval', ifSplitMissing: 'skip', data: 'artifacts/vtab-full/prep-sizes/task=dtd/tasks/dtd' });
    expectShared(full, sizes, ['prep', 'backbone', 'grid', 'select']);
  });

  it('each mini twin shares its upstream with vtab-mini', async () => {
    const mini = await load('pipelines/vtab-mini.yaml');
    expectShared(mini, await load('pipelines/mini/ablations.yaml'), ['prep', 'backbone', 'grid', 'select', 'final', 'ablation']);
    expectShared(mini, await load('pipelines/mini/one-shot.yaml'), ['prep', 'backbone', 'grid', 'select']);
    const sizes = await load('pipelines/mini/data-scale.yaml');
    expectShared(mini, sizes, ['prep', 'backbone', 'grid', 'select']);
    expect(cells(sizes, 'prep-sizes')[0]?.with).toMatchObject({ sizes: [400, 800, 2000, 5000] });
  });
});

/** The mini recipe shrunk: 2 tasks, 1 seed, 1 epoch without warmup, small test and pretraining sets. */
const REDUCED = [
  'tasks=[textures, shapes_location]',
  'seeds=[42]',
  'data.testSize=40',
  'data.pretrainTrainSize=300',
  'pretrain.epochs=1',
  'train.epochs=1',
  'train.ft.warmup=0',
  'train.vpt-deep.warmup=0',
  'train.vpt-shallow.warmup=0',
  'ablation.tasks=[textures]',
  'ablation.epochs=2',
  'ablation.ft={ epochs: 1, warmup: 0, baseLr: 0.001, weightDecay: 0.0001 }',
  'attribution.tasks=[textures]',
  'attribution.limit=2',
  'attribution.igSteps=4',
  'prompt_sweep.tasks=[textures]',
  'prompt_sweep.lengths=[1, 5]',
  'one_shot.tasks=[textures, shapes_location]',
  'one_shot.seeds=[42]',
  'one_shot.epochs=2',
  'data_scale.tasks=[textures]',
  'data_scale.sizes=[40, 80]',
  'data_scale.seeds=[42]',
].flatMap((s) => ['--set', s]);

const summary = (r: CliResult): string => r.stdout.match(/done: [^\n]*/)?.[0] ?? `(no summary)\n${r.stdout}\n${r.stderr}`;

describe('the mini studies on top of a reduced vtab-mini run', () => {
  let ws: string;
  let mini: CliResult;
  const run = (file: string, ...extra: string[]): Promise<CliResult> => runCli(['run', file, ...REDUCED, '--jobs', '2', ...extra], ws);
  const read = (path: string): Promise<string> => readFile(join(ws, path), 'utf8');

  beforeAll(async () => {
    ws = await mkdtemp(join(tmpdir(), 'vpt-studies-'));
    await cp(join(root, 'pipelines'), join(ws, 'pipelines'), { recursive: true });
    await rm(join(ws, 'pipelines', 'vtab-mini.lock'), { force: true });
    mini = await run('pipelines/vtab-mini.yaml');
  }, 600_000);

  afterAll(async () => {
    if (ws) await rm(ws, { recursive: true, force: true });
  });

  it('vtab-mini runs', () => {
    expect(mini.exitCode, `${mini.stdout}\n${mini.stderr}`).toBe(0);
    // prep, backbone, fid, quadrants, 8 grid points, 4 picks, 4 final runs, 3 ablations, aggregate, 2 image picks, 2 attributions, report.
    expect(summary(mini)).toMatch(/^done: 29 ran, 0 restored, 0 up to date, 0 failed/);
  });

  it('ablations: --only one cell vtab-mini made trains nothing; the study runs only its sweep and report', async () => {
    const only = await run('pipelines/mini/ablations.yaml', '--only', 'ablation[*method=mixed*]');
    expect(only.exitCode, only.stdout + only.stderr).toBe(0);
    // The cell and the inputs it reads (prep, backbone, the VPT pick): all from vtab-mini's run.
    expect(summary(only)).toMatch(/^done: 0 ran, 0 restored, 6 up to date, 0 failed/);

    const sweepCell = await run('pipelines/mini/ablations.yaml', '--only', 'prompt-sweep[task=textures,mode=vpt-shallow,*]');
    expect(sweepCell.exitCode, sweepCell.stdout + sweepCell.stderr).toBe(0);
    expect(summary(sweepCell)).toMatch(/^done: 2 ran, 0 restored, \d+ up to date, 0 failed/);

    const study = await run('pipelines/mini/ablations.yaml');
    expect(study.exitCode, study.stdout + study.stderr).toBe(0);
    // prep, backbone, 8 grid, 4 select, 4 final, 3 ablations and the 2 swept cells are vtab-mini's or the step above's.
    expect(summary(study)).toMatch(/^done: 3 ran, 0 restored, 23 up to date, 0 failed/);

    const md = await read('results/ablations-mini/report.md');
    expect(md).toContain('| task | group | quadrant | FT | VPT | Mixed | FT-then-PT | Linear | seeds | VPT - FT | winner |');
    expect(md).toContain('## Prompt length: test top-1 per task');
    expect(md).toMatch(/\| textures \| deep \|/);
    expect(md).toMatch(/\| textures \| shallow \|/);
    for (const f of ['accuracy-vs-prompt-length', 'ablations']) await expect(read(`results/ablations-mini/figures/${f}.svg`)).resolves.toContain('<svg');
  }, 600_000);

  it('one-shot: only its runs and report are new; the report says no reference numbers were supplied', async () => {
    const r = await run('pipelines/mini/one-shot.yaml');
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(summary(r)).toMatch(/^done: 5 ran, 0 restored, 14 up to date, 0 failed/);
    const md = await read('results/one-shot-mini/report.md');
    expect(md).toContain('main table one-shot (one train and one val image per class)');
    expect(md).toContain('## One-shot: ours vs the reference');
    expect(md).toContain('No reference numbers were supplied');
    const json = JSON.parse(await read('results/one-shot-mini/results.json')) as { study: { rows: { task: string }[] } };
    expect(json.study.rows.map((x) => x.task).sort()).toEqual(['shapes_location', 'textures']);
  }, 600_000);

  it('data-scale: the sized data, one run per size and method, and the crossover table', async () => {
    const r = await run('pipelines/mini/data-scale.yaml');
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(summary(r)).toMatch(/^done: 6 ran, 0 restored, 14 up to date, 0 failed/);
    const md = await read('results/data-scale-mini/report.md');
    expect(md).toContain('## Data size: where FT overtakes VPT');
    expect(md).toContain('| task | 40: FT / VPT | 80: FT / VPT | verdict |');
    expect(await read('results/data-scale-mini/crossover.csv')).toMatch(/^task,verdict,size,within_seed_spread\ntextures,/);
    await expect(read('results/data-scale-mini/figures/accuracy-vs-size.svg')).resolves.toContain('<svg');
  }, 600_000);
});
