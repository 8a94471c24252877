/**
 * The study's numbers from run records: mean ± std over seeds per task and method, group means
 * and win counts per quadrant, and the paper side by side. Pure: runs in, tables out.
 */
import type { QuadrantRow, RunRecord } from '../analysis/index.js';
import { paperRow, type PaperRow } from './paper.js';

/** The four methods the report tabulates, in column order, then any others seen. */
export const MAIN_METHODS = ['ft', 'vpt', 'mixed', 'ft-then-pt'] as const;
export const METHOD_LABEL: Readonly<Record<string, string>> = { ft: 'FT', vpt: 'VPT', mixed: 'Mixed', 'ft-then-pt': 'FT-then-PT', 'vpt-shallow': 'VPT-shallow', linear: 'Linear' };

export function canonicalMethod(m: string): string {
  const s = m.toLowerCase().replace(/[_\s]+/g, '-');
  if (['ft', 'full', 'full-ft', 'finetune', 'fine-tune', 'full-finetune', 'full-finetuning'].includes(s)) return 'ft';
  if (['vpt', 'vpt-deep', 'prompt', 'prompt-deep'].includes(s)) return 'vpt';
  if (['mixed', 'extra-params', 'vpt-ft', 'prompt+ft'].includes(s)) return 'mixed';
  if (['ft-then-pt', 'ftpt', 'ft-pt', 'ft-then-vpt'].includes(s)) return 'ft-then-pt';
  if (['linear', 'linear-probe', 'probe'].includes(s)) return 'linear';
  return s;
}

export const methodLabel = (m: string): string => METHOD_LABEL[m] ?? m;

export interface CellStats {
  /** Test top-1 in percent. */
  readonly mean: number;
  /** Sample standard deviation over seeds (0 for one seed). */
  readonly std: number;
  readonly n: number;
  readonly seeds: readonly number[];
}

export function cellStats(values: readonly { top1: number; seed: number }[]): CellStats {
  const n = values.length;
  const xs = values.map((v) => v.top1 * 100);
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n, seeds: values.map((v) => v.seed).sort((a, b) => a - b) };
}

export interface TaskRow {
  readonly task: string;
  readonly group?: string;
  readonly quadrant?: string;
  readonly fid?: number;
  readonly cells: Readonly<Record<string, CellStats>>;
  /** VPT mean - FT mean (points), when both exist. */
  readonly gap?: number;
  readonly winner?: 'vpt' | 'ft' | 'tie';
  readonly paper?: PaperRow;
}

export interface GroupSummary {
  /** Quadrant (or group) name. */
  readonly name: string;
  readonly tasks: readonly string[];
  /** Mean over tasks of each method's mean (only tasks that have the method). */
  readonly means: Readonly<Record<string, number>>;
  readonly vptWins: number;
  readonly ftWins: number;
  readonly ties: number;
}

export interface StudyTables {
  /** The training-set size of the main table (undefined = the runs' default, VTAB-1k's 800+200). */
  readonly trainSize: number | undefined;
  readonly methods: readonly string[];
  readonly rows: readonly TaskRow[];
  readonly byQuadrant: readonly GroupSummary[];
  readonly byGroup: readonly GroupSummary[];
  readonly overall: GroupSummary;
  /** Mean ± std per task, method and size (every size). */
  readonly sizeCurve: ReadonlyArray<{ readonly task: string; readonly method: string; readonly trainSize: number; readonly stats: CellStats }>;
  /** The main table is one-shot: every run was (one train and one val image per class; no sizes). */
  readonly mainIsOneShot?: true;
  /** One-shot runs beside sized ones: their own tables, kept out of the main table and the size curve. */
  readonly oneShot?: StudyTables;
}

export interface StudyOptions {
  /** Size of the main table; default: runs without a size (or 800), else the most common size. */
  readonly trainSize?: number;
  readonly quadrants?: readonly QuadrantRow[];
  /** task -> group (from task.json or the paper), when the runs do not say. */
  readonly groups?: ReadonlyMap<string, string>;
}

