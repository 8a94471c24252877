/**
 * `report.study` writes the study report: report.md, a self-contained report.html (figures as
 * inline SVG), results.csv, results.json and figures/*.svg|png. `report.plots` writes the figures only.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { defineKind, type StageContext, type StageRunResult } from '../kind.js';
import { parseSkippedRun, readAttribution, readLockStages, readQuadrants, type LockedStage, type SkippedRun } from '../../artifacts/index.js';
import { parseMetrics, UNCERTAIN_STDS, type QuadrantRow, type QuadrantTable, type RunRecord, type RunRef } from '../analysis/index.js';
import { toHtml, toMarkdown, type Block } from './document.js';
import { PAPER_GROUP_MEANS, PAPER_VPT_WINS } from './paper.js';
import {
  ablationBarsSpec, accuracyVsSizeSpec, fidGapSpec, lossCurvesSpec, promptLengthSpec, renderFigure,
  type AccuracyPoint, type BarPoint, type Figure, type GapPoint, type LossPoint,
} from './plots.js';
import { buildStudy, canonicalMethod, fmtCell, inMainTable, methodLabel, type GroupSummary, type StudyTables } from './study.js';
import { buildExtras, crossoverCsv, hasCrossover, type ReferenceTable, type StudyExtras } from './studies.js';
import { reportSchema } from './schema.js';
import { crossoverBlocks, NO_PAPER_FOR_ONE_SHOT, ONE_SHOT_SETTING, oneShotBlocks, promptSweepBlocks } from './study-sections.js';

export interface ReportRunRef extends RunRef {
  /** The pipeline stage that made the run (named in the provenance table). */
  readonly stage?: string;
  readonly environment?: Readonly<Record<string, string | number | boolean>>;
}

export interface ReportParams {
  /**
   * Runs: metrics.json paths, or references with labels. Nested lists are flattened, so a pipeline
   * can pass several matrix stages' outputs: `runs: ["${{ stages.final.outputs.metrics }}", ...]`.
   */
  readonly runs: ReadonlyArray<string | ReportRunRef | ReadonlyArray<string | ReportRunRef>>;
  /** quadrants.json (or the `analysis.quadrants` output folder). */
  readonly quadrants?: string;
  /** Task folders (group names from task.json). */
  readonly tasks?: ReadonlyArray<string | readonly string[]>;
  /** pipeline.lock (YAML, `stages: {id: {fingerprint, ...}}`). */
  readonly lock?: string;
  /** attribution.json files (or `analysis.attribution` output folders): IG completeness is reported. */
  readonly attributions?: readonly string[];
  /** Training-set size of the main table. */
  readonly trainSize?: number;
  /** e.g. `vtab-full`, `vtab-mini`. The paper's table is shown for vtab-full, or whenever task names match it (`paper: auto`). */
  readonly suite?: string;
  readonly paper?: 'auto' | 'always' | 'never';
  readonly title?: string;
  /** Prompt-length ablation runs (as `runs`): tabulated per prompt length, never in the main table. */
  readonly promptSweep?: ReadonlyArray<string | ReportRunRef | ReadonlyArray<string | ReportRunRef>>;
  /** Reference numbers for one-shot runs (e.g. the paper's one-shot tables); null = not supplied. */
  readonly reference?: ReferenceTable | null;
}

type RunList = NonNullable<ReportParams['promptSweep']>;

export type ReportError = { readonly reason: 'unreadable' | 'bad-input' | 'render'; readonly message: string; readonly path?: string };

export class ReportStageError extends Error {
  readonly reason: ReportError['reason'];
  constructor(e: ReportError) {
    super(`${e.reason}: ${e.message}`);
    this.reason = e.reason;
  }
}

/** A stage of the lock file, as the report lists it. */
export type LockEntry = LockedStage;

export interface ReportInputs {
  readonly runs: readonly (RunRecord & { readonly stage?: string })[];
  /** `promptSweep` runs. */
  readonly sweep?: readonly (RunRecord & { readonly stage?: string })[];
  /** Runs the training stage skipped (a data size the task could not fill), listed with why. */
  readonly skipped?: readonly SkippedRunRef[];
  readonly quadrants?: QuadrantTable;
  readonly groups: ReadonlyMap<string, string>;
  readonly lock?: readonly LockEntry[];
  readonly attributions: ReadonlyArray<{ readonly path: string; readonly task: string; readonly images: number; readonly maxRelativeError: number | null; readonly meanRelativeError: number | null; readonly steps: number; readonly rule: string }>;
}

