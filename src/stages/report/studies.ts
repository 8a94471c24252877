/**
 * The three follow-up studies' numbers, pure: where FT overtakes VPT as the training set grows
 * (data size), our one-shot numbers beside reference numbers the pipeline supplies (one-shot), and
 * test top-1 per prompt length (prompt-length ablation).
 */
import type { RunRecord } from '../analysis/index.js';
import { err, ok, type Result } from '../../util/result.js';
import { paperKey } from './paper.js';
import { canonicalMethod, cellStats, type CellStats, type StudyTables } from './study.js';

/** Means this close count as equal (they are means of the same fractions x 100). */
const TIE = 1e-9;

// ---- data size ----------------------------------------------------------------------------------

export type CrossoverVerdict = 'overtakes' | 'ft-ahead' | 'never' | 'one-size';

export interface CrossoverPoint {
  readonly size: number;
  readonly ft: CellStats;
  readonly vpt: CellStats;
}

export interface Crossover {
  readonly task: string;
  /** Sizes where both FT and VPT were measured, ascending. */
  readonly points: readonly CrossoverPoint[];
  readonly verdict: CrossoverVerdict;
  /** The crossover size (`overtakes`; the smallest size for `ft-ahead`). */
  readonly size?: number;
  /** |FT - VPT| at `size` is within the larger of the two seed stds: the crossover may be noise. */
  readonly withinSeedSpread?: boolean;
  readonly text: string;
}

/**
 * Per task with FT and VPT at a common size: the smallest measured size s from which FT's mean is
 * above VPT's at s and at every larger size (VPT at or above FT just below s, by construction).
 */
export function crossovers(sizeCurve: StudyTables['sizeCurve']): Crossover[] {
  const tasks = [...new Set(sizeCurve.map((c) => c.task))];
  return tasks.flatMap((task) => {
    const at = (method: string): Map<number, CellStats> => new Map(sizeCurve.filter((c) => c.task === task && c.method === method).map((c) => [c.trainSize, c.stats]));
    const ft = at('ft'), vpt = at('vpt');
    const points = [...ft.keys()].filter((s) => vpt.has(s)).sort((a, b) => a - b)
      .map((size) => ({ size, ft: ft.get(size) as CellStats, vpt: vpt.get(size) as CellStats }));
    return points.length === 0 ? [] : [crossoverOf(task, points)];
  });
}

export function crossoverOf(task: string, points: readonly CrossoverPoint[]): Crossover {
  if (points.length < 2) return { task, points, verdict: 'one-size', text: 'one size only' };
  const ahead = (p: CrossoverPoint): boolean => p.ft.mean > p.vpt.mean + TIE;
  let from = points.length;
  while (from > 0 && ahead(points[from - 1] as CrossoverPoint)) from--;
  if (from === points.length) return { task, points, verdict: 'never', text: 'never (VPT ahead or tied at the largest size)' };
  const p = points[from] as CrossoverPoint;
  const withinSeedSpread = Math.abs(p.ft.mean - p.vpt.mean) <= Math.max(p.ft.std, p.vpt.std);
  const verdict: CrossoverVerdict = from === 0 ? 'ft-ahead' : 'overtakes';
  const text = `${verdict === 'ft-ahead' ? 'FT ahead at every size' : `FT overtakes VPT at ${p.size}`}${withinSeedSpread ? ' (within seed spread)' : ''}`;
  return { task, points, verdict, size: p.size, withinSeedSpread, text };
}

/** The data-size section is worth showing: some task has FT and VPT at two sizes or more. */
export const hasCrossover = (cs: readonly Crossover[]): boolean => cs.some((c) => c.points.length >= 2);

export function crossoverCsv(cs: readonly Crossover[]): string {
  const lines = ['task,verdict,size,within_seed_spread', ...cs.map((c) => [c.task, c.verdict, c.size ?? '', c.withinSeedSpread === undefined ? '' : String(c.withinSeedSpread)].join(','))];
  return `${lines.join('\n')}\n`;
}

// ---- one-shot reference -------------------------------------------------------------------------

/** Reference numbers (test top-1 %) the pipeline supplies, e.g. the paper's one-shot tables. */
export interface ReferenceTable {
  readonly title: string;
  readonly source?: string;
  readonly rows: Readonly<Record<string, { readonly ft?: number; readonly vpt?: number }>>;
}

export interface ReferenceMatch {
  readonly task: string;
  /** The reference row used (its name as supplied), when one matched. */
  readonly row?: string;
  readonly ft?: number;
  readonly vpt?: number;
}

/** Each task's reference row: the exact task name first, then the same VTAB task however spelt. */
export function matchReference(ref: ReferenceTable, tasks: readonly string[]): { readonly matches: ReferenceMatch[]; readonly unused: string[] } {
  const names = Object.keys(ref.rows);
  const matches = tasks.map((task): ReferenceMatch => {
    const key = paperKey(task);
    const row = Object.hasOwn(ref.rows, task) ? task : key === undefined ? undefined : names.find((n) => paperKey(n) === key);
    const r = row === undefined ? undefined : ref.rows[row];
    return { task, ...(row !== undefined ? { row } : {}), ...(r?.ft !== undefined ? { ft: r.ft } : {}), ...(r?.vpt !== undefined ? { vpt: r.vpt } : {}) };
  });
  const used = new Set(matches.map((m) => m.row));
  return { matches, unused: names.filter((n) => !used.has(n)) };
}

// ---- prompt length ------------------------------------------------------------------------------

export type PromptMode = 'deep' | 'shallow';

