/**
 * Runs a plan: stages whose inputs are ready start under `--jobs` and the resource slots; each
 * attempt runs in a child process through the executor; outputs are staged, stored, then moved
 * into place; the run record and the lock file are written only after that. A stage that fails,
 * times out or is killed leaves no output, no record and no lock entry.
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Stage } from '../dsl/model.js';
import { evaluateStage, rememberOutputs, type Decision, type KnownOutputs, type Plan, type PlanContext } from '../plan/index.js';
import type { Reason } from '../plan/reasons.js';
import type { ArtifactRef, RunRecord } from '../store/index.js';
import type { EmitEvent, RunSummary } from './events.js';
import type { Executor, JobOutcome } from './executor.js';
import type { LockUpdater } from './lock-updater.js';
import type { StageOutcomeFile, StageSpecFile } from './protocol.js';
import { escapesWorkspace } from './containment.js';
import { redirectArgv, redirectShell, stagedPath } from './staging.js';

export interface Capacity {
  readonly cpu: number;
  readonly gpu: number;
  readonly memoryMiB: number;
}

export interface ExecuteOptions {
  readonly jobs: number;
  readonly keepGoing: boolean;
  readonly backend: string | undefined;
  readonly executor: Executor;
  readonly capacity: Capacity;
  readonly signal: AbortSignal;
  readonly lock: LockUpdater | undefined;
  /** Local children exit when the coordinator dies; batch jobs must not. */
  readonly watchParent: boolean;
}

type Status = 'waiting' | 'running' | 'done' | 'failed' | 'skipped';