export async function loadReportInputs(p: ReportParams, resolve: (s: string) => string, ownStage?: string): Promise<ReportInputs> {
  let lock: LockEntry[] | undefined;
  if (p.lock) {
    const read = await readLockStages(resolve(p.lock));
    if (!read.ok) throw new ReportStageError({ reason: read.error.reason === 'unreadable' ? 'unreadable' : 'bad-input', message: read.error.message, path: read.error.path });
    // Not the report's own entry: it is the previous run's (if any), so listing it would make the
    // report's bytes depend on what ran before it rather than on its inputs.
    lock = read.value.filter((entry) => entry.id !== ownStage);
  }
  const { runs, skipped } = await loadRuns(p.runs, resolve);
  const swept = p.promptSweep ? await loadRuns(p.promptSweep, resolve) : { runs: [], skipped: [] };
  const sweep = swept.runs;
  skipped.push(...swept.skipped);
  let quadrants: QuadrantTable | undefined;
  if (p.quadrants) {
    const read = await readQuadrants(resolve(p.quadrants));
    if (!read.ok) throw new ReportStageError({ reason: read.error.reason === 'unreadable' ? 'unreadable' : 'bad-input', message: read.error.message, path: read.error.path });
    quadrants = read.value;
  }
  const groups = new Map<string, string>();
  if (p.tasks) {
    const { readTaskMeta } = await import('../../io/shards.js');
    const { expandTaskDirs } = await import('../analysis/common.js');
    // A data stage's whole `tasks` folder stands for the task folders in it.
    for (const t of await expandTaskDirs(p.tasks.flat().map((x) => resolve(x)))) {
      const m = await readTaskMeta(resolve(t));
      if (!m.ok) throw new ReportStageError({ reason: 'unreadable', message: m.error.message, path: m.error.path });
      groups.set(m.value.name, m.value.group);
    }
  }
  const attributions: Array<ReportInputs['attributions'][number]> = [];
  for (const a of p.attributions ?? []) {
    const read = await readAttribution(resolve(a));
    if (!read.ok) throw new ReportStageError({ reason: read.error.reason === 'unreadable' ? 'unreadable' : 'bad-input', message: read.error.message, path: read.error.path });
    const j = read.value;
    attributions.push({ path: a, task: j.task, images: j.images.length, maxRelativeError: j.completeness?.maxRelativeError ?? null, meanRelativeError: j.completeness?.meanRelativeError ?? null, steps: j.igSteps, rule: j.igRule });
  }
  return { runs, ...(sweep.length ? { sweep } : {}), ...(skipped.length ? { skipped } : {}), ...(quadrants ? { quadrants } : {}), groups, ...(lock ? { lock } : {}), attributions };
}

/** A run the training stage skipped (its data could not hold it), with the path the pipeline named. */
export type SkippedRunRef = SkippedRun & { readonly source: string };

async function loadRuns(list: RunList, resolve: (s: string) => string): Promise<{ runs: Array<RunRecord & { stage?: string }>; skipped: SkippedRunRef[] }> {
  const runs: Array<RunRecord & { stage?: string }> = [];
  const skipped: SkippedRunRef[] = [];
  for (const r of list.flat()) {
    const ref: ReportRunRef = typeof r === 'string' ? { metrics: r } : r;
    const path = resolve(ref.metrics);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      throw new ReportStageError({ reason: 'unreadable', message: `${path}: ${(e as Error).message}`, path });
    }
    const skip = parseSkippedRun(text, path);
    if (!skip.ok) throw new ReportStageError({ reason: 'bad-input', message: skip.error.message, path });
    if (skip.value) {
      skipped.push({ ...skip.value, source: ref.metrics });
      continue;
    }
    const run = parseMetrics(text, { ...ref, metrics: path });
    if (!run.ok) throw new ReportStageError({ reason: run.error.reason === 'unreadable' ? 'unreadable' : 'bad-input', message: run.error.message, path: run.error.path });
    // Keep the path as the pipeline wrote it (workspace-relative), not the resolved one.
    runs.push({ ...run.value, source: ref.metrics, environment: { ...run.value.environment, ...(ref.environment ?? {}) }, ...(ref.stage ? { stage: ref.stage } : {}) });
  }
  return { runs, skipped };
}

