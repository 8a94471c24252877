import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PAPER_GROUP_MEANS, PAPER_VTAB1K, ablationBarsSpec, accuracyVsSizeSpec, buildStudy, canonicalMethod, fidGapSpec, lossCurvesSpec,
  paperRow, quadrantSpec, renderFigure, studyReportKind, plotsKind, svgSize, toHtml, toMarkdown,
} from '../src/stages/report/index.js';
import { placeQuadrants, type RunRecord } from '../src/stages/analysis/index.js';
import { readPngHeader } from '../src/ml/analysis/index.js';
import type { StageContext } from '../src/stages/kind.js';
import { createRng } from '../src/util/rng.js';
import { renderLockFile } from '../src/store/index.js';
import { ATTRIBUTION_FORMAT, RUN_METRICS_FORMAT, writeQuadrantsJson } from '../src/artifacts/index.js';

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

const GROUP: Record<string, string> = { cifar100: 'natural', svhn: 'natural', dsprites_loc: 'structured' };

function metricsJson(task: string, method: string, seed: number, top1: number, size?: number): string {
  const history = [0, 1, 2].map((e) => ({
    epoch: e, phase: method, lr: 0.1, train_loss: 2 - 0.5 * e, train_top1: 0.3 + 0.1 * e,
    evals: { test: { loss: 2.1 - 0.3 * e + (method === 'mixed' ? 0.2 : 0), top1: e === 2 ? top1 : top1 / 2 } },
  }));
  return JSON.stringify({
    format: RUN_METRICS_FORMAT, baseLr: 0.1, weightDecay: 0,
    task, group: GROUP[task], method, seed, trainSplit: size ? `size${size}-trainval` : 'train800val200', testSplit: 'test', valSplit: null,
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
