/**
 * One run of a pipeline, as `pipeline run` does it and as a program can: take the workspace,
 * plan, check that every stage about to start has its data, execute, write the lock file. The CLI
 * adds only its options, its renderer and its signals on top.
 */
import type { Diagnostic } from '../dsl/diagnostic.js';
import { planPipeline, preflight, selectStages, StageGraph, type Plan, type PlanContext, type PlanError, type PlanOptions } from '../plan/index.js';
import { acquireWorkspaceLock, type LockHolder } from '../store/index.js';
import { err, ok, type Result } from '../util/result.js';
import { executePlan, type Capacity } from './coordinator.js';
import type { EmitEvent, RunSummary } from './events.js';
import type { Executor } from './executor.js';
import { LocalExecutor } from './local.js';
import { LockUpdater } from './lock-updater.js';

export interface RunPipelineOptions {
  readonly plan?: PlanOptions;
  readonly jobs: number;
  readonly capacity: Capacity;
  readonly keepGoing?: boolean;
  /** TensorFlow.js backend for ML stages (default: `VPT_BACKEND`, then the fastest that loads). */
  readonly backend?: string | undefined;
  /** Default: the local executor. */
  readonly executor?: Executor;
  readonly signal?: AbortSignal;
  /** The lock file to update (default: none). */
  readonly lockPath?: string;
  /** Wait for another run on the workspace instead of refusing. */
  readonly wait?: boolean;
  readonly onWait?: (holder: LockHolder) => void;
  /** Called with the plan before any stage starts (e.g. to set up a progress view). */
  readonly onPlan?: (plan: Plan) => void | Promise<void>;
  readonly emit?: EmitEvent;
}

export type RunPipelineError =
  | { readonly reason: 'busy'; readonly message: string }
  | { readonly reason: 'plan'; readonly error: PlanError }
  /** Stages that would run cannot start (missing data); nothing was run. */
  | { readonly reason: 'not-ready'; readonly diagnostics: readonly Diagnostic[] };

export async function runPipeline(context: PlanContext, options: RunPipelineOptions): Promise<Result<RunSummary, RunPipelineError>> {
  // Planned with the backend the stages will ask for, so backend-dependent defaults are in their keys.
  const ctx: PlanContext = { ...context, backend: options.backend ?? context.backend ?? process.env['VPT_BACKEND'] };
  const { pipeline, store } = ctx;
  const signal = options.signal ?? new AbortController().signal;
  const lock = await acquireWorkspaceLock(pipeline.workspace, {
    wait: options.wait === true,
    signal,
    ...(options.onWait ? { onWait: options.onWait } : {}),
  });
  if (!lock.ok) return err({ reason: 'busy', message: lock.error.message });
  try {
    await store.cleanTmp();
    const planOptions = options.plan ?? {};
    const plan = await planPipeline(ctx, planOptions);
    const notReady = await checkPlanReady(ctx, plan, planOptions);
    if (notReady.length > 0) return err({ reason: 'not-ready', diagnostics: notReady });
    if (!plan.ok) return err({ reason: 'plan', error: plan.error });
    await options.onPlan?.(plan.value);
    const summary = await executePlan(
      ctx,
      plan.value,
      {
        jobs: options.jobs,
        keepGoing: options.keepGoing === true,
        backend: ctx.backend,
        executor: options.executor ?? new LocalExecutor(),
        capacity: options.capacity,
        signal,
        lock: options.lockPath === undefined ? undefined : await LockUpdater.open(options.lockPath, pipeline, store.root),
        watchParent: (options.executor?.name ?? 'local') === 'local',
      },
      options.emit ?? (() => undefined),
    );
    return ok(summary);
  } finally {
    await store.flushStatCache();
    await lock.value.release();
  }
}

/**
 * What keeps the stages that would run from starting (a missing data package, data root or
 * `deps:` file), all at once. When planning stopped at a missing input, every selected stage is
 * checked, so the user sees the whole list, not the first.
 */
export async function checkPlanReady(ctx: PlanContext, plan: Result<Plan, PlanError>, options: PlanOptions): Promise<Diagnostic[]> {
  const graph = plan.ok ? plan.value.graph : new StageGraph(ctx.pipeline);
  let ids: string[];
  if (plan.ok) {
    ids = graph.order.filter((id) => {
      const action = plan.value.decisions.get(id)?.action;
      return action === 'run' || action === 'pending';
    });
  } else if (plan.error.reason === 'missing-input') {
    const selection = selectStages(graph, options);
    ids = selection.ok ? graph.order.filter((id) => selection.value.selected.has(id)) : [];
  } else {
    return [];
  }
  return preflight({ workspace: ctx.pipeline.workspace, graph, kinds: ctx.kinds }, ids);
}
