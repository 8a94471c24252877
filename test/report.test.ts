import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NO_PAPER_FOR_ONE_SHOT, NO_REFERENCE, PAPER_GROUP_MEANS, PAPER_VTAB1K, ablationBarsSpec, accuracyVsSizeSpec, buildStudy, canonicalMethod, cellStats,
  crossoverOf, crossovers, fidGapSpec, lossCurvesSpec, matchReference, paperRow, promptLengthSpec, promptSweep, quadrantSpec, renderFigure,
  studyReportKind, plotsKind, svgSize, toHtml, toMarkdown, type CrossoverPoint,
} from '../src/stages/report/index.js';
import { parseMetrics, placeQuadrants, sizeFromSplit, type RunRecord } from '../src/stages/analysis/index.js';
import { readPngHeader } from '../src/ml/analysis/index.js';
import type { StageContext } from '../src/stages/kind.js';
import { createRng } from '../src/util/rng.js';
import { renderLockFile } from '../src/store/index.js';
import { ATTRIBUTION_FORMAT, RUN_METRICS_FORMAT, SKIPPED_RUN_FORMAT, writeQuadrantsJson } from '../src/artifacts/index.js';

const ws = mkdtempSync(join(tmpdir(), 'report-test-'));
const FP_PREP = 'a'.repeat(64);
const FP_TRAIN = 'b'.repeat(64);
afterAll(() => rmSync(ws, { recursive: true, force: true }));

function fakeCtx<P>(params: P, outputs: Record<string, string>): StageContext<P> {
  return {
    stageId: 'report', params, workspace: ws, resolve: (p) => join(ws, p), outputs, checkpointDir: join(ws, 'ckpt'),
    seed: 0, rng: createRng(0), log: () => undefined, progress: () => undefined, signal: new AbortController().signal, backend: undefined,
  };
}

// Fixture: top-1 fractions per task, method, seed (train800val200 unless a size is given).
const FIXTURE: Array<[task: string, method: string, seed: number, top1: number, size?: number]> = [
  ['cifar100', 'ft', 42, 0.60], ['cifar100', 'ft', 44, 0.62], ['cifar100', 'ft', 82, 0.64],
  ['cifar100', 'vpt-deep', 42, 0.70], ['cifar100', 'vpt-deep', 44, 0.70], ['cifar100', 'vpt-deep', 82, 0.73],
  ['cifar100', 'mixed', 42, 0.55], ['cifar100', 'ft-then-pt', 42, 0.63],
  ['svhn', 'ft', 42, 0.90], ['svhn', 'ft', 44, 0.88], ['svhn', 'vpt-deep', 42, 0.80], ['svhn', 'vpt-deep', 44, 0.84],
  ['dsprites_loc', 'ft', 42, 0.50], ['dsprites_loc', 'vpt-deep', 42, 0.75],
  ['cifar100', 'ft', 42, 0.80, 5000], ['cifar100', 'vpt-deep', 42, 0.78, 5000],
];

const GROUP: Record<string, string> = { cifar100: 'natural', svhn: 'natural', dsprites_loc: 'structured', dtd: 'natural' };

function metricsJson(task: string, method: string, seed: number, top1: number, size?: number, extra: { trainSplit?: string; promptLength?: number } = {}): string {
  const history = [0, 1, 2].map((e) => ({
    epoch: e, phase: method, lr: 0.1, train_loss: 2 - 0.5 * e, train_top1: 0.3 + 0.1 * e,
    evals: { test: { loss: 2.1 - 0.3 * e + (method === 'mixed' ? 0.2 : 0), top1: e === 2 ? top1 : top1 / 2 } },
  }));
  return JSON.stringify({
    format: RUN_METRICS_FORMAT, baseLr: 0.1, weightDecay: 0,
    task, group: GROUP[task], method, seed, trainSplit: extra.trainSplit ?? (size ? `size${size}-trainval` : 'train800val200'), testSplit: 'test', valSplit: null,
    ...(extra.promptLength !== undefined ? { promptLength: extra.promptLength } : {}),
    environment: { backend: 'wasm', tfBackend: 'wasm', tfjsVersion: '4.22.0', simd: true, workers: 1 }, final: { test_top1: top1 }, history,
  });
}

const runPaths: string[] = [];
beforeAll(async () => {
  await mkdir(join(ws, 'runs'), { recursive: true });
  for (const [task, method, seed, top1, size] of FIXTURE) {
    const rel = `runs/${task}-${method}-${seed}-${size ?? 800}.json`;
    await writeFile(join(ws, rel), metricsJson(task, method, seed, top1, size));
    runPaths.push(rel);
  }
  const q = placeQuadrants([
    { task: 'cifar100', fid: 10, disparity: 'low', group: 'natural' },
    { task: 'svhn', fid: 50, disparity: 'low', group: 'natural' },
    { task: 'dsprites_loc', fid: 60, disparity: 'high', group: 'structured', intendedSimilarity: 'near' },
  ], 30);
  await mkdir(join(ws, 'quad'), { recursive: true });
  await writeQuadrantsJson(join(ws, 'quad', 'quadrants.json'), q);
  // A lock in the real format (the store's renderer; the report reads it with the store's parser).
  const stage = (fingerprint: string, kind: string) => ({ fingerprint, kind, params: {}, deps: {}, outs: {}, metrics: {} });
  await writeFile(join(ws, 'pipeline.lock'), renderLockFile({ version: 1, pipeline: 'vtab-full', stages: { prep: stage(FP_PREP, 'data.vtab1k@1'), 'train[task=svhn]': stage(FP_TRAIN, 'train.vit@2'), report: stage('c'.repeat(64), 'report.study@1') } }));
  await mkdir(join(ws, 'attr'), { recursive: true });
  await writeFile(join(ws, 'attr', 'attribution.json'), JSON.stringify({ format: ATTRIBUTION_FORMAT, task: 'svhn', split: 'test', model: 'm', igSteps: 50, igRule: 'gauss-legendre', igOutput: 'logit', completeness: { maxRelativeError: 0.0031, meanRelativeError: 0.002 }, images: [{}, {}] }));
});