/** One line per task and split the data could not hold, naming the runs it cost and why. */
export function skippedNotes(skipped: readonly SkippedRunRef[]): string[] {
  const groups = new Map<string, SkippedRunRef[]>();
  for (const s of skipped) {
    const key = `${s.task}\u0000${s.trainSplit}\u0000${s.reason}`;
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  return [...groups.values()].map((g) => {
    const first = g[0] as SkippedRunRef;
    const methods = [...new Set(g.map((x) => methodLabel(canonicalMethod(x.method))))].join(', ');
    return `${first.task}, ${first.trainSplit}: not run (${g.length} run${g.length === 1 ? '' : 's'}: ${methods}): ${first.reason}`;
  }).sort();
}

/** The follow-up studies' numbers (data-size crossover, prompt-length sweep); a bad sweep is bad input. */
export function studyExtras(study: StudyTables, inputs: ReportInputs): StudyExtras {
  const extras = buildExtras(study, inputs.sweep);
  if (!extras.ok) throw new ReportStageError({ reason: 'bad-input', message: extras.error.message, ...(extras.error.path ? { path: extras.error.path } : {}) });
  return extras.value;
}

/** The figures the data allow (a figure without data is skipped with a note). */
export async function buildFigures(study: StudyTables, inputs: ReportInputs, extras: StudyExtras = studyExtras(study, inputs)): Promise<{ figures: Figure[]; notes: string[] }> {
  const figures: Figure[] = [];
  const notes: string[] = [];
  const add = async (name: string, title: string, spec: Parameters<typeof renderFigure>[2]): Promise<void> => {
    const f = await renderFigure(name, title, spec);
    if (!f.ok) throw new ReportStageError({ reason: 'render', message: `${name}: ${f.error.message}` });
    figures.push(f.value);
  };
  const acc: AccuracyPoint[] = study.sizeCurve.filter((c) => c.method === 'ft' || c.method === 'vpt')
    .map((c) => ({ task: c.task, method: methodLabel(c.method), trainSize: c.trainSize, top1: c.stats.mean, std: c.stats.std }));
  const sizesPerTask = new Set(acc.map((a) => `${a.task}:${a.trainSize}`)).size;
  if (acc.length > 0 && sizesPerTask > new Set(acc.map((a) => a.task)).size) await add('accuracy-vs-size', 'Test top-1 vs training-set size per task (VPT vs FT)', accuracyVsSizeSpec(acc));
  else notes.push(`accuracy vs training-set size: skipped (${study.mainIsOneShot ? 'one-shot runs have no training-set size' : 'runs at one size only'})`);
  const gap: GapPoint[] = study.rows.flatMap((r) => (r.gap !== undefined && r.fid !== undefined ? [{ task: r.task, fid: r.fid, gap: r.gap, quadrant: r.quadrant ?? '?' }] : []));
  if (gap.length > 0) await add('fid-vs-gap', 'FID vs the VPT - FT accuracy gap, coloured by quadrant', fidGapSpec(gap, inputs.quadrants?.threshold));
  else notes.push('FID vs gap: skipped (needs quadrants with FID and both FT and VPT runs)');
  const loss: LossPoint[] = [];
  const main = ['ft', 'vpt', 'mixed', 'ft-then-pt'];
  for (const task of new Set(inputs.runs.map((r) => r.task))) {
    for (const m of main) {
      const rs = inputs.runs.filter((r) => r.task === task && canonical(r.method) === m && inMainTable(r, study));
      const len = Math.max(0, ...rs.map((r) => r.epochs.length));
      for (let e = 0; e < len; e++) {
        for (const split of ['train', 'test'] as const) {
          const vals = rs.flatMap((r) => {
            const ep = r.epochs[e];
            const v = split === 'train' ? ep?.trainLoss : ep?.testLoss;
            return v === undefined ? [] : [v];
          });
          // Mean over seeds; the x axis is the epoch position (FT-then-PT runs both phases in a row).
          if (vals.length) loss.push({ task, method: methodLabel(m), epoch: e + 1, split, loss: vals.reduce((a, b) => a + b, 0) / vals.length });
        }
      }
    }
  }
  if (loss.length > 0) await add('loss-curves', 'Train (solid) and test (dashed) loss per epoch: FT, VPT, Mixed, FT-then-PT', lossCurvesSpec(loss));
  else notes.push('loss curves: skipped (no per-epoch losses in the runs)');
  const extra = BAR_EXTRA.filter((m) => study.methods.includes(m));
  const bars: BarPoint[] = study.rows.flatMap((r) => [...main, ...extra].flatMap((m) => (r.cells[m] ? [{ task: r.task, method: methodLabel(m), top1: r.cells[m].mean, std: r.cells[m].std }] : [])));
  if (study.methods.some((m) => m === 'mixed' || m === 'ft-then-pt' || extra.includes(m))) {
    // Without Linear or VPT-shallow runs the title (and the skip note below) keep their old wording, so such reports keep their bytes.
    const names = extra.length ? [...main, ...extra].filter((m) => study.methods.includes(m)).map(methodLabel) : ['FT', 'VPT', 'Mixed', 'FT-then-PT'];
    const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}` : names.join('');
    await add('ablations', `Ablations: test top-1 of ${list} per task (mean ± std over seeds)`, ablationBarsSpec(bars));
  } else notes.push('ablation bars: skipped (no Mixed or FT-then-PT runs)');
  const sweep = extras.sweep;
  if (sweep) {
    const points = sweep.rows.flatMap((r) => r.points.map((p) => ({ task: r.task, mode: r.mode, length: p.length, top1: p.stats.mean, std: p.stats.std })));
    await add('accuracy-vs-prompt-length', 'Test top-1 vs prompt length per task (solid: deep, dashed: shallow; mean over seeds)', promptLengthSpec(points));
  }
  return { figures, notes };
}

/** Ablation bars beyond the four main methods, in the paper's order (plots.ts METHOD_ORDER). */
const BAR_EXTRA = ['vpt-shallow', 'linear'];

const canonical = canonicalMethod;

const pct = (v: number | undefined): string => (v === undefined ? '—' : v.toFixed(2));

function groupTable(groups: readonly GroupSummary[], methods: readonly string[]): Block {
  return {
    kind: 'table',
    head: ['quadrant / group', 'tasks', ...methods.map((m) => `${methodLabel(m)} mean`), 'VPT wins', 'FT wins', 'ties'],
    numeric: [false, true, ...methods.map(() => true), true, true, true],
    rows: groups.map((g) => [g.name, String(g.tasks.length), ...methods.map((m) => pct(g.means[m])), String(g.vptWins), String(g.ftWins), String(g.ties)]),
  };
}

/** What shaped the numbers: the backend, its version and the data-parallel shard count (as metrics.json records them). */
function compute(env: Readonly<Record<string, string | number | boolean>>): string {
  const parts: string[] = [];
  if (env['tfjsVersion'] !== undefined) parts.push(`tfjs ${String(env['tfjsVersion'])}`);
  if (env['simd'] !== undefined) parts.push(`simd ${String(env['simd'])}`);
  if (env['workers'] !== undefined) parts.push(`${String(env['workers'])} shard(s)`);
  return parts.join(', ') || '—';
}

export function reportBlocks(title: string, p: ReportParams, study: StudyTables, inputs: ReportInputs, figures: readonly Figure[], notes: readonly string[], extras: StudyExtras = studyExtras(study, inputs)): Block[] {
  const b: Block[] = [{ kind: 'h', level: 1, text: title }];
  const seeds = new Set(inputs.runs.map((r) => r.seed));
  const setting = study.mainIsOneShot ? ONE_SHOT_SETTING : `at training-set size ${study.trainSize ?? 'default (train800val200)'}`;
  b.push({ kind: 'p', text: `${inputs.runs.length} runs, ${study.rows.length} tasks, methods ${study.methods.map(methodLabel).join(', ')}, seeds ${[...seeds].sort((x, y) => x - y).join(', ')}. Test top-1 in %, mean ± sample std over seeds; main table ${setting}.${study.oneShot ? ' One-shot runs are kept apart, in their own section.' : ''}` });
  b.push({ kind: 'h', level: 2, text: 'Per-task results' });
  b.push({
    kind: 'table',
    head: ['task', 'group', 'quadrant', ...study.methods.map(methodLabel), 'seeds', 'VPT - FT', 'winner'],
    numeric: [false, false, false, ...study.methods.map(() => true), true, true, false],
    rows: study.rows.map((r) => [r.task, r.group ?? '—', r.quadrant ?? '—', ...study.methods.map((m) => fmtCell(r.cells[m])), String(Math.max(0, ...Object.values(r.cells).map((c) => c.n))), r.gap === undefined ? '—' : (r.gap >= 0 ? '+' : '') + r.gap.toFixed(2), r.winner ? (r.winner === 'tie' ? 'tie' : methodLabel(r.winner)) : '—']),
  });
  if (study.byQuadrant.length > 0) {
    b.push({ kind: 'h', level: 2, text: 'Group means and win counts per quadrant' });
    if (inputs.quadrants) b.push({ kind: 'p', text: `Quadrant = task disparity x measured similarity (FID <= ${inputs.quadrants.threshold.toFixed(3)}, ${inputs.quadrants.thresholdRule} threshold, counts as near).` });
    b.push(groupTable([...study.byQuadrant, study.overall], study.methods));
    const flagged = inputs.quadrants?.rows.filter((r: QuadrantRow) => r.mismatch) ?? [];
    if (flagged.length) b.push({ kind: 'p', text: `Measured placement differs from the intended similarity for: ${flagged.map((r) => `${r.task} (intended ${r.intendedSimilarity}, measured ${r.similarity}, FID ${r.fid.toFixed(3)})`).join('; ')}.` });
    const uncertain = inputs.quadrants?.rows.filter((r: QuadrantRow) => r.uncertain) ?? [];
    if (uncertain.length) b.push({ kind: 'p', text: `Uncertain placement (the threshold lies within ${UNCERTAIN_STDS} std of the FID over reference subsamples): ${uncertain.map((r) => `${r.task} (FID ${r.fid.toFixed(3)} ± ${r.fidStd.toFixed(3)})`).join('; ')}.` });
  }
  if (study.byGroup.length > 0) {
    b.push({ kind: 'h', level: 2, text: 'Group means and win counts per task group' });
    b.push(groupTable([...study.byGroup, study.overall], study.methods));
  }
  const paperRows = study.rows.filter((r) => r.paper);
  const showPaper = p.paper === 'always' || (p.paper !== 'never' && (p.suite === 'vtab-full' || paperRows.length > 0));
  // One-shot numbers are not VTAB-1k's 800+200 setting: no side by side, whatever `paper` says.
  if (showPaper && paperRows.length > 0 && study.mainIsOneShot) b.push({ kind: 'p', text: NO_PAPER_FOR_ONE_SHOT });
  else if (showPaper && paperRows.length > 0) {
    b.push({ kind: 'h', level: 2, text: 'Side by side with the paper (ViT-B/16 IN-21k, VTAB-1k, mean of 5 runs)' });
    b.push({
      kind: 'table',
      head: ['task', 'paper FT', 'ours FT', 'Δ FT', 'paper VPT', 'ours VPT', 'Δ VPT', 'paper winner', 'our winner'],
      numeric: [false, true, true, true, true, true, true, false, false],
      rows: paperRows.map((r) => {
        const pr = r.paper!;
        const ft = r.cells['ft'], vpt = r.cells['vpt'];
        const pw = pr.vpt > pr.ft ? 'VPT' : pr.vpt < pr.ft ? 'FT' : 'tie';
        return [pr.name, pr.ft.toFixed(1), fmtCell(ft), ft ? (ft.mean - pr.ft).toFixed(2) : '—', pr.vpt.toFixed(1), fmtCell(vpt), vpt ? (vpt.mean - pr.vpt).toFixed(2) : '—', pw, r.winner ? (r.winner === 'tie' ? 'tie' : methodLabel(r.winner)) : '—'];
      }),
    });
    b.push({ kind: 'p', text: `Paper group means FT/VPT: Natural ${PAPER_GROUP_MEANS.natural.ft}/${PAPER_GROUP_MEANS.natural.vpt}, Specialized ${PAPER_GROUP_MEANS.specialized.ft}/${PAPER_GROUP_MEANS.specialized.vpt}, Structured ${PAPER_GROUP_MEANS.structured.ft}/${PAPER_GROUP_MEANS.structured.vpt}; the paper reports VPT winning ${PAPER_VPT_WINS.wins} of ${PAPER_VPT_WINS.of} (its rounded per-task table shows 15 wins, 1 tie, 3 losses).` });
  }
  b.push(...oneShotBlocks(study, p.reference));
  if (hasCrossover(extras.crossover)) b.push(...crossoverBlocks(extras.crossover));
  if (extras.sweep) b.push(...promptSweepBlocks(extras.sweep));
  if (figures.length > 0 || notes.length > 0) {
    b.push({ kind: 'h', level: 2, text: 'Figures' });
    for (const f of figures) b.push({ kind: 'figure', title: f.title, svg: f.svg, svgFile: `figures/${f.name}.svg`, pngFile: `figures/${f.name}.png` });
    if (notes.length) b.push({ kind: 'list', items: notes });
  }
  if (inputs.attributions.length > 0) {
    b.push({ kind: 'h', level: 2, text: 'Integrated Gradients completeness' });
    b.push({ kind: 'p', text: 'Relative error |sum(attributions) - (F(x) - F(0))| / |F(x) - F(0)| per attribution stage (zero baseline).' });
    b.push({
      kind: 'table', head: ['attribution', 'task', 'images', 'steps', 'rule', 'max rel. error', 'mean rel. error'], numeric: [false, false, true, true, false, true, true],
      rows: inputs.attributions.map((a) => [a.path, a.task, String(a.images), String(a.steps), a.rule, a.maxRelativeError === null ? '—' : a.maxRelativeError.toExponential(2), a.meanRelativeError === null ? '—' : a.meanRelativeError.toExponential(2)]),
    });
  }
  b.push({ kind: 'h', level: 2, text: 'Provenance: backend per number' });
  b.push({ kind: 'p', text: 'The machine that made each number (CPU, host, speed, what other backends failed with) is in its stage\'s run record, `pipeline show <stage>`, not here: this report is byte-identical wherever the runs are.' });
  b.push({
    kind: 'table', head: ['task', 'method', 'seed', 'size', 'top-1 %', 'backend', 'compute', 'source'], numeric: [false, false, true, true, true, false, false, false],
    rows: [...provenanceRows(inputs.runs, false), ...provenanceRows(inputs.sweep ?? [], true)],
  });
  if (inputs.lock) {
    b.push({ kind: 'h', level: 2, text: 'Lock file fingerprints' });
    b.push({ kind: 'p', text: `From \`${p.lock}\`.` });
    b.push({ kind: 'table', head: ['stage', 'fingerprint'], rows: inputs.lock.map((l) => [l.id, l.fingerprint || '—']) });
  }
  return b;
}