export async function executePlan(ctx: PlanContext, plan: Plan, options: ExecuteOptions, emit: EmitEvent): Promise<RunSummary> {
  const started = Date.now();
  const { graph } = plan;
  const decisions = new Map<string, Decision>(plan.decisions);
  const status = new Map<string, Status>();
  const known: KnownOutputs = new Map();
  const counts = { ran: 0, restored: 0, fresh: 0, failed: 0, skipped: 0 };
  const active = graph.order.filter((id) => decisions.get(id)?.action !== 'skip');
  for (const id of active) status.set(id, 'waiting');

  const toRun = active.filter((id) => ['run', 'pending', 'restore'].includes(decisions.get(id)?.action ?? '')).length;
  emit({ type: 'run-start', pipeline: plan.pipeline.name, total: active.length, toRun, jobs: options.jobs, executor: options.executor.name });

  const used = { cpu: 0, gpu: 0, memoryMiB: 0, jobs: 0 };
  let stopScheduling = false;
  const running = new Set<Promise<void>>();

  const upstreamDone = (id: string): boolean => (graph.upstream.get(id) ?? []).every((up) => status.get(up) === 'done' || !status.has(up));
  // For a skipped stage, the failed stage at the root of its chain.
  const failedRoot = new Map<string, string>();
  const upstreamFailed = (id: string): string | undefined => {
    for (const up of graph.upstream.get(id) ?? []) {
      if (status.get(up) === 'failed') return up;
      const root = status.get(up) === 'skipped' ? failedRoot.get(up) : undefined;
      if (root !== undefined) return root;
    }
    return undefined;
  };

  const finishCached = async (id: string, decision: Extract<Decision, { action: 'fresh' | 'restore' }>): Promise<boolean> => {
    if (decision.action === 'restore') {
      for (const output of Object.values(decision.record.outputs)) {
        const restored = await ctx.store.restore(output.ref, resolve(ctx.pipeline.workspace, output.path));
        if (!restored.ok) {
          // A corrupt or vanished object is never served: the stage runs again.
          const reason: Reason = restored.error.reason === 'corrupt'
            ? { type: 'cache-corrupt', name: output.path, detail: restored.error.message }
            : { type: 'cache-missing', name: output.path };
          emit({ type: 'warning', message: `${id}: ${restored.error.message}; running the stage again` });
          decisions.set(id, { action: 'run', fingerprint: decision.fingerprint, doc: decision.doc, reasons: [reason] });
          return false;
        }
      }
      counts.restored++;
      // A restore is a use: gc's size and age caps evict least recently used results first.
      await ctx.store.markUsed(decision.fingerprint);
      emit({ type: 'stage-restored', id, reasons: decision.reasons });
    } else {
      counts.fresh++;
      emit({ type: 'stage-fresh', id });
    }
    rememberOutputs(known, decision.record);
    await options.lock?.record(graph.stage(id), decision.record);
    status.set(id, 'done');
    return true;
  };

  const fits = (stage: Stage): boolean => {
    const need = demand(stage, options.capacity);
    return (
      used.jobs < options.jobs &&
      used.cpu + need.cpu <= options.capacity.cpu &&
      used.gpu + need.gpu <= options.capacity.gpu &&
      used.memoryMiB + need.memoryMiB <= options.capacity.memoryMiB
    );
  };

  const launch = (id: string, decision: Extract<Decision, { action: 'run' }>): void => {
    const stage = graph.stage(id);
    const need = demand(stage, options.capacity);
    used.cpu += need.cpu;
    used.gpu += need.gpu;
    used.memoryMiB += need.memoryMiB;
    used.jobs++;
    status.set(id, 'running');
    const task = runWithRetries(ctx, plan, stage, decision, options, emit)
      .then(async (record) => {
        if (record) {
          counts.ran++;
          // Downstream stages are decided against what this stage actually produced.
          decisions.set(id, { action: 'fresh', fingerprint: record.fingerprint, doc: decision.doc, record, reasons: decision.reasons });
          rememberOutputs(known, record);
          await options.lock?.record(stage, record);
          status.set(id, 'done');
        } else {
          counts.failed++;
          status.set(id, 'failed');
          if (!options.keepGoing) stopScheduling = true;
        }
      })
      .finally(() => {
        used.cpu -= need.cpu;
        used.gpu -= need.gpu;
        used.memoryMiB -= need.memoryMiB;
        used.jobs--;
        running.delete(task);
      });
    running.add(task);
  };

  // Problems the store noticed (an unreadable run record, a quarantined object) are shown, not swallowed.
  const reportStoreWarnings = (): void => {
    for (const w of ctx.store.drainWarnings()) emit({ type: 'warning', message: `store: ${w.message} (${w.path})` });
  };
  reportStoreWarnings();
  for (;;) {
    reportStoreWarnings();
    if (options.signal.aborted) stopScheduling = true;
    let progressed = false;
    for (const id of active) {
      if (status.get(id) !== 'waiting') continue;
      const failedUp = upstreamFailed(id);
      if (failedUp !== undefined) {
        status.set(id, 'skipped');
        failedRoot.set(id, failedUp);
        counts.skipped++;
        emit({ type: 'stage-skipped', id, because: `upstream ${failedUp} did not succeed`, cause: { type: 'upstream-failed', failed: failedUp } });
        progressed = true;
        continue;
      }
      if (stopScheduling || !upstreamDone(id)) continue;
      let decision = decisions.get(id) as Decision;
      if (decision.action === 'pending') {
        decision = await evaluateStage(ctx, graph, id, known, decisions, plan.forced.has(id));
        decisions.set(id, decision);
      }
      if (decision.action === 'fresh' || decision.action === 'restore') {
        if (await finishCached(id, decision)) {
          progressed = true;
          continue;
        }
        decision = decisions.get(id) as Decision;
      }
      if (decision.action === 'blocked' || decision.action === 'pending' || decision.action === 'skip') {
        status.set(id, 'failed');
        counts.failed++;
        emit({ type: 'stage-failed', id, attempt: 0, willRetry: false, reason: 'store', message: decision.action === 'blocked' ? decision.message : `cannot decide ${id}`, tail: [], logFile: undefined });
        if (!options.keepGoing) stopScheduling = true;
        progressed = true;
        continue;
      }
      if (decision.action === 'run' && fits(graph.stage(id))) {
        launch(id, decision);
        progressed = true;
      } else if (decision.action === 'run' && used.jobs === 0) {
        // Nothing is running, so it will never fit: only a GPU request can be larger than the machine.
        const stage = graph.stage(id);
        status.set(id, 'failed');
        counts.failed++;
        emit({ type: 'stage-failed', id, attempt: 0, willRetry: false, reason: 'store', message: `needs ${stage.resources.gpu} GPU(s); the ${options.executor.name} executor has ${options.capacity.gpu}`, tail: [], logFile: undefined });
        if (!options.keepGoing) stopScheduling = true;
        progressed = true;
      }
    }
    if (progressed) continue;
    if (running.size === 0) break;
    await Promise.race(running);
  }

  // Whatever never started (a failure stopped scheduling, or Ctrl-C) is reported as skipped.
  for (const id of active) {
    if (status.get(id) === 'waiting') {
      status.set(id, 'skipped');
      counts.skipped++;
      const cancelled = options.signal.aborted;
      emit({
        type: 'stage-skipped',
        id,
        because: cancelled ? 'cancelled' : 'the run stopped after a failure (use --keep-going to continue past failures)',
        cause: { type: cancelled ? 'cancelled' : 'stopped' },
      });
    }
  }
  await options.lock?.flush();
  const summary: RunSummary = { ...counts, cancelled: options.signal.aborted, durationMs: Date.now() - started };
  emit({ type: 'run-end', summary });
  return summary;
}

