/**
 * `pipeline verify`: what a reviewer runs next to a committed lock file.
 * Without --rerun: are the workspace's outputs the bytes the lock records, and where they are not,
 * are the metrics of the run that made them within tolerance? With --rerun: run the stages again
 * (forced) in a scratch workspace and judge the same way. Exit 0 only if nothing differs beyond tolerance.
 */
import { readFile, rm } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { prepareScratch } from '../../exec/scratch.js';
import { executePlan } from '../../exec/coordinator.js';
import { planPipeline, type Decision } from '../../plan/index.js';
import { judgeStage, parseLockFile, summarize, toleranceFor, verifyPassed, type MetricTolerance, type RunRecord, type StageCheck, type Store, type ToleranceChoice, type VerifySummary } from '../../store/index.js';
import { availableParallelism, totalmem } from 'node:os';
import { colorEnabled, palette } from '../../ui/color.js';
import { PlainRenderer } from '../../ui/plain.js';
import { loadWorkspace, splitFileAndTargets, type PipelineOptions } from '../context.js';
import { CliExit, EXIT } from '../exit-codes.js';
import { createExecutor } from './run.js';

export interface VerifyOptions extends PipelineOptions {
  readonly rerun?: boolean;
  readonly relTol?: string;
  readonly absTol?: string;
  readonly jobs?: string;
  readonly backend?: string;
  readonly json?: boolean;
  /** `metric=abs` tolerances (repeatable), over the kind's defaults and --abs-tol/--rel-tol. */
  readonly tol?: readonly string[];
}