function runs(): RunRecord[] {
  return FIXTURE.map(([task, method, seed, top1, size]) => ({ task, method, seed, testTop1: top1, epochs: [], environment: {}, source: 'x', ...(size ? { trainSize: size } : { trainSize: 800 }), group: GROUP[task] as string }));
}

describe('study tables', () => {
  it('mean ± sample std over seeds per task and method, at the main size', () => {
    const s = buildStudy(runs(), { quadrants: placeQuadrants([{ task: 'cifar100', fid: 1, disparity: 'low' }, { task: 'svhn', fid: 9, disparity: 'low' }, { task: 'dsprites_loc', fid: 9, disparity: 'high' }], 5).rows });
    expect(s.trainSize).toBe(800);
    expect(s.methods).toEqual(['ft', 'vpt', 'mixed', 'ft-then-pt']);
    const cifar = s.rows.find((r) => r.task === 'cifar100')!;
    expect(cifar.cells['ft']!.mean).toBeCloseTo(62, 10);
    expect(cifar.cells['ft']!.std).toBeCloseTo(2, 10);
    expect(cifar.cells['ft']!.seeds).toEqual([42, 44, 82]);
    expect(cifar.cells['vpt']!.mean).toBeCloseTo(71, 10);
    expect(cifar.cells['vpt']!.std).toBeCloseTo(Math.sqrt(3), 10);
    expect(cifar.cells['mixed']!.mean).toBeCloseTo(55, 10);
    expect(cifar.cells['mixed']).toMatchObject({ std: 0, n: 1 });
    expect(cifar.gap).toBeCloseTo(9, 10);
    expect(cifar.winner).toBe('vpt');
    expect(s.rows.find((r) => r.task === 'svhn')!.winner).toBe('ft');
    // Quadrants: cifar near/low; svhn far/low; dsprites far/high.
    const lowFar = s.byQuadrant.find((g) => g.name === 'low-disparity/far')!;
    expect(lowFar).toMatchObject({ tasks: ['svhn'], vptWins: 0, ftWins: 1 });
    expect(lowFar.means['ft']).toBeCloseTo(89, 10);
    expect(s.overall).toMatchObject({ vptWins: 2, ftWins: 1, ties: 0 });
    const natural = s.byGroup.find((g) => g.name === 'natural')!;
    expect(natural.means['vpt']).toBeCloseTo((71 + 82) / 2, 10);
    // The size curve keeps every size.
    expect(s.sizeCurve.filter((c) => c.task === 'cifar100' && c.method === 'ft').map((c) => c.trainSize)).toEqual([800, 5000]);
  });

  it('names methods and tasks the way the paper does', () => {
    expect(['full', 'FT', 'vpt-deep', 'VPT', 'mixed', 'ft_then_pt', 'vpt-shallow'].map(canonicalMethod)).toEqual(['ft', 'ft', 'vpt', 'vpt', 'mixed', 'ft-then-pt', 'vpt-shallow']);
    expect(paperRow('clevr/count')?.ft).toBe(55.4);
    expect(paperRow('dsprites_loc')?.vpt).toBe(78.4);
    expect(paperRow('smallnorb/elevation')?.name).toBe('smallNORB/elevation');
    expect(paperRow('vtab/patch_camelyon')?.key).toBe('pcam');
    expect(paperRow('fashion-shapes')).toBeUndefined();
  });

  it('the paper table in code reproduces the paper\'s group means', () => {
    expect(PAPER_VTAB1K).toHaveLength(19);
    for (const g of ['natural', 'specialized', 'structured'] as const) {
      const rows = PAPER_VTAB1K.filter((r) => r.group === g);
      const ft = rows.reduce((a, r) => a + r.ft, 0) / rows.length;
      const vpt = rows.reduce((a, r) => a + r.vpt, 0) / rows.length;
      expect(Math.abs(ft - PAPER_GROUP_MEANS[g].ft)).toBeLessThan(0.051);
      expect(Math.abs(vpt - PAPER_GROUP_MEANS[g].vpt)).toBeLessThan(0.051);
    }
  });
});