/** VPT-deep puts prompts at every layer, VPT-shallow at the input only; other methods are not swept. */
export function promptMode(method: string): PromptMode | undefined {
  const m = canonicalMethod(method);
  return m === 'vpt' ? 'deep' : m === 'vpt-shallow' ? 'shallow' : undefined;
}

export interface SweepRow {
  readonly task: string;
  readonly mode: PromptMode;
  readonly points: ReadonlyArray<{ readonly length: number; readonly stats: CellStats }>;
  /** The length with the highest mean (ties go to the shorter: fewer parameters). */
  readonly best: number;
}

export interface SweepVerdict {
  readonly task: string;
  readonly deep?: { readonly length: number; readonly mean: number };
  readonly shallow?: { readonly length: number; readonly mean: number };
  /** Deep at its best length vs shallow at its best length, when both were swept. */
  readonly winner?: PromptMode | 'tie';
  readonly text: string;
}

export interface PromptSweep {
  /** Every swept length, ascending. */
  readonly lengths: readonly number[];
  readonly rows: readonly SweepRow[];
  readonly verdicts: readonly SweepVerdict[];
  readonly runs: number;
}

export type SweepError = { readonly message: string; readonly path?: string };

const settingOf = (r: RunRecord): string => (r.oneShot ? 'one-shot' : r.trainSize === undefined ? 'default size' : String(r.trainSize));

/** Mean ± std per task, mode and prompt length. Every run needs a prompt method and a length >= 1, all at one setting (sizes do not pool). */
export function promptSweep(runs: readonly RunRecord[]): Result<PromptSweep, SweepError> {
  for (const r of runs) {
    if (promptMode(r.method) === undefined) return err({ message: `${r.source}: method ${r.method} has no prompts to sweep (promptSweep takes vpt-deep and vpt-shallow runs)`, path: r.source });
    if (r.promptLength === undefined) return err({ message: `${r.source}: a promptSweep run needs a numeric promptLength in metrics.json (none found)`, path: r.source });
    if (!(r.promptLength >= 1)) return err({ message: `${r.source}: promptLength ${r.promptLength}: a promptSweep run needs at least one prompt`, path: r.source });
  }
  const settings = [...new Set(runs.map(settingOf))];
  if (settings.length > 1) return err({ message: `promptSweep runs mix training settings (${settings.join(', ')}): give one sweep per training-set size` });
  const lengths = [...new Set(runs.map((r) => r.promptLength as number))].sort((a, b) => a - b);
  const tasks = [...new Set(runs.map((r) => r.task))];
  const rows: SweepRow[] = tasks.flatMap((task) => (['deep', 'shallow'] as const).flatMap((mode) => {
    const rs = runs.filter((r) => r.task === task && promptMode(r.method) === mode);
    const points = lengths.flatMap((length) => {
      const at = rs.filter((r) => r.promptLength === length);
      return at.length ? [{ length, stats: cellStats(at.map((r) => ({ top1: r.testTop1, seed: r.seed }))) }] : [];
    });
    const first = points[0];
    if (!first) return [];
    const best = points.reduce((b, p) => (p.stats.mean > b.stats.mean + TIE ? p : b), first).length;
    return [{ task, mode, points, best }];
  }));
  return ok({ lengths, rows, verdicts: tasks.map((t) => sweepVerdict(t, rows)), runs: runs.length });
}

function sweepVerdict(task: string, rows: readonly SweepRow[]): SweepVerdict {
  const bestOf = (mode: PromptMode): { length: number; mean: number } | undefined => {
    const row = rows.find((r) => r.task === task && r.mode === mode);
    const p = row?.points.find((x) => x.length === row.best);
    return row && p ? { length: row.best, mean: p.stats.mean } : undefined;
  };
  const deep = bestOf('deep'), shallow = bestOf('shallow');
  const say = (mode: PromptMode, b: { length: number; mean: number }): string => `${b.length} for ${mode} (${b.mean.toFixed(2)})`;
  if (deep && shallow) {
    const d = deep.mean - shallow.mean;
    const winner = Math.abs(d) <= TIE ? 'tie' as const : d > 0 ? 'deep' as const : 'shallow' as const;
    const how = winner === 'tie' ? 'deep and shallow tie' : winner === 'deep' ? `deep beats shallow (${(d >= 0 ? '+' : '') + d.toFixed(2)} points)` : `shallow beats deep (${(-d).toFixed(2)} points)`;
    return { task, deep, shallow, winner, text: `${task}: best prompt length ${say('deep', deep)}, ${say('shallow', shallow)}; at their best lengths ${how}.` };
  }
  const only = deep ? { mode: 'deep' as const, b: deep, other: 'shallow' } : { mode: 'shallow' as const, b: shallow as { length: number; mean: number }, other: 'deep' };
  return { task, ...(deep ? { deep } : {}), ...(shallow ? { shallow } : {}), text: `${task}: best prompt length ${say(only.mode, only.b)}; no ${only.other} runs to compare.` };
}

// ---- both --------------------------------------------------------------------------------------

/** The follow-up studies' numbers beside the main study: the data-size crossover and the prompt-length sweep. */
export interface StudyExtras {
  readonly crossover: readonly Crossover[];
  readonly sweep?: PromptSweep;
}

export function buildExtras(study: StudyTables, sweepRuns: readonly RunRecord[] | undefined): Result<StudyExtras, SweepError> {
  const crossover = crossovers(study.sizeCurve);
  if (!sweepRuns?.length) return ok({ crossover });
  const sweep = promptSweep(sweepRuns);
  return sweep.ok ? ok({ crossover, sweep: sweep.value }) : sweep;
}