function provenanceRows(runs: readonly (RunRecord & { readonly stage?: string })[], sweep: boolean): string[][] {
  return [...runs].sort((x, y) => x.task.localeCompare(y.task) || x.method.localeCompare(y.method) || (sweep ? (x.promptLength ?? 0) - (y.promptLength ?? 0) : 0) || x.seed - y.seed)
    .map((r) => [r.task, `${methodLabel(canonical(r.method))}${sweep ? `, prompt length ${r.promptLength ?? '?'}` : ''}`, String(r.seed), r.oneShot ? 'one-shot' : r.trainSize === undefined ? '—' : String(r.trainSize), (r.testTop1 * 100).toFixed(2), String(r.environment['backend'] ?? r.environment['tfBackend'] ?? 'unknown'), compute(r.environment), r.stage ?? r.source]);
}

export function resultsCsv(study: StudyTables): string {
  const lines = ['task,group,quadrant,fid,method,train_size,mean_top1,std_top1,n_seeds,seeds'];
  for (const r of study.rows) {
    for (const m of study.methods) {
      const c = r.cells[m];
      if (!c) continue;
      lines.push([r.task, r.group ?? '', r.quadrant ?? '', r.fid ?? '', m, study.trainSize ?? '', c.mean.toFixed(4), c.std.toFixed(4), c.n, c.seeds.join(' ')].join(','));
    }
  }
  return `${lines.join('\n')}\n`;
}

