/**
 * Judging a stage against its lock entry, for `pipeline verify`: bytes first; where they differ,
 * the headline metrics, each within its tolerance (the kind's default, or the reviewer's). One
 * verdict per stage, the metric table behind it, and a summary with the paper's headline metric.
 */
import type { LockStage } from './lock-file.js';
import { compareMetrics, type MetricStatus, type MetricTolerance } from './metrics.js';

export type StageVerdict = 'reproduced' | 'within-tolerance' | 'differs' | 'missing' | 'not-in-lock' | 'failed';

export interface MetricRow {
  readonly name: string;
  readonly locked?: number;
  readonly now?: number;
  readonly delta?: number;
  readonly tolerance: MetricTolerance;
  readonly status: MetricStatus;
  readonly pass: boolean;
}

export interface StageCheck {
  readonly id: string;
  readonly verdict: StageVerdict;
  /** Which outputs differ or are missing, and other facts (e.g. the fingerprint moved). */
  readonly details: readonly string[];
  /** Every locked metric, when the bytes differ (empty when they are the same). */
  readonly metrics: readonly MetricRow[];
}

/** What is there now for a stage: each locked output's hash (undefined: missing), and the metrics of the run that made them. */
export interface StageNow {
  readonly outputs: Readonly<Record<string, string | undefined>>;
  /** Undefined when no run record accounts for the outputs (e.g. a file edited by hand). */
  readonly metrics: Readonly<Record<string, number>> | undefined;
  readonly details?: readonly string[];
}

/** Tolerances by precedence: `--tol name=x`, then `--abs-tol`/`--rel-tol`, then the kind's default, else exact. */
export interface ToleranceChoice {
  readonly perMetric: Readonly<Record<string, number>>;
  readonly all: MetricTolerance | undefined;
}

export function toleranceFor(metric: string, kindDefaults: Readonly<Record<string, MetricTolerance>> | undefined, choice: ToleranceChoice): MetricTolerance {
  const named = choice.perMetric[metric];
  if (named !== undefined) return { abs: named };
  if (choice.all !== undefined) return choice.all;
  return kindDefaults?.[metric] ?? {};
}

export function judgeStage(id: string, entry: LockStage, now: StageNow, tolerance: (metric: string) => MetricTolerance): StageCheck {
  const details = [...(now.details ?? [])];
  const missing = Object.entries(entry.outs).filter(([name]) => now.outputs[name] === undefined).map(([name, o]) => `${name} (${o.path})`);
  const changed = Object.entries(entry.outs).filter(([name, o]) => now.outputs[name] !== undefined && now.outputs[name] !== o.hash).map(([name, o]) => `${name} (${o.path})`);
  if (missing.length > 0) return { id, verdict: 'missing', details: [...details, `missing: ${missing.join(', ')}`], metrics: [] };
  if (changed.length === 0) return { id, verdict: 'reproduced', details, metrics: [] };
  details.push(`bytes differ: ${changed.join(', ')}`);
  if (now.metrics === undefined) return { id, verdict: 'differs', details: [...details, 'no run record accounts for these bytes, so no metrics to compare'], metrics: [] };
  const rows = Object.keys(entry.metrics).sort().map((name): MetricRow => {
    const t = tolerance(name);
    const [v] = compareMetrics({ [name]: entry.metrics[name] as number }, now.metrics?.[name] === undefined ? {} : { [name]: now.metrics[name] as number }, t);
    const verdict = v as NonNullable<typeof v>;
    return {
      name, tolerance: t, status: verdict.status, pass: verdict.pass,
      ...(verdict.expected !== undefined ? { locked: verdict.expected } : {}),
      ...(verdict.actual !== undefined ? { now: verdict.actual } : {}),
      ...(verdict.absDiff !== undefined ? { delta: verdict.absDiff } : {}),
    };
  });
  // Bytes differ and nothing to judge them by: not a reproduction.
  const verdict: StageVerdict = rows.length > 0 && rows.every((r) => r.pass) ? 'within-tolerance' : 'differs';
  return { id, verdict, details, metrics: rows };
}

export interface VerifySummary {
  readonly stages: number;
  readonly reproduced: number;
  readonly withinTolerance: number;
  readonly differs: number;
  readonly missing: number;
  readonly other: number;
  /** The paper's headline metric: the largest |delta| of `test_top1` over the stages compared. */
  readonly headline: { readonly metric: string; readonly compared: number; readonly maxDelta: number; readonly stage: string | undefined };
}

export const HEADLINE_METRIC = 'test_top1';

export function summarize(checks: readonly StageCheck[], lock: Readonly<Record<string, LockStage>>): VerifySummary {
  const count = (v: StageVerdict): number => checks.filter((c) => c.verdict === v).length;
  let maxDelta = 0;
  let stage: string | undefined;
  let compared = 0;
  for (const c of checks) {
    if (lock[c.id]?.metrics[HEADLINE_METRIC] === undefined) continue;
    if (c.verdict === 'missing' || c.verdict === 'failed' || c.verdict === 'not-in-lock') continue;
    compared++;
    // Reproduced bytes mean a delta of 0; otherwise the table has it.
    const row = c.metrics.find((m) => m.name === HEADLINE_METRIC);
    const delta = row?.delta ?? (c.verdict === 'reproduced' ? 0 : Number.NaN);
    if (Number.isNaN(delta) || delta > maxDelta) {
      maxDelta = Number.isNaN(delta) ? Number.POSITIVE_INFINITY : delta;
      stage = c.id;
    }
  }
  return {
    stages: checks.length,
    reproduced: count('reproduced'),
    withinTolerance: count('within-tolerance'),
    differs: count('differs'),
    missing: count('missing'),
    other: count('not-in-lock') + count('failed'),
    headline: { metric: HEADLINE_METRIC, compared, maxDelta, stage },
  };
}

/** Exit 0 only if nothing differs beyond tolerance, is missing, failed or is unknown to the lock. */
export function verifyPassed(checks: readonly StageCheck[]): boolean {
  return checks.every((c) => c.verdict === 'reproduced' || c.verdict === 'within-tolerance');
}