function demand(stage: Stage, capacity: Capacity): Capacity {
  // A stage asking for more than the machine has still runs, alone (gpu excepted: checked before the run).
  return {
    cpu: Math.min(stage.resources.cpu, capacity.cpu),
    gpu: stage.resources.gpu,
    memoryMiB: Math.min(stage.resources.memoryMiB, capacity.memoryMiB),
  };
}

async function runWithRetries(
  ctx: PlanContext,
  plan: Plan,
  stage: Stage,
  decision: Extract<Decision, { action: 'run' }>,
  options: ExecuteOptions,
  emit: EmitEvent,
): Promise<RunRecord | undefined> {
  const attempts = stage.retries + 1;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (options.signal.aborted) return undefined;
    const outcome = await runAttempt(ctx, plan, stage, decision, attempt, attempts, options, emit);
    if (outcome.ok) return outcome.record;
    const willRetry = attempt < attempts && outcome.retryable && !options.signal.aborted;
    emit({ type: 'stage-failed', id: stage.id, attempt, willRetry, reason: outcome.reason, message: outcome.message, tail: outcome.tail, logFile: outcome.logFile });
    if (!willRetry) return undefined;
  }
  return undefined;
}

type AttemptOutcome =
  | { readonly ok: true; readonly record: RunRecord }
  | { readonly ok: false; readonly retryable: boolean; readonly reason: Extract<import('./events.js').RunEvent, { type: 'stage-failed' }>['reason']; readonly message: string; readonly tail: readonly string[]; readonly logFile: string | undefined };