describe('headless plots', () => {
  const specs = {
    quadrants: quadrantSpec([{ task: 'a', fid: 3, disparity: 'low', quadrant: 'low-disparity/near', mismatch: false }, { task: 'b', fid: 9, disparity: 'high', quadrant: 'high-disparity/far', mismatch: true }], 5),
    gap: fidGapSpec([{ task: 'a', fid: 3, gap: 2, quadrant: 'q' }], 5),
    size: accuracyVsSizeSpec([{ task: 'a', method: 'FT', trainSize: 400, top1: 50, std: 1 }, { task: 'a', method: 'FT', trainSize: 800, top1: 60, std: 1 }]),
    loss: lossCurvesSpec([{ task: 'a', method: 'FT', epoch: 1, split: 'train', loss: 2 }, { task: 'a', method: 'FT', epoch: 2, split: 'train', loss: 1 }]),
    bars: ablationBarsSpec([{ task: 'a', method: 'FT', top1: 50, std: 2 }, { task: 'a', method: 'Mixed', top1: 40, std: 1 }]),
    promptLength: promptLengthSpec([{ task: 'a', mode: 'deep', length: 1, top1: 50, std: 1 }, { task: 'a', mode: 'deep', length: 10, top1: 60, std: 1 }, { task: 'a', mode: 'shallow', length: 10, top1: 55, std: 0 }]),
  };
  for (const [name, spec] of Object.entries(specs)) {
    it(`renders ${name} to valid SVG and a PNG of the SVG's size`, async () => {
      const f = await renderFigure(name, name, spec);
      expect(f.ok).toBe(true);
      if (!f.ok) return;
      expect(f.value.svg.startsWith('<svg')).toBe(true);
      expect(f.value.svg.trimEnd().endsWith('</svg>')).toBe(true);
      expect(f.value.svg).toContain('<text');
      const size = svgSize(f.value.svg)!;
      expect(size.width).toBeGreaterThan(100);
      expect(readPngHeader(f.value.png)).toEqual({ width: size.width, height: size.height, bitDepth: 8, colorType: expect.any(Number) as number });
    });
  }

  it('reports a broken spec as an error value', async () => {
    const f = await renderFigure('bad', 'bad', { mark: 'nope' } as never);
    expect(f.ok).toBe(false);
  });
});