export async function verifyCommand(positionals: string[], options: VerifyOptions): Promise<number> {
  const { file, targets } = splitFileAndTargets(positionals, options.file);
  const { pipeline, kinds, store, lockPath } = await loadWorkspace(file, options);
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch {
    throw new CliExit(EXIT.invalid, `no lock file at ${lockPath}: run the pipeline first (or check out the committed lock)`);
  }
  const lock = parseLockFile(text, lockPath);
  if (!lock.ok) throw new CliExit(EXIT.invalid, `${lockPath}${lock.error.line ? `:${lock.error.line}:${lock.error.column ?? 1}` : ''}: ${lock.error.message}`);
  const choice = toleranceChoice(options);
  const planContext = { pipeline, store, kinds, backend: options.backend ?? process.env['VPT_BACKEND'] };
  const plan = await planPipeline(planContext, { targets, force: options.rerun === true });
  if (!plan.ok) throw new CliExit(EXIT.invalid, plan.error.message);
  // With --rerun only the stages that really run again are judged; their cached ancestors are
  // inputs, not evidence.
  const ids = plan.value.graph.order.filter((id) => plan.value.selected.has(id) && (!options.rerun || plan.value.forced.has(id)));
  const toleranceOf = (id: string) => (metric: string) => {
    const stage = plan.value.graph.stage(id);
    return toleranceFor(metric, stage.type === 'builtin' ? kinds.get(stage.uses)?.tolerances : undefined, choice);
  };
  const checks: StageCheck[] = [];
  let scratchDir: string | undefined;

  if (!options.rerun) {
    for (const id of ids) {
      const entry = lock.value.stages[id];
      if (!entry) {
        checks.push({ id, verdict: 'not-in-lock', details: ['the lock has no entry for this stage'], metrics: [] });
        continue;
      }
      const decision = plan.value.decisions.get(id) as Decision;
      const details: string[] = [];
      if ('fingerprint' in decision && decision.fingerprint !== entry.fingerprint) details.push(`fingerprint ${short(entry.fingerprint)} in the lock, ${short(decision.fingerprint)} now`);
      const outputs: Record<string, string | undefined> = {};
      for (const [name, out] of Object.entries(entry.outs)) {
        const hashed = await store.hashPath(resolve(pipeline.workspace, out.path));
        outputs[name] = hashed.ok ? hashed.value.hash : undefined;
      }
      // The run that made what is in the workspace: its record's metrics are the ones to compare.
      const record = decision.action === 'fresh' ? decision.record : await recordMatching(store, id, outputs);
      checks.push(judgeStage(id, entry, { outputs, metrics: record?.metrics, details }, toleranceOf(id)));
    }
  } else {
    const failed = new Set<string>();
    const renderer = new PlainRenderer(process.stderr, colorEnabled(process.stderr));
    // In a scratch workspace with its own store: the rerun touches neither the workspace's outputs
    // nor the cached results of the locked run.
    const scratch = await prepareScratch(pipeline, plan.value, store, new Set(ids));
    if (!scratch.ok) throw new CliExit(EXIT.stageFailed, scratch.error);
    scratchDir = scratch.value.dir;
    process.stderr.write(`rerunning ${ids.length} stage(s) in ${relative(process.cwd(), scratch.value.dir) || scratch.value.dir}\n`);
    await executePlan(
      { ...planContext, pipeline: scratch.value.pipeline, store: scratch.value.store },
      plan.value,
      {
        jobs: Number(options.jobs ?? availableParallelism()),
        keepGoing: true,
        backend: planContext.backend,
        executor: await createExecutor('local'),
        capacity: { cpu: availableParallelism(), gpu: Number(process.env['VPT_GPUS'] ?? 0), memoryMiB: Math.floor(totalmem() / 2 ** 20) },
        signal: new AbortController().signal,
        // The reviewer's rerun must not rewrite the lock it is checking against.
        lock: undefined,
        watchParent: true,
      },
      (event) => {
        renderer.emit(event);
        if (event.type === 'stage-failed' && !event.willRetry) failed.add(event.id);
      },
    );
    for (const id of ids) {
      const entry = lock.value.stages[id];
      const latest = await scratch.value.store.getLatest(id);
      const record = latest ? await scratch.value.store.readRunRecord(latest) : undefined;
      if (!entry) {
        checks.push({ id, verdict: 'not-in-lock', details: ['the lock has no entry for this stage'], metrics: [] });
        continue;
      }
      if (failed.has(id) || !record) {
        checks.push({ id, verdict: 'failed', details: ['the rerun failed'], metrics: [] });
        continue;
      }
      const outputs = Object.fromEntries(Object.keys(entry.outs).map((name) => [name, record.outputs[name]?.ref.hash]));
      checks.push(judgeStage(id, entry, { outputs, metrics: record.metrics }, toleranceOf(id)));
    }
  }
  await store.flushStatCache();
  const summary = summarize(checks, lock.value.stages);
  if (scratchDir !== undefined) {
    // Kept when something did not reproduce, for a look at the rerun's outputs and logs.
    if (verifyPassed(checks)) await rm(scratchDir, { recursive: true, force: true });
    else process.stderr.write(`the rerun's outputs and logs are kept in ${scratchDir}\n`);
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ stages: checks, summary })}\n`);
  } else {
    printChecks(checks, summary, options.rerun === true);
  }
  return verifyPassed(checks) ? EXIT.ok : EXIT.stageFailed;
}

/** A run record of the stage whose outputs are exactly what the workspace holds, if any. */
async function recordMatching(store: Store, id: string, outputs: Readonly<Record<string, string | undefined>>): Promise<RunRecord | undefined> {
  const latest = await store.getLatest(id);
  const record = latest ? await store.readRunRecord(latest) : undefined;
  if (!record) return undefined;
  return Object.entries(outputs).every(([name, hash]) => hash !== undefined && record.outputs[name]?.ref.hash === hash) ? record : undefined;
}

function printChecks(checks: readonly StageCheck[], summary: VerifySummary, rerun: boolean): void {
  const c = palette(colorEnabled(process.stdout));
  const good = (v: StageCheck['verdict']): boolean => v === 'reproduced' || v === 'within-tolerance';
  const width = Math.min(60, Math.max(0, ...checks.map((r) => r.id.length)));
  for (const check of checks) {
    const label = check.verdict === 'reproduced' ? c.green(check.verdict) : good(check.verdict) ? c.yellow(check.verdict) : c.red(check.verdict);
    process.stdout.write(`  ${check.id.padEnd(width)}  ${label}${check.details.length ? `  ${c.dim(check.details.join('; '))}` : ''}\n`);
    if (check.verdict === 'reproduced' || check.metrics.length === 0) continue;
    const rows = check.metrics.map((m) => [m.name, num(m.locked), num(m.now), num(m.delta), describeTolerance(m.tolerance), m.pass ? 'ok' : 'beyond'] as const);
    const head = ['metric', 'locked', 'now', '|delta|', 'tolerance', ''] as const;
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
    const line = (cells: readonly string[]): string => `      ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ')}`.trimEnd();
    process.stdout.write(`${c.dim(line(head))}\n`);
    for (const r of rows) process.stdout.write(`${r[5] === 'ok' ? line(r) : c.red(line(r))}\n`);
  }
  const h = summary.headline;
  const headline = h.compared === 0
    ? `no ${h.metric} compared`
    : `${h.metric}: largest deviation ${h.maxDelta === 0 ? '0' : Number.isFinite(h.maxDelta) ? h.maxDelta.toPrecision(3) : 'unknown'} over ${h.compared} stage(s)${h.stage && h.maxDelta > 0 ? ` (${h.stage})` : ''}`;
  process.stdout.write(
    `${summary.reproduced}/${summary.stages} stage(s) reproduced bit for bit, ${summary.withinTolerance} within tolerance, ${summary.differs} differ, ${summary.missing} missing` +
      `${summary.other > 0 ? `, ${summary.other} failed or not in the lock` : ''}; ${headline}` +
      `${rerun ? '' : ' (checked against the workspace; --rerun runs them again)'}\n`,
  );
}

function num(x: number | undefined): string {
  return x === undefined ? '—' : Number.isInteger(x) ? String(x) : x.toPrecision(6);
}

function describeTolerance(t: MetricTolerance): string {
  const parts = [...(t.abs !== undefined ? [`abs ${t.abs}`] : []), ...(t.rel !== undefined ? [`rel ${t.rel}`] : [])];
  return parts.length === 0 ? 'exact' : parts.join(' or ');
}

function toleranceChoice(options: VerifyOptions): ToleranceChoice {
  const abs = tol(options.absTol, '--abs-tol');
  const rel = tol(options.relTol, '--rel-tol');
  const perMetric: Record<string, number> = {};
  for (const item of options.tol ?? []) {
    const m = /^([^=]+)=(.+)$/.exec(item);
    const value = m ? Number(m[2]) : Number.NaN;
    if (!m || !Number.isFinite(value) || value < 0) throw new CliExit(EXIT.invalid, `--tol takes metric=number (>= 0), e.g. --tol test_top1=0.005; got '${item}'`);
    perMetric[m[1] as string] = value;
  }
  return { perMetric, all: abs === undefined && rel === undefined ? undefined : { ...(abs !== undefined ? { abs } : {}), ...(rel !== undefined ? { rel } : {}) } };
}

function tol(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new CliExit(EXIT.invalid, `${flag} takes a number >= 0, got '${value}'`);
  return n;
}

function short(fp: string): string {
  return fp.slice(0, 12);
}