async function produce(ctx: StageContext<ReportParams>, figuresOnly: boolean): Promise<StageRunResult> {
  const p = ctx.params;
  const resolve = (s: string): string => (isAbsolute(s) ? s : ctx.resolve(s));
  const inputs = await loadReportInputs(p, resolve, ctx.stageId);
  if (inputs.runs.length === 0) throw new ReportStageError({ reason: 'bad-input', message: inputs.skipped ? `every run was skipped: ${skippedNotes(inputs.skipped).join('; ')}` : 'no runs given' });
  const study = buildStudy(inputs.runs, { ...(p.trainSize !== undefined ? { trainSize: p.trainSize } : {}), ...(inputs.quadrants ? { quadrants: inputs.quadrants.rows } : {}), groups: inputs.groups });
  const extras = studyExtras(study, inputs);
  const drawn = await buildFigures(study, inputs, extras);
  const figures = drawn.figures;
  // Skipped runs first: a reader must see what is missing before reading what is there.
  const notes = [...skippedNotes(inputs.skipped ?? []), ...drawn.notes];
  const out = ctx.outputs[figuresOnly ? 'figures' : 'report'] as string;
  const figDir = figuresOnly ? out : join(out, 'figures');
  await mkdir(figDir, { recursive: true });
  for (const f of figures) {
    await writeFile(join(figDir, `${f.name}.svg`), f.svg);
    await writeFile(join(figDir, `${f.name}.png`), f.png);
  }
  for (const n of notes) ctx.log(n);
  const metrics: Record<string, number> = { runs: inputs.runs.length, tasks: study.rows.length, figures: figures.length, vptWins: study.overall.vptWins, ftWins: study.overall.ftWins };
  if (figuresOnly) return { metrics, ...(notes.length ? { notes } : {}) };
  const title = p.title ?? `VPT vs full fine-tuning${p.suite ? ` — ${p.suite}` : ''}`;
  const blocks = reportBlocks(title, p, study, inputs, figures, notes, extras);
  await writeFile(join(out, 'report.md'), toMarkdown(blocks));
  await writeFile(join(out, 'report.html'), toHtml(title, blocks));
  await writeFile(join(out, 'results.csv'), resultsCsv(study));
  const crossover = hasCrossover(extras.crossover) ? extras.crossover : undefined;
  if (crossover) await writeFile(join(out, 'crossover.csv'), crossoverCsv(crossover));
  const provenance = (r: ReportInputs['runs'][number]): Record<string, unknown> => ({
    task: r.task, method: r.method, seed: r.seed, trainSize: r.trainSize ?? null, testTop1: r.testTop1, environment: r.environment, source: r.source, stage: r.stage ?? null,
    ...(r.oneShot ? { oneShot: true } : {}),
  });
  const hasOneShot = study.mainIsOneShot === true || study.oneShot !== undefined;
  // New keys only when their study is there: a report of the main study alone keeps its bytes.
  await writeFile(join(out, 'results.json'), `${JSON.stringify({
    title, suite: p.suite ?? null, study,
    quadrants: inputs.quadrants ?? null,
    provenance: inputs.runs.map(provenance),
    lock: inputs.lock ?? null, attributions: inputs.attributions, notes,
    ...(hasOneShot ? { reference: p.reference ?? null } : {}),
    ...(crossover ? { crossover } : {}),
    ...(inputs.skipped ? { skipped: inputs.skipped } : {}),
    ...(extras.sweep ? { promptSweep: { ...extras.sweep, provenance: (inputs.sweep ?? []).map((r) => ({ ...provenance(r), promptLength: r.promptLength ?? null })) } } : {}),
  }, null, 2)}\n`);
  return { metrics, ...(notes.length ? { notes } : {}) };
}

export const studyReportKind = defineKind<ReportParams>({
  name: 'report.study',
  module: import.meta.url,
  version: 1,
  description: 'Study report: per-task FT/VPT/Mixed/FT-then-PT mean ± std, quadrant means and wins, the paper side by side, one-shot vs a supplied reference, where FT overtakes VPT with data size, a prompt-length sweep, figures, provenance and lock fingerprints (MD, HTML, CSV, JSON)',
  paramsSchema: reportSchema,
  outputs: () => ['report'],
  resources: { cpu: 1, memoryMiB: 1024 },
  run: (ctx) => produce(ctx, false),
});

export const plotsKind = defineKind<ReportParams>({
  name: 'report.plots',
  module: import.meta.url,
  version: 1,
  description: 'The study figures only (SVG + PNG): accuracy vs data size, FID vs VPT-FT gap, loss curves, ablation bars, accuracy vs prompt length',
  paramsSchema: reportSchema,
  outputs: () => ['figures'],
  resources: { cpu: 1, memoryMiB: 1024 },
  run: (ctx) => produce(ctx, true),
});
