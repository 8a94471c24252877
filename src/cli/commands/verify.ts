/**
 * `pipeline verify`: what a reviewer runs next to a committed lock file.
 * Without --rerun: are the workspace's inputs and outputs the ones the lock records?
 * With --rerun: run the stages again (forced) and compare output bytes and, within tolerances,
 * the metrics. Exit 0 when everything reproduced, 1 otherwise.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { executePlan } from '../../exec/coordinator.js';
import { planPipeline, type Decision } from '../../plan/index.js';
import { compareMetrics, parseLockFile, type LockStage, type RunRecord, type Store } from '../../store/index.js';
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
}

type Verdict = 'reproduced' | 'within-tolerance' | 'differs' | 'inputs-differ' | 'missing' | 'failed' | 'not-in-lock';

interface Row {
  readonly id: string;
  readonly verdict: Verdict;
  readonly details: string[];
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
  const tolerance = { rel: tol(options.relTol, '--rel-tol'), abs: tol(options.absTol, '--abs-tol') };
  const plan = await planPipeline({ pipeline, store, kinds }, { targets, force: options.rerun === true });
  if (!plan.ok) throw new CliExit(EXIT.invalid, plan.error.message);
  // With --rerun only the stages that really run again are judged; their cached ancestors are
  // inputs, not evidence.
  const ids = plan.value.graph.order.filter((id) => plan.value.selected.has(id) && (!options.rerun || plan.value.forced.has(id)));
  const rows: Row[] = [];

  if (!options.rerun) {
    for (const id of ids) {
      const entry = lock.value.stages[id];
      if (!entry) {
        rows.push({ id, verdict: 'not-in-lock', details: ['the lock has no entry for this stage'] });
        continue;
      }
      const decision = plan.value.decisions.get(id) as Decision;
      const details: string[] = [];
      if ('fingerprint' in decision && decision.fingerprint !== entry.fingerprint) details.push(`fingerprint ${short(entry.fingerprint)} in lock, ${short(decision.fingerprint)} now`);
      else if (!('fingerprint' in decision)) details.push(`inputs not known yet: ${decision.reasons.map((r) => r.type).join(', ')}`);
      const outputs = await compareWorkspaceOutputs(store, pipeline.workspace, entry);
      details.push(...outputs);
      const verdict: Verdict = outputs.some((d) => d.includes('missing')) ? 'missing' : outputs.length > 0 ? 'differs' : details.length > 0 ? 'inputs-differ' : 'reproduced';
      rows.push({ id, verdict, details });
    }
  } else {
    const records = new Map<string, RunRecord>();
    const failed = new Set<string>();
    const renderer = new PlainRenderer(process.stderr, colorEnabled(process.stderr));
    await executePlan(
      { pipeline, store, kinds },
      plan.value,
      {
        jobs: Number(options.jobs ?? availableParallelism()),
        keepGoing: true,
        backend: options.backend ?? process.env['VPT_BACKEND'],
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
      const latest = await store.getLatest(id);
      const record = latest ? await store.readRunRecord(latest) : undefined;
      if (record) records.set(id, record);
      if (!entry) {
        rows.push({ id, verdict: 'not-in-lock', details: [] });
        continue;
      }
      if (failed.has(id) || !record) {
        rows.push({ id, verdict: 'failed', details: ['the rerun failed'] });
        continue;
      }
      const details: string[] = [];
      let bytesSame = true;
      for (const [name, out] of Object.entries(entry.outs)) {
        const now = record.outputs[name];
        if (!now) {
          details.push(`output ${name} not produced`);
          bytesSame = false;
        } else if (now.ref.hash !== out.hash) {
          bytesSame = false;
          details.push(`output ${name} bytes differ`);
        }
      }
      const verdicts = compareMetrics(entry.metrics, record.metrics, tolerance);
      const failing = verdicts.filter((v) => !v.pass);
      for (const v of verdicts.filter((v) => v.status !== 'equal')) {
        details.push(`metric ${v.name}: ${v.expected ?? '-'} -> ${v.actual ?? '-'} (${v.status})`);
      }
      const verdict: Verdict = failing.length > 0 ? 'differs' : bytesSame ? 'reproduced' : Object.keys(entry.metrics).length > 0 ? 'within-tolerance' : 'differs';
      rows.push({ id, verdict, details });
    }
  }
  await store.flushStatCache();
  const good = (v: Verdict): boolean => v === 'reproduced' || v === 'within-tolerance';
  if (options.json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
  } else {
    const c = palette(colorEnabled(process.stdout));
    const width = Math.min(60, Math.max(0, ...rows.map((r) => r.id.length)));
    for (const row of rows) {
      const label = good(row.verdict) ? c.green(row.verdict) : c.red(row.verdict);
      process.stdout.write(`  ${row.id.padEnd(width)}  ${label}${row.details.length ? `  ${c.dim(row.details.join('; '))}` : ''}\n`);
    }
    const ok = rows.filter((r) => good(r.verdict)).length;
    process.stdout.write(`${ok}/${rows.length} stage(s) reproduced${options.rerun ? '' : ' (checked against the workspace; --rerun runs them again)'}\n`);
  }
  return rows.every((r) => good(r.verdict)) ? EXIT.ok : EXIT.stageFailed;
}

async function compareWorkspaceOutputs(store: Store, workspace: string, entry: LockStage): Promise<string[]> {
  const problems: string[] = [];
  for (const [name, out] of Object.entries(entry.outs)) {
    const hashed = await store.hashPath(resolve(workspace, out.path));
    if (!hashed.ok) problems.push(`output ${name} (${out.path}) missing`);
    else if (hashed.value.hash !== out.hash) problems.push(`output ${name} (${out.path}) differs from the lock`);
  }
  return problems;
}

function tol(value: string | undefined, flag: string): number {
  const n = Number(value ?? 0);
  if (!Number.isFinite(n) || n < 0) throw new CliExit(EXIT.invalid, `${flag} takes a number >= 0, got '${value}'`);
  return n;
}

function short(fp: string): string {
  return fp.slice(0, 12);
}