async function runAttempt(
  ctx: PlanContext,
  plan: Plan,
  stage: Stage,
  decision: Extract<Decision, { action: 'run' }>,
  attempt: number,
  attempts: number,
  options: ExecuteOptions,
  emit: EmitEvent,
): Promise<AttemptOutcome> {
  const { store } = ctx;
  // ctx.pipeline, not plan.pipeline: a verify --rerun runs the plan in a scratch workspace.
  const workspace = ctx.pipeline.workspace;
  const placement = await options.executor.prepareAttempt?.({ stageId: stage.id, fingerprint: decision.fingerprint });
  const reattach = placement?.reattach;
  const runId = reattach?.runId ?? `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}-${attempt}`;
  const staging = placement?.stagingDir ?? (await store.newStagingDir(stage.id));
  const logFile = reattach?.logFile ?? store.logPath(stage.id, runId);
  const staged = new Map<string, string>();
  for (const path of Object.values(stage.outputs)) {
    const target = stagedPath(staging, path);
    await mkdir(dirname(target), { recursive: true });
    staged.set(path, target);
  }
  const stagedByName = Object.fromEntries(Object.entries(stage.outputs).map(([name, path]) => [name, staged.get(path) as string]));
  const spec: StageSpecFile = {
    version: 1,
    stageId: stage.id,
    workspace,
    outputs: stagedByName,
    checkpointDir: store.checkpointDir(decision.fingerprint),
    backend: options.backend,
    resultFile: join(staging, 'result.json'),
    watchParent: options.watchParent,
    task:
      stage.type === 'builtin'
        // The params as fingerprinted: with the kind's backend-dependent defaults filled in.
        ? { type: 'builtin', uses: stage.uses, params: decision.doc.task.type === 'builtin' ? (decision.doc.task.params as Readonly<Record<string, unknown>>) : stage.with }
        : stage.shell
          ? { type: 'command', command: redirectShell(String(stage.command), staged), shell: true }
          : { type: 'command', command: redirectArgv(stage.command as readonly string[], staged), shell: false },
  };
  const specFile = join(staging, 'spec.json');
  // A reattached job may be reading its spec right now: it is already written and stays as is.
  if (reattach) emit({ type: 'warning', message: `${stage.id}: collecting ${reattach.what}, submitted by an earlier run` });
  else await writeFile(specFile, JSON.stringify(spec, null, 2));
  emit({ type: 'stage-start', id: stage.id, attempt, attempts, reasons: decision.reasons, logFile });
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const fail = async (outcome: Omit<Extract<AttemptOutcome, { ok: false }>, 'ok' | 'logFile'>): Promise<AttemptOutcome> => {
    await rm(staging, { recursive: true, force: true });
    return { ok: false, ...outcome, logFile };
  };

  const outcome: JobOutcome = await options.executor.run(
    {
      stageId: stage.id,
      runId,
      specFile,
      resultFile: spec.resultFile,
      logFile,
      workspace,
      env: stage.env,
      resources: stage.resources,
      timeoutSeconds: stage.timeoutSeconds,
      fingerprint: decision.fingerprint,
      ...(stage.slurm ? { slurm: stage.slurm } : {}),
    },
    { onProgress: (update) => emit({ type: 'stage-progress', id: stage.id, update }) },
    options.signal,
  );
  if (outcome.type === 'failed') {
    // The stage's own account of its failure (e.g. a thrown Error's message) beats an exit code.
    const own = outcome.reason === 'exit' ? await readOutcome(spec.resultFile) : undefined;
    const message = own?.error && !own.error.startsWith('exited with code') ? `${own.error} (${outcome.message})` : outcome.message;
    return fail({ retryable: outcome.reason !== 'cancelled', reason: outcome.reason, message, tail: outcome.tail });
  }
  const result = await readOutcome(spec.resultFile);
  if (!result) return fail({ retryable: true, reason: 'exit', message: 'the stage process exited 0 but wrote no result', tail: [] });
  if (!result.ok) return fail({ retryable: true, reason: 'exit', message: result.error ?? 'stage failed', tail: [] });

  // Outputs: from staging, or (a command that wrote to the workspace path itself) from the workspace.
  const outputs: Record<string, { path: string; ref: ArtifactRef }> = {};
  for (const [name, path] of Object.entries(stage.outputs)) {
    const stagedFile = staged.get(path) as string;
    const inStaging = await exists(stagedFile);
    const source = inStaging ? stagedFile : resolve(workspace, path);
    if (!inStaging && !(await exists(source))) {
      return fail({ retryable: false, reason: 'missing-output', message: `declared output ${name} (${path}) was not produced`, tail: [] });
    }
    const escape = await escapesWorkspace(workspace, path);
    if (escape) return fail({ retryable: false, reason: 'store', message: escape, tail: [] });
    const ingested = await store.ingest(source, { move: inStaging });
    if (!ingested.ok) return fail({ retryable: false, reason: 'store', message: `storing ${path}: ${ingested.error.message}`, tail: [] });
    if (inStaging) {
      const placed = await store.restore(ingested.value, resolve(workspace, path));
      if (!placed.ok) return fail({ retryable: false, reason: 'store', message: `placing ${path}: ${placed.error.message}`, tail: [] });
    }
    outputs[name] = { path, ref: ingested.value };
  }
  const record: RunRecord = {
    fingerprint: decision.fingerprint,
    stageId: stage.id,
    fingerprintInputs: decision.doc,
    outputs,
    metrics: result.result?.metrics ?? {},
    environment: {
      executor: options.executor.name,
      host: hostname(),
      node: process.version,
      ...(result.result?.environment ?? {}),
    },
    notes: result.result?.notes ?? [],
    startedAt,
    durationMs: Date.now() - started,
    logFile,
  };
  await store.writeRunRecord(record);
  await store.setLatest(stage.id, decision.fingerprint);
  await rm(staging, { recursive: true, force: true });
  // The result is stored; the resume checkpoints of this fingerprint are no longer needed.
  await rm(spec.checkpointDir, { recursive: true, force: true });
  emit({ type: 'stage-succeeded', id: stage.id, durationMs: record.durationMs, metrics: record.metrics });
  return { ok: true, record };
}

async function readOutcome(path: string): Promise<StageOutcomeFile | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as StageOutcomeFile;
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