function mainSize(runs: readonly RunRecord[], wanted: number | undefined): number | undefined {
  if (wanted !== undefined) return wanted;
  if (runs.some((r) => r.trainSize === undefined)) return undefined;
  if (runs.some((r) => r.trainSize === 800)) return 800;
  const counts = new Map<number, number>();
  for (const r of runs) counts.set(r.trainSize as number, (counts.get(r.trainSize as number) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]?.[0];
}

const TIE = 1e-9;

export function summarise(name: string, rows: readonly TaskRow[], methods: readonly string[]): GroupSummary {
  const means: Record<string, number> = {};
  for (const m of methods) {
    const xs = rows.flatMap((r) => (r.cells[m] ? [r.cells[m].mean] : []));
    if (xs.length) means[m] = xs.reduce((a, b) => a + b, 0) / xs.length;
  }
  return {
    name, tasks: rows.map((r) => r.task), means,
    vptWins: rows.filter((r) => r.winner === 'vpt').length,
    ftWins: rows.filter((r) => r.winner === 'ft').length,
    ties: rows.filter((r) => r.winner === 'tie').length,
  };
}

/** Whether a run is one of the main table's: one-shot runs and sized runs never mix. */
export function inMainTable(run: RunRecord, study: Pick<StudyTables, 'trainSize' | 'mainIsOneShot'>): boolean {
  if (study.mainIsOneShot) return run.oneShot === true;
  return !run.oneShot && (run.trainSize === study.trainSize || (study.trainSize === 800 && run.trainSize === undefined));
}

/**
 * One-shot runs are a different setting from any training-set size: with sized runs present they
 * get their own tables (`oneShot`); when every run is one-shot, they are the main table.
 */
export function buildStudy(allRuns: readonly RunRecord[], options: StudyOptions = {}): StudyTables {
  const sized = allRuns.filter((r) => !r.oneShot);
  const oneShot = allRuns.filter((r) => r.oneShot);
  if (sized.length === 0 && oneShot.length > 0) return tables(oneShot, options, true);
  const main = tables(sized, options, false);
  return oneShot.length > 0 ? { ...main, oneShot: tables(oneShot, options, true) } : main;
}

function tables(allRuns: readonly RunRecord[], options: StudyOptions, oneShot: boolean): StudyTables {
  const runs = allRuns.map((r) => ({ ...r, method: canonicalMethod(r.method) }));
  const size = oneShot ? undefined : mainSize(runs, options.trainSize);
  const inMain = runs.filter((r) => inMainTable(r, { trainSize: size, ...(oneShot ? { mainIsOneShot: true as const } : {}) }));
  const seen = new Set(runs.map((r) => r.method));
  const methods = [...MAIN_METHODS.filter((m) => seen.has(m)), ...[...seen].filter((m) => !(MAIN_METHODS as readonly string[]).includes(m)).sort()];
  const quad = new Map((options.quadrants ?? []).map((q) => [q.task, q]));
  const tasks = [...new Set(runs.map((r) => r.task))];
  const rows: TaskRow[] = tasks.map((task) => {
    const cells: Record<string, CellStats> = {};
    for (const m of methods) {
      const rs = inMain.filter((r) => r.task === task && r.method === m);
      if (rs.length) cells[m] = cellStats(rs.map((r) => ({ top1: r.testTop1, seed: r.seed })));
    }
    const ft = cells['ft'], vpt = cells['vpt'];
    const gap = ft && vpt ? vpt.mean - ft.mean : undefined;
    const q = quad.get(task);
    const paper = paperRow(task);
    const group = options.groups?.get(task) ?? q?.group ?? runs.find((r) => r.task === task && r.group)?.group ?? paper?.group;
    return {
      task, cells,
      ...(group ? { group } : {}),
      ...(q ? { quadrant: q.quadrant, fid: q.fid } : {}),
      ...(gap !== undefined ? { gap, winner: Math.abs(gap) <= TIE ? 'tie' as const : gap > 0 ? 'vpt' as const : 'ft' as const } : {}),
      ...(paper ? { paper } : {}),
    };
  });
  const groupBy = (key: (r: TaskRow) => string | undefined): GroupSummary[] => {
    const names = [...new Set(rows.map(key).filter((k): k is string => k !== undefined))].sort();
    return names.map((n) => summarise(n, rows.filter((r) => key(r) === n), methods));
  };
  const sizeCurve: Array<{ task: string; method: string; trainSize: number; stats: CellStats }> = [];
  // One-shot runs have no training-set size to put on an axis.
  for (const task of oneShot ? [] : tasks) {
    for (const m of methods) {
      const sizes = [...new Set(runs.filter((r) => r.task === task && r.method === m && r.trainSize !== undefined).map((r) => r.trainSize as number))].sort((a, b) => a - b);
      for (const s of sizes) {
        const rs = runs.filter((r) => r.task === task && r.method === m && r.trainSize === s);
        sizeCurve.push({ task, method: m, trainSize: s, stats: cellStats(rs.map((r) => ({ top1: r.testTop1, seed: r.seed }))) });
      }
    }
  }
  return { trainSize: size, methods, rows, byQuadrant: groupBy((r) => r.quadrant), byGroup: groupBy((r) => r.group), overall: summarise('all tasks', rows, methods), sizeCurve, ...(oneShot ? { mainIsOneShot: true as const } : {}) };
}

/** `64.50 ± 1.20` (or `64.50` for a single seed, `—` when missing). */
export function fmtCell(c: CellStats | undefined, digits = 2): string {
  if (!c) return '—';
  return c.n > 1 ? `${c.mean.toFixed(digits)} ± ${c.std.toFixed(digits)}` : c.mean.toFixed(digits);
}
