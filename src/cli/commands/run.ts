import { availableParallelism, totalmem } from 'node:os';
import type { Capacity } from '../../exec/coordinator.js';
import { checkPlanReady, runPipeline } from '../../exec/run-pipeline.js';
import type { Executor } from '../../exec/executor.js';
import { LocalExecutor } from '../../exec/local.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RunEvent } from '../../exec/events.js';
import { planPipeline, type PlanError } from '../../plan/index.js';
import { colorEnabled, palette } from '../../ui/color.js';
import { chooseRenderer, SkipTally } from '../../ui/index.js';
import { loadWorkspace, printDiagnostics, splitFileAndTargets, type PipelineOptions } from '../context.js';
import { CliExit, EXIT } from '../exit-codes.js';
import { planAsJson, renderPlan } from '../plan-report.js';

export interface RunOptions extends PipelineOptions {
  readonly from?: string[];
  readonly until?: string[];
  readonly only?: string[];
  readonly force?: boolean;
  readonly dryRun?: boolean;
  readonly jobs?: string;
  readonly keepGoing?: boolean;
  readonly backend?: string;
  readonly executor?: string;
  readonly json?: boolean;
  readonly wait?: boolean;
  readonly cpus?: string;
  readonly gpus?: string;
  readonly memory?: string;
  readonly verbose?: boolean;
  readonly estimate?: boolean;
  readonly perImageMs?: string;
  readonly perStepMs?: string;
  readonly stepBatch?: string;
  readonly calibrate?: boolean;
  readonly nodes?: string;
}