describe('report.study', () => {
  it('writes MD, self-contained HTML, CSV and JSON with the right numbers, paper table, provenance and lock', async () => {
    const out = join(ws, 'report');
    const refs = runPaths.map((metrics, i) => (i === 10 ? { metrics, stage: 'train[task=svhn]' } : metrics));
    const r = await studyReportKind.run(fakeCtx({ runs: refs, quadrants: 'quad', lock: 'pipeline.lock', attributions: ['attr'], suite: 'vtab-full' }, { report: out }));
    expect(r.metrics).toMatchObject({ runs: FIXTURE.length, tasks: 3, vptWins: 2, ftWins: 1 });
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    // Per-task cells: mean ± std in %.
    expect(md).toMatch(/\| cifar100 \| natural \| low-disparity\/near \| 62\.00 ± 2\.00 \| 71\.00 ± 1\.73 \| 55\.00 \| 63\.00 \| 3 \| \+9\.00 \| VPT \|/);
    expect(md).toMatch(/\| svhn \| natural \| low-disparity\/far \| 89\.00 ± 1\.41 \| 82\.00 ± 2\.83 \| — \| — \| 2 \| -7\.00 \| FT \|/);
    // Quadrant means and wins.
    expect(md).toMatch(/\| low-disparity\/far \| 1 \| 89\.00 \| 82\.00 \| — \| — \| 0 \| 1 \| 0 \|/);
    expect(md).toContain('dsprites_loc (intended near, measured far');
    // The paper side by side.
    expect(md).toMatch(/\| CIFAR-100 \| 64\.5 \| 62\.00 ± 2\.00 \| -2\.50 \| 77\.7 \| 71\.00 ± 1\.73 \| -6\.70 \| VPT \| VPT \|/);
    expect(md).toMatch(/\| SVHN \| 87\.3 .* \| FT \| FT \|/);
    // Provenance and the lock.
    expect(md).toMatch(/\| svhn \| VPT \| 42 \| 800 \| 80\.00 \| wasm \| tfjs 4\.22\.0, simd true, 1 shard\(s\) \| train\[task=svhn\] \|/);
    expect(md).toContain('| svhn | FT | 42 | 800 | 90.00 | wasm | tfjs 4.22.0, simd true, 1 shard(s) | runs/svhn-ft-42-800.json |');
    expect(md).toContain(`| prep | ${FP_PREP} |`);
    expect(md).toContain(`| train[task=svhn] | ${FP_TRAIN} |`);
    expect(md).toMatch(/\| attr \| svhn \| 2 \| 50 \| gauss-legendre \| 3\.10e-3 \| 2\.00e-3 \|/);
    // Figures: all four kinds, referenced and written.
    for (const f of ['accuracy-vs-size', 'fid-vs-gap', 'loss-curves', 'ablations']) {
      expect(md).toContain(`figures/${f}.png`);
      const svg = readFileSync(join(out, 'figures', `${f}.svg`), 'utf8');
      expect(readPngHeader(readFileSync(join(out, 'figures', `${f}.png`)))).toMatchObject(svgSize(svg)!);
    }
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect((html.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(4);
    expect(html).not.toMatch(/<img|<link|<script[^>]*src=/);
    expect(html).toContain('62.00 ± 2.00');
    const csv = readFileSync(join(out, 'results.csv'), 'utf8').split('\n');
    expect(csv[0]).toBe('task,group,quadrant,fid,method,train_size,mean_top1,std_top1,n_seeds,seeds');
    expect(csv).toContain('cifar100,natural,low-disparity/near,10,ft,800,62.0000,2.0000,3,42 44 82');
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { study: { rows: Array<{ task: string; cells: Record<string, { mean: number }> }> }; lock: Array<{ id: string }> };
    expect(json.study.rows.find((x) => x.task === 'svhn')?.cells['vpt']?.mean).toBeCloseTo(82, 10);
    // Not the report's own (previous) entry: its bytes depend on its inputs, not on what ran before.
    expect(json.lock.map((l) => l.id)).toEqual(['prep', 'train[task=svhn]']);
    expect(md).not.toContain('c'.repeat(64));
  });

  it('report.plots writes the figures only', async () => {
    const out = join(ws, 'figs');
    const r = await plotsKind.run(fakeCtx({ runs: runPaths }, { figures: out }));
    expect(r.metrics?.['figures']).toBe(3); // no quadrants given: no FID-vs-gap figure
    expect(readPngHeader(readFileSync(join(out, 'loss-curves.png')))).toBeDefined();
  });

  it('fails clearly on missing runs and bad metrics', async () => {
    await expect(studyReportKind.run(fakeCtx({ runs: ['runs/none.json'] }, { report: join(ws, 'r1') }))).rejects.toThrow(/unreadable/);
    await writeFile(join(ws, 'bad.json'), '{"task": "a", "method": "ft"}');
    await expect(studyReportKind.run(fakeCtx({ runs: ['bad.json'] }, { report: join(ws, 'r2') }))).rejects.toThrow(/bad\.json: format undefined, expected "vpt\.run-metrics\/1"/);
  });

  it('renders the same blocks to Markdown and escaped HTML', () => {
    const blocks = [{ kind: 'h' as const, level: 1 as const, text: 'T <x>' }, { kind: 'table' as const, head: ['a|b', 'c'], rows: [['1', '<2>']], numeric: [false, true] }];
    expect(toMarkdown(blocks)).toBe('# T <x>\n\n| a\\|b | c |\n| --- | ---: |\n| 1 | <2> |\n');
    const html = toHtml('t', blocks);
    expect(html).toContain('<h1>T &lt;x&gt;</h1>');
    expect(html).toContain('<td class="num">&lt;2&gt;</td>');
  });
});

// ---- the follow-up studies: one-shot, data size, prompt length -----------------------------------

type RunSpec = [task: string, method: string, seed: number, top1: number, extra?: { trainSplit?: string; promptLength?: number }];

/** Writes metrics.json fixtures under `dir` in the workspace; returns their workspace-relative paths. */
async function writeRuns(dir: string, specs: readonly RunSpec[]): Promise<string[]> {
  await mkdir(join(ws, dir), { recursive: true });
  const paths: string[] = [];
  for (const [i, [task, method, seed, top1, extra]] of specs.entries()) {
    const rel = `${dir}/${i}-${task}-${method}-${seed}.json`;
    await writeFile(join(ws, rel), metricsJson(task, method, seed, top1, undefined, extra));
    paths.push(rel);
  }
  return paths;
}

const ONE = { trainSplit: 'oneshot-trainval' } as const;
const ONE_P = { trainSplit: 'oneshot-trainval', promptLength: 10 } as const;
const ONE_SHOT_RUNS: RunSpec[] = [
  ['cifar100', 'ft', 42, 0.20, ONE], ['cifar100', 'ft', 44, 0.24, ONE],
  ['cifar100', 'vpt-deep', 42, 0.30, ONE_P], ['cifar100', 'vpt-deep', 44, 0.30, ONE_P],
  ['svhn', 'ft', 42, 0.15, ONE], ['svhn', 'vpt-deep', 42, 0.12, ONE_P],
];
const REFERENCE = { title: 'Stand-in one-shot numbers', source: 'test fixture', rows: { 'CIFAR-100': { ft: 30.1, vpt: 40.25 }, svhn: { ft: 20.5 }, dtd: { vpt: 33 } } };

const read = (dir: string, file: string): string => readFileSync(join(ws, dir, file), 'utf8');
/** The Markdown between two headings (to tell the main table from the one-shot section). */
const between = (md: string, from: string, to: string): string => md.slice(md.indexOf(from), md.indexOf(to, md.indexOf(from) + 1));

describe('run records: one-shot splits and prompt length', () => {
  const text = (trainSplit: string, promptLength?: unknown): string => JSON.stringify({ ...JSON.parse(metricsJson('cifar100', 'vpt-deep', 42, 0.5, undefined, { trainSplit })) as object, ...(promptLength !== undefined ? { promptLength } : {}) });
  it('marks one-shot runs, gives them no size, and reads a numeric promptLength', () => {
    const one = parseMetrics(text('oneshot-trainval', 10), { metrics: 'm.json' });
    expect(one.ok && one.value).toMatchObject({ oneShot: true, promptLength: 10 });
    expect(one.ok && one.value.trainSize).toBeUndefined();
    const sized = parseMetrics(text('train800val200', 0), { metrics: 'm.json' });
    expect(sized.ok && sized.value).toMatchObject({ trainSize: 800, promptLength: 0 });
    expect(sized.ok && 'oneShot' in sized.value).toBe(false);
    const noLength = parseMetrics(text('size400-trainval', '10'), { metrics: 'm.json' });
    expect(noLength.ok && noLength.value.trainSize).toBe(400);
    expect(noLength.ok && 'promptLength' in noLength.value).toBe(false);
  });

  it('never turns a one-shot split into a training-set size', () => {
    expect(['oneshot-train', 'oneshot-val', 'oneshot-trainval'].map(sizeFromSplit)).toEqual([undefined, undefined, undefined]);
    expect(['size5000-train', 'train800val200', 'train800'].map(sizeFromSplit)).toEqual([5000, 800, 800]);
  });
});

describe('one-shot', () => {
  it('keeps one-shot runs out of the main table even when neither has a size', () => {
    const base = { epochs: [], environment: {}, source: 'x' };
    const s = buildStudy([
      { ...base, task: 'a', method: 'ft', seed: 1, testTop1: 0.6 }, { ...base, task: 'a', method: 'vpt', seed: 1, testTop1: 0.7 },
      { ...base, task: 'a', method: 'ft', seed: 1, testTop1: 0.2, oneShot: true }, { ...base, task: 'b', method: 'vpt', seed: 1, testTop1: 0.1, oneShot: true },
    ]);
    expect(s.mainIsOneShot).toBeUndefined();
    expect(s.rows.map((r) => r.task)).toEqual(['a']);
    expect(s.rows[0]!.cells['ft']!.mean).toBeCloseTo(60, 10);
    expect(s.oneShot?.mainIsOneShot).toBe(true);
    expect(s.oneShot?.rows.map((r) => [r.task, r.cells['ft']?.mean, r.cells['vpt']?.mean])).toEqual([['a', 20, undefined], ['b', undefined, 10]]);
    expect(s.oneShot?.sizeCurve).toEqual([]);
  });

  it('matches reference rows by exact task name first, then as the same VTAB task', () => {
    const ref = { title: 't', rows: { 'CIFAR-100': { ft: 1 }, cifar100: { ft: 2 }, 'clevr-count': { vpt: 3 }, extra: { ft: 4 } } };
    const m = matchReference(ref, ['cifar100', 'clevr/count', 'fashion-shapes']);
    expect(m.matches).toEqual([{ task: 'cifar100', row: 'cifar100', ft: 2 }, { task: 'clevr/count', row: 'clevr-count', vpt: 3 }, { task: 'fashion-shapes' }]);
    expect(m.unused).toEqual(['CIFAR-100', 'extra']);
  });

  it('a one-shot-only report: one-shot main table, no VTAB-1k paper table, the reference side by side', async () => {
    const runs = await writeRuns('oneshot', ONE_SHOT_RUNS);
    const r = await studyReportKind.run(fakeCtx({ runs, suite: 'vtab-full', paper: 'always', reference: REFERENCE }, { report: join(ws, 'r-oneshot') }));
    expect(r.metrics).toMatchObject({ runs: 6, tasks: 2 });
    const md = read('r-oneshot', 'report.md');
    expect(md).toContain('main table one-shot (one train and one val image per class).');
    expect(md).not.toContain('main table at training-set size');
    expect(md).toContain('accuracy vs training-set size: skipped (one-shot runs have no training-set size)');
    expect(md).toContain('| cifar100 | natural | — | 22.00 ± 2.83 | 30.00 ± 0.00 | 2 | +8.00 | VPT |');
    // Not the paper's VTAB-1k table (800+200 images), even with `paper: always`; a line says why.
    expect(md).not.toContain('Side by side with the paper');
    expect(md).not.toContain('64.5');
    expect(md).toContain(NO_PAPER_FOR_ONE_SHOT);
    expect(md).toContain('## One-shot: ours vs the reference');
    expect(md).toContain('Reference: Stand-in one-shot numbers (test fixture).');
    expect(md).toContain('| task | ref FT | ours FT | ref VPT | ours VPT |');
    expect(md).toContain('| cifar100 | 30.1 | 22.00 ± 2.83 | 40.25 | 30.00 ± 0.00 |');
    expect(md).toContain('| svhn | 20.5 | 15.00 | — | 12.00 |');
    expect(md).toContain('Reference rows with no one-shot run here: dtd.');
    expect(md).not.toContain(NO_REFERENCE);
    expect(md).toContain('| cifar100 | FT | 42 | one-shot | 20.00 |');
    // One-shot runs have no size axis.
    expect(md).not.toContain('figures/accuracy-vs-size.png');
    expect(md).not.toContain('Data size: where FT overtakes VPT');
    const json = JSON.parse(read('r-oneshot', 'results.json')) as { study: { mainIsOneShot?: boolean; sizeCurve: unknown[] }; reference: { title: string } | null; provenance: Array<{ oneShot?: boolean }> };
    expect(json.study.mainIsOneShot).toBe(true);
    expect(json.study.sizeCurve).toEqual([]);
    expect(json.reference?.title).toBe('Stand-in one-shot numbers');
    expect(json.provenance.every((p) => p.oneShot === true)).toBe(true);
  });

  it('says plainly that no reference was supplied (null or absent), and makes up none', async () => {
    const runs = await writeRuns('oneshot-noref', ONE_SHOT_RUNS);
    for (const [dir, reference] of [['r-noref-null', null], ['r-noref-absent', undefined]] as const) {
      await studyReportKind.run(fakeCtx({ runs, suite: 'vtab-full', ...(reference === null ? { reference } : {}) }, { report: join(ws, dir) }));
      const md = read(dir, 'report.md');
      expect(md).toContain(NO_REFERENCE);
      expect(md).toContain('Tables 3-4');
      expect(md).toContain('`reference: { title, source, rows: { <task>: { ft, vpt } } }`');
      expect(md).not.toContain('ref FT');
      expect(md).toContain(NO_PAPER_FOR_ONE_SHOT);
      expect((JSON.parse(read(dir, 'results.json')) as { reference: unknown }).reference).toBeNull();
    }
  });

  it('one-shot runs beside sized runs: the main table, group means and paper table are the sized runs\' only', async () => {
    const runs = await writeRuns('mixed-oneshot', [
      ['cifar100', 'ft', 42, 0.60], ['cifar100', 'vpt-deep', 42, 0.70], ['svhn', 'ft', 42, 0.90], ['svhn', 'vpt-deep', 42, 0.80],
      ['cifar100', 'ft', 42, 0.20, ONE], ['cifar100', 'vpt-deep', 42, 0.30, ONE_P], ['dtd', 'ft', 42, 0.10, ONE], ['dtd', 'vpt-deep', 42, 0.15, ONE_P],
    ]);
    await studyReportKind.run(fakeCtx({ runs, suite: 'vtab-full' }, { report: join(ws, 'r-mixed') }));
    const md = read('r-mixed', 'report.md');
    expect(md).toContain('main table at training-set size 800. One-shot runs are kept apart, in their own section.');
    const main = between(md, '## Per-task results', '## One-shot results');
    expect(main).toContain('| cifar100 | natural | — | 60.00 | 70.00 | 1 | +10.00 | VPT |');
    expect(main).not.toContain('| dtd ');
    expect(main).not.toContain('20.00');
    expect(main).toContain('| natural | 2 | 75.00 | 75.00 | 1 | 1 | 0 |');
    expect(main).toMatch(/\| CIFAR-100 \| 64\.5 \| 60\.00 \| -4\.50 \| 77\.7 \| 70\.00 \| -7\.70 \| VPT \| VPT \|/);
    const one = between(md, '## One-shot results (one train and one val image per class)', '## Figures');
    expect(one).toContain('4 one-shot runs, kept out of the tables');
    expect(one).toContain('| cifar100 | natural | 20.00 | 30.00 | 1 | +10.00 | VPT |');
    expect(one).toContain('| dtd | natural | 10.00 | 15.00 | 1 | +5.00 | VPT |');
    expect(one).toContain('### Ours vs the reference');
    expect(one).toContain(NO_REFERENCE);
    // One size among the sized runs: no data-size section, no crossover.csv.
    expect(md).not.toContain('Data size: where FT overtakes VPT');
    expect(() => read('r-mixed', 'crossover.csv')).toThrow();
    const json = JSON.parse(read('r-mixed', 'results.json')) as Record<string, unknown> & { study: { rows: Array<{ task: string }>; oneShot: { rows: Array<{ task: string; cells: Record<string, { mean: number }> }> }; sizeCurve: Array<{ trainSize: number }> } };
    expect(json.study.rows.map((x) => x.task)).toEqual(['cifar100', 'svhn']);
    expect(json.study.oneShot.rows.find((x) => x.task === 'cifar100')?.cells['ft']?.mean).toBeCloseTo(20, 10);
    expect(json.study.sizeCurve.every((c) => c.trainSize === 800)).toBe(true);
    expect('crossover' in json).toBe(false);
  });
});

describe('data size: where FT overtakes VPT', () => {
  const stats = (mean: number, std = 0) => ({ mean, std, n: 2, seeds: [42, 44] });
  const curve = (ft: readonly number[], vpt: readonly number[], sizes = [100, 400, 1600, 6400], ftStd: readonly number[] = [], vptStd: readonly number[] = []): CrossoverPoint[] =>
    ft.map((f, i) => ({ size: sizes[i]!, ft: stats(f, ftStd[i] ?? 0), vpt: stats(vpt[i]!, vptStd[i] ?? 0) }));

  it('FT overtakes at the smallest size from which it stays ahead', () => {
    expect(crossoverOf('t', curve([40, 70, 75, 85], [50, 72, 70, 72]))).toMatchObject({ verdict: 'overtakes', size: 1600, withinSeedSpread: false, text: 'FT overtakes VPT at 1600' });
    // Ahead at the smallest size, behind at the next: the crossover is where FT stays ahead.
    expect(crossoverOf('t', curve([55, 60, 75, 85], [50, 72, 70, 72]))).toMatchObject({ verdict: 'overtakes', size: 1600 });
  });

  it('FT ahead at every size; never; one size only', () => {
    expect(crossoverOf('t', curve([60, 70], [50, 60]))).toMatchObject({ verdict: 'ft-ahead', size: 100, text: 'FT ahead at every size' });
    expect(crossoverOf('t', curve([60, 70, 70], [50, 65, 71]))).toMatchObject({ verdict: 'never', text: 'never (VPT ahead or tied at the largest size)' });
    expect(crossoverOf('t', curve([60, 70], [50, 70]))).toMatchObject({ verdict: 'never' });
    const one = crossoverOf('t', curve([60], [50], [800]));
    expect(one).toMatchObject({ verdict: 'one-size', text: 'one size only' });
    expect(one.size).toBeUndefined();
  });

  it('flags a crossover within the larger of the two seed stds', () => {
    expect(crossoverOf('t', curve([40, 71], [50, 70], [100, 400], [0, 3], [0, 1]))).toMatchObject({ verdict: 'overtakes', size: 400, withinSeedSpread: true, text: 'FT overtakes VPT at 400 (within seed spread)' });
    expect(crossoverOf('t', curve([40, 71], [50, 70], [100, 400], [0, 0.5], [0, 0.9]))).toMatchObject({ withinSeedSpread: false });
  });

  it('reads the size curve: sizes where both FT and VPT were measured, tasks with both only', () => {
    const c = (task: string, method: string, trainSize: number, mean: number) => ({ task, method, trainSize, stats: cellStats([{ top1: mean / 100, seed: 1 }]) });
    const cs = crossovers([c('a', 'ft', 100, 40), c('a', 'vpt', 100, 50), c('a', 'ft', 400, 80), c('a', 'vpt', 400, 70), c('a', 'ft', 1600, 90), c('b', 'ft', 100, 10), c('a', 'mixed', 100, 99)]);
    expect(cs.map((x) => [x.task, x.points.map((p) => p.size), x.text])).toEqual([['a', [100, 400], 'FT overtakes VPT at 400']]);
  });

  it('the report has the section, results.json and crossover.csv, and keeps the accuracy-vs-size figure', async () => {
    await studyReportKind.run(fakeCtx({ runs: runPaths }, { report: join(ws, 'r-size') }));
    const md = read('r-size', 'report.md');
    expect(md).toContain('## Data size: where FT overtakes VPT');
    expect(md).toContain('| task | 800: FT / VPT | 5000: FT / VPT | verdict |');
    expect(md).toContain('| cifar100 | 62.00 / 71.00 | 80.00 / 78.00 | FT overtakes VPT at 5000 |');
    expect(md).toContain('| svhn | 89.00 / 82.00 | — | one size only |');
    expect(md).toContain('figures/accuracy-vs-size.png');
    expect(read('r-size', 'crossover.csv')).toBe('task,verdict,size,within_seed_spread\ncifar100,overtakes,5000,false\nsvhn,one-size,,\ndsprites_loc,one-size,,\n');
    const json = JSON.parse(read('r-size', 'results.json')) as { crossover: Array<{ task: string; verdict: string; size?: number }> };
    expect(json.crossover[0]).toMatchObject({ task: 'cifar100', verdict: 'overtakes', size: 5000 });
  });
});

describe('skipped runs', () => {
  it('a data size the task could not fill is listed with the data stage\'s reason, never as a number; all skipped is an error', async () => {
    const done = await writeRuns('skip-runs', [['cifar100', 'ft', 42, 0.6, { trainSplit: 'size400-trainval' }], ['cifar100', 'vpt-deep', 42, 0.7, { trainSplit: 'size400-trainval' }]]);
    await mkdir(join(ws, 'skip-docs'), { recursive: true });
    const skipped: string[] = [];
    for (const method of ['ft', 'vpt-deep']) {
      const rel = `skip-docs/${method}.json`;
      await writeFile(join(ws, rel), JSON.stringify({ format: SKIPPED_RUN_FORMAT, task: 'cifar100', method, seed: 42, trainSplit: 'size20000-trainval', reason: 'data-size 20000 skipped: needs 25000 train+val images (20000:5000), the pool has 6000' }));
      skipped.push(rel);
    }
    await studyReportKind.run(fakeCtx({ runs: [done, skipped] }, { report: join(ws, 'r-skip') }));
    const md = read('r-skip', 'report.md');
    expect(md).toContain('cifar100, size20000-trainval: not run (2 runs: FT, VPT): data-size 20000 skipped: needs 25000 train+val images (20000:5000), the pool has 6000');
    const json = JSON.parse(read('r-skip', 'results.json')) as { skipped: Array<{ source: string }>; provenance: unknown[] };
    expect(json.skipped.map((x) => x.source)).toEqual(skipped);
    expect(json.provenance).toHaveLength(2);
    await expect(studyReportKind.run(fakeCtx({ runs: skipped }, { report: join(ws, 'r-skip-all') }))).rejects.toThrow(/every run was skipped: cifar100, size20000-trainval/);
  });
});

describe('prompt-length sweep', () => {
  const D = (promptLength: number) => ({ promptLength });
  const SWEEP: RunSpec[] = [
    ['cifar100', 'vpt-deep', 42, 0.60, D(1)], ['cifar100', 'vpt-deep', 44, 0.62, D(1)],
    ['cifar100', 'vpt-deep', 42, 0.70, D(10)], ['cifar100', 'vpt-deep', 44, 0.72, D(10)],
    ['cifar100', 'vpt-deep', 42, 0.68, D(50)], ['cifar100', 'vpt-deep', 44, 0.66, D(50)],
    ['cifar100', 'vpt-shallow', 42, 0.50, D(1)], ['cifar100', 'vpt-shallow', 42, 0.55, D(10)], ['cifar100', 'vpt-shallow', 42, 0.58, D(50)],
    ['svhn', 'vpt-shallow', 42, 0.80, D(1)], ['svhn', 'vpt-shallow', 42, 0.80, D(10)],
  ];

  it('tabulates test top-1 per task, mode and length, marks the best, draws the figure, and keeps the sweep out of the main table', async () => {
    const sweep = await writeRuns('sweep', SWEEP);
    const out = join(ws, 'r-sweep');
    await studyReportKind.run(fakeCtx({ runs: runPaths, promptSweep: [sweep.slice(0, 6), ...sweep.slice(6)] }, { report: out }));
    const md = read('r-sweep', 'report.md');
    // The main table is as without the sweep.
    expect(md).toMatch(/\| cifar100 \| natural \| — \| 62\.00 ± 2\.00 \| 71\.00 ± 1\.73 \| 55\.00 \| 63\.00 \| 3 \| \+9\.00 \| VPT \|/);
    expect(md).toContain(`${FIXTURE.length} runs, 3 tasks`);
    expect(md).toContain('## Prompt length: test top-1 per task');
    expect(md).toContain('| task | prompts | 1 | 10 | 50 |');
    expect(md).toContain('| cifar100 | deep | 61.00 ± 1.41 | 71.00 ± 1.41 (best) | 67.00 ± 1.41 |');
    expect(md).toContain('| cifar100 | shallow | 50.00 | 55.00 | 58.00 (best) |');
    // A tie goes to the shorter length.
    expect(md).toContain('| svhn | shallow | 80.00 (best) | 80.00 | — |');
    expect(md).toContain('- cifar100: best prompt length 10 for deep (71.00), 50 for shallow (58.00); at their best lengths deep beats shallow (+13.00 points).');
    expect(md).toContain('- svhn: best prompt length 1 for shallow (80.00); no deep runs to compare.');
    expect(md).toContain('| cifar100 | VPT, prompt length 10 | 42 | 800 | 70.00 |');
    expect(md).toContain('| cifar100 | VPT-shallow, prompt length 50 | 42 | 800 | 58.00 |');
    expect(md).toContain('figures/accuracy-vs-prompt-length.png');
    const svg = readFileSync(join(out, 'figures', 'accuracy-vs-prompt-length.svg'), 'utf8');
    expect(svg).toContain('prompt length');
    expect(readPngHeader(readFileSync(join(out, 'figures', 'accuracy-vs-prompt-length.png')))).toMatchObject(svgSize(svg)!);
    const json = JSON.parse(read('r-sweep', 'results.json')) as { promptSweep: { lengths: number[]; rows: Array<{ task: string; mode: string; best: number }>; provenance: Array<{ promptLength: number }> }; provenance: unknown[] };
    expect(json.promptSweep.lengths).toEqual([1, 10, 50]);
    expect(json.promptSweep.rows.map((r) => [r.task, r.mode, r.best])).toEqual([['cifar100', 'deep', 10], ['cifar100', 'shallow', 50], ['svhn', 'shallow', 1]]);
    expect(json.promptSweep.provenance).toHaveLength(SWEEP.length);
    expect(json.provenance).toHaveLength(FIXTURE.length);
    // report.plots draws it too.
    await plotsKind.run(fakeCtx({ runs: runPaths, promptSweep: sweep }, { figures: join(ws, 'f-sweep') }));
    expect(readFileSync(join(ws, 'f-sweep', 'accuracy-vs-prompt-length.svg'), 'utf8').startsWith('<svg')).toBe(true);
  });

  it('a sweep run without a promptLength (or without prompts) is bad input naming the file', async () => {
    const [noLength, ft] = await writeRuns('sweep-bad', [['cifar100', 'vpt-deep', 42, 0.6], ['cifar100', 'ft', 42, 0.6, D(0)]]);
    await expect(studyReportKind.run(fakeCtx({ runs: runPaths, promptSweep: [noLength!] }, { report: join(ws, 'r-sweep-bad') })))
      .rejects.toThrow(/^bad-input: sweep-bad\/0-cifar100-vpt-deep-42\.json: a promptSweep run needs a numeric promptLength/);
    await expect(studyReportKind.run(fakeCtx({ runs: runPaths, promptSweep: [ft!] }, { report: join(ws, 'r-sweep-bad') })))
      .rejects.toThrow(/bad-input: sweep-bad\/1-cifar100-ft-42\.json: method ft has no prompts to sweep/);
  });

  it('does not pool prompt lengths over training settings', () => {
    const base = { task: 'a', method: 'vpt-deep', seed: 1, testTop1: 0.5, epochs: [], environment: {}, promptLength: 10 };
    const r = promptSweep([{ ...base, source: 'x.json', trainSize: 800 }, { ...base, source: 'y.json', oneShot: true }]);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.message).toMatch(/mix training settings \(800, one-shot\)/);
  });
});

describe('ablation bars', () => {
  it('draw Linear and VPT-shallow when those runs exist (no Mixed or FT-then-PT needed)', async () => {
    const runs = await writeRuns('bars', [
      ['cifar100', 'ft', 42, 0.60], ['cifar100', 'vpt-deep', 42, 0.70], ['cifar100', 'linear', 42, 0.40],
      ['svhn', 'ft', 42, 0.90], ['svhn', 'vpt-deep', 42, 0.80], ['svhn', 'vpt-shallow', 42, 0.75, { promptLength: 10 }],
    ]);
    await studyReportKind.run(fakeCtx({ runs }, { report: join(ws, 'r-bars') }));
    const md = read('r-bars', 'report.md');
    expect(md).toContain('*Ablations: test top-1 of FT, VPT, VPT-shallow and Linear per task (mean ± std over seeds)*');
    const svg = read('r-bars', 'figures/ablations.svg');
    expect(svg).toContain('>Linear<');
    expect(svg).toContain('>VPT-shallow<');
    expect(readPngHeader(readFileSync(join(ws, 'r-bars', 'figures', 'ablations.png')))).toMatchObject(svgSize(svg)!);
  });
});