export async function runCommand(positionals: string[], options: RunOptions): Promise<number> {
  // The estimate's code (and, with --calibrate, TensorFlow.js) loads only when asked for.
  if (options.estimate) return (await import('./estimate.js')).estimateCommand(positionals, options);
  const stray = ESTIMATE_ONLY_FLAGS.find(([key]) => options[key] !== undefined);
  if (stray) throw new CliExit(EXIT.invalid, `${stray[1]} goes with --estimate`);
  const { file, targets } = splitFileAndTargets(positionals, options.file);
  const { pipeline, kinds, store, lockPath } = await loadWorkspace(file, options);
  const c = palette(colorEnabled(process.stdout));
  const onSlurm = options.executor === 'slurm';
  // On Slurm the cluster schedules resources; --jobs only caps the jobs in flight.
  const jobs = positiveInt(options.jobs, '--jobs') ?? (onSlurm ? SLURM_DEFAULT_JOBS : availableParallelism());
  const capacity: Capacity = onSlurm
    ? { cpu: Infinity, gpu: Infinity, memoryMiB: Infinity }
    : {
        cpu: positiveInt(options.cpus, '--cpus') ?? availableParallelism(),
        gpu: nonNegativeInt(options.gpus, '--gpus') ?? Number(process.env['VPT_GPUS'] ?? 0),
        memoryMiB: positiveInt(options.memory, '--memory') ?? Math.floor(totalmem() / 2 ** 20),
      };
  const planOptions = { targets, from: options.from ?? [], until: options.until ?? [], only: options.only ?? [], force: options.force === true };

  if (options.dryRun) {
    // The backend a real run would use: backend-dependent defaults (workers) are in the cache keys.
    const planContext = { pipeline, store, kinds, backend: options.backend };
    const plan = await planPipeline(planContext, planOptions);
    const notReady = await checkPlanReady(planContext, plan, planOptions);
    printDiagnostics(notReady);
    // A stage that cannot start is the answer (exit 1, as a real run would give), not the plan error it causes.
    if (!plan.ok) throw new CliExit(notReady.length > 0 ? EXIT.stageFailed : EXIT.invalid, notReady.length > 0 ? 'nothing would run' : describePlanError(plan.error));
    process.stdout.write(options.json ? `${JSON.stringify(planAsJson(plan.value))}\n` : renderPlan(plan.value, c, options.verbose === true));
    await store.flushStatCache();
    return notReady.length > 0 ? EXIT.stageFailed : EXIT.ok;
  }

  const executor = await createExecutor(options.executor, pipeline.workspace);
  if (executor.name === 'slurm') {
    const reachable = await (executor as import('../../exec/slurm/index.js').SlurmExecutor).check();
    if (!reachable.ok) throw new CliExit(EXIT.invalid, `--executor slurm: the cluster does not answer: ${reachable.error.message}`);
  } else if (existsSync(join(store.root, 'slurm'))) {
    // Jobs a killed `--executor slurm` run left behind are collected only by another Slurm run.
    const { listRecords, slurmPaths } = await import('../../exec/slurm/index.js');
    const left = await listRecords(slurmPaths(pipeline.workspace));
    if (left.length > 0) process.stderr.write(`note: ${left.length} Slurm job(s) of an earlier run are recorded in this workspace; \`pipeline run --executor slurm\` collects them (this run may do their stages again locally)\n`);
  }
  const abort = new AbortController();
  let interrupted = 0;
  const onSignal = (): void => {
    interrupted++;
    if (interrupted === 1) {
      process.stderr.write('\ninterrupted: stopping running stages (Ctrl-C again to quit at once)\n');
      abort.abort();
    } else {
      process.exit(EXIT.interrupted);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let renderer: Awaited<ReturnType<typeof chooseRenderer>> | undefined;
  const failures: Extract<RunEvent, { type: 'stage-failed' }>[] = [];
  const skips = new SkipTally();
  try {
    const run = await runPipeline(
      { pipeline, store, kinds },
      {
        plan: planOptions,
        jobs,
        capacity,
        keepGoing: options.keepGoing === true,
        backend: options.backend,
        executor,
        signal: abort.signal,
        lockPath,
        wait: options.wait === true,
        onWait: (holder) => process.stderr.write(`waiting for the run of pid ${holder.pid} on ${holder.hostname} (started ${holder.startedAt}) to finish...\n`),
        onPlan: async (plan) => {
          const workingStages = plan.graph.order
            .filter((id) => {
              const action = plan.decisions.get(id)?.action;
              return action === 'run' || action === 'pending' || action === 'restore';
            })
            .map((id) => [id, plan.graph.stage(id).template] as const);
          renderer = await chooseRenderer({ json: options.json === true, stages: workingStages, verbose: options.verbose === true });
        },
        emit: (event) => {
          if (event.type === 'stage-failed' && !event.willRetry) failures.push(event);
          if (event.type === 'stage-skipped') skips.add(event);
          renderer?.emit(event);
        },
      },
    );
    await renderer?.close();
    await executor.close?.();
    if (!run.ok) {
      switch (run.error.reason) {
        case 'busy':
          throw new CliExit(EXIT.stageFailed, `${run.error.message}\n(use --wait to wait for it)`);
        case 'not-ready':
          printDiagnostics(run.error.diagnostics);
          throw new CliExit(EXIT.stageFailed, 'nothing was run');
        case 'plan':
          throw new CliExit(EXIT.invalid, describePlanError(run.error.error));
      }
    }
    const summary = run.value;
    if (renderer?.kind === 'listr') printFailures(failures, skips, c, summary);
    return summary.cancelled ? EXIT.interrupted : summary.failed > 0 ? EXIT.stageFailed : EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function describePlanError(error: PlanError): string {
  return `${error.message}${'hint' in error && error.hint ? ` (${error.hint})` : ''}`;
}

function printFailures(failures: Extract<RunEvent, { type: 'stage-failed' }>[], skips: SkipTally, c: ReturnType<typeof palette>, summary: { ran: number; restored: number; fresh: number; failed: number; skipped: number; durationMs: number }): void {
  for (const f of failures) {
    process.stderr.write(`${c.red('✖')} ${f.id}: ${f.message}\n`);
    for (const line of f.tail) process.stderr.write(c.dim(`    │ ${line}\n`));
    if (f.logFile) process.stderr.write(c.dim(`    full log: ${f.logFile}\n`));
  }
  // The live view shows no per-stage skip lines, so the summary never says "--verbose lists them".
  for (const line of skips.lines(true)) process.stderr.write(c.dim(`- ${line}\n`));
  process.stdout.write(`${summary.ran} ran, ${summary.restored} restored, ${summary.fresh} up to date, ${summary.failed} failed, ${summary.skipped} skipped\n`);
}

/** Options that mean something only with --estimate, as the user spells them. */
const ESTIMATE_ONLY_FLAGS: ReadonlyArray<readonly [keyof RunOptions, string]> = [
  ['perImageMs', '--per-image-ms'], ['perStepMs', '--per-step-ms'], ['stepBatch', '--step-batch'], ['calibrate', '--calibrate'], ['nodes', '--nodes'],
];

/** Jobs in flight under Slurm when --jobs is not given. */
const SLURM_DEFAULT_JOBS = 64;

/** Executors load on demand: the Slurm client (and execa) only when asked for. */
export async function createExecutor(name: string | undefined, workspace?: string): Promise<Executor> {
  switch (name ?? 'local') {
    case 'local':
      return new LocalExecutor();
    case 'slurm': {
      if (workspace === undefined) throw new CliExit(EXIT.invalid, 'the slurm executor needs a workspace');
      const { SlurmExecutor } = await import('../../exec/slurm/index.js');
      return new SlurmExecutor({ workspace });
    }
    default:
      throw new CliExit(EXIT.invalid, `unknown executor '${name}' (available: local, slurm)`);
  }
}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliExit(EXIT.invalid, `${flag} takes a whole number >= 1, got '${value}'`);
  return n;
}

function nonNegativeInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new CliExit(EXIT.invalid, `${flag} takes a whole number >= 0, got '${value}'`);
  return n;
}
