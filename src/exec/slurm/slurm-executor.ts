/**
 * The Slurm executor: each stage attempt is one `sbatch` job running the same child entry point
 * as locally. One poller follows every job of the run; a job record per fingerprint lets a later
 * coordinator collect jobs an earlier (killed) one submitted, and nothing is submitted twice.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { err, ok, type Result } from '../../util/result.js';
import { childEntryArgv } from '../child-command.js';
import type { AttemptPlacement, Executor, JobHooks, JobOutcome, StageJob } from '../executor.js';
import type { StageOutcomeFile } from '../protocol.js';
import { parseSbatchId, runSlurmCommand, type SlurmError, type SlurmRunner } from './commands.js';
import { LogFollower, readTail } from './log-follow.js';
import { JobPoller, type JobSighting } from './poller.js';
import {
  describeRecord,
  ensureDirs,
  exists,
  listRecords,
  logSubmission,
  newStagingDir,
  newToken,
  readRecord,
  removeRecord,
  slurmPaths,
  writeRecord,
  type JobRecord,
  type SlurmPaths,
} from './records.js';
import { buildSbatch, STORE_INVISIBLE_EXIT, type StoreProbe } from './script.js';
import { isTerminal, parseSacct, parseScontrol, verdictOf } from './states.js';

export interface SlurmExecutorOptions {
  /** Absolute workspace root (holds `.vpt/`). */
  readonly workspace: string;
  /** The Slurm commands; default: the real ones from PATH. */
  readonly run?: SlurmRunner;
  /** Fastest poll period, for young jobs (default 250 ms). */
  readonly pollMinMs?: number;
  /** Slowest poll period (default 5000 ms, env VPT_SLURM_POLL_MAX_MS). */
  readonly pollMaxMs?: number;
}

/** How long to wait for a cancelled job to leave the queue before reporting it cancelled anyway. */
const CANCEL_WAIT_MS = 15_000;

export class SlurmExecutor implements Executor {
  readonly name = 'slurm';
  private readonly run_: SlurmRunner;
  private readonly paths: SlurmPaths;
  private readonly poller: JobPoller;
  /** Jobs this run submitted or adopted and still follows: the ones Ctrl-C cancels. */
  private readonly followed = new Set<string>();
  private readonly hookedSignals = new WeakSet<AbortSignal>();
  private probe: Promise<StoreProbe> | undefined;
  /** Set once a job of this run showed it sees the store; later jobs skip the check. */
  private storeSeen = false;
  /** Set when a node could not see the store: nothing more is submitted. */
  private storeProblem: string | undefined;
  private accounting: Promise<boolean> | undefined;
  /** sbatch calls this run made (the benchmark and tests read it). */
  submitted = 0;

  constructor(private readonly opts: SlurmExecutorOptions) {
    this.run_ = opts.run ?? runSlurmCommand;
    this.paths = slurmPaths(opts.workspace);
    const envMax = Number(process.env['VPT_SLURM_POLL_MAX_MS']);
    const maxMs = opts.pollMaxMs ?? (Number.isFinite(envMax) && envMax > 0 ? envMax : 5000);
    this.poller = new JobPoller(this.run_, { minMs: Math.min(opts.pollMinMs ?? 250, maxMs), maxMs });
  }

  /** squeue calls so far: one per poll tick, whatever the number of jobs. */
  get queries(): number {
    return this.poller.queries;
  }

  /** Is the cluster there? One cheap query, before anything is planned around it. */
  async check(): Promise<Result<void, SlurmError>> {
    const out = await this.run_('sinfo', ['-h', '-o', '%P'], { timeoutMs: 15_000 });
    return out.ok ? ok(undefined) : err(out.error);
  }

  async prepareAttempt(attempt: { readonly stageId: string; readonly fingerprint: string }): Promise<AttemptPlacement> {
    await ensureDirs(this.paths);
    const record = await readRecord(this.paths, attempt.fingerprint);
    const adopted = record ? await this.adoptable(record) : undefined;
    if (adopted) {
      return {
        stagingDir: adopted.stagingDir,
        reattach: { runId: adopted.runId, logFile: adopted.logFile, what: adopted.jobId ? `Slurm job ${adopted.jobId}` : 'the result of a finished Slurm job' },
      };
    }
    return { stagingDir: await newStagingDir(this.paths, attempt.stageId) };
  }

  async run(job: StageJob, hooks: JobHooks, signal: AbortSignal): Promise<JobOutcome> {
    if (this.storeProblem) return { type: 'failed', reason: 'spawn', message: this.storeProblem, tail: [] };
    if (signal.aborted) return { type: 'failed', reason: 'cancelled', message: 'cancelled', tail: [] };
    this.hookAbort(signal);
    await ensureDirs(this.paths);
    const fingerprint = job.fingerprint;
    const existing = fingerprint ? await readRecord(this.paths, fingerprint) : undefined;
    if (existing && existing.stagingDir === dirname(job.specFile)) {
      // prepareAttempt handed us this job's folder: collect it, never submit it again.
      if (existing.jobId === undefined) return this.collectForgotten(undefined, job);
      return this.follow(existing.jobId, job, hooks, signal, Date.parse(existing.submittedAt) || Date.now(), true);
    }

    const token = newToken();
    const base = describeRecord({
      fingerprint: fingerprint ?? '',
      stageId: job.stageId,
      token,
      stagingDir: dirname(job.specFile),
      specFile: job.specFile,
      resultFile: job.resultFile,
      logFile: job.logFile,
      runId: job.runId,
    });
    // Written before sbatch: if we die during the call, the token finds the job.
    if (fingerprint) await writeRecord(this.paths, base);
    const probe = this.storeSeen ? undefined : await this.storeProbe();
    const request = buildSbatch(job, childEntryArgv(job.specFile), { comment: token, probe });
    const out = await this.run_('sbatch', request.args, { input: request.script, env: { ...job.env, VPT_STAGE_ID: job.stageId } });
    this.submitted++;
    const jobId = out.ok ? parseSbatchId(out.value) : undefined;
    if (!out.ok || jobId === undefined) {
      if (fingerprint) await removeRecord(this.paths, fingerprint);
      const why = out.ok ? `unexpected sbatch output: ${out.value.trim().slice(0, 200)}` : out.error.message;
      return { type: 'failed', reason: 'spawn', message: `sbatch did not take the job: ${why}`, tail: [] };
    }
    if (fingerprint) {
      await writeRecord(this.paths, { ...base, jobId });
      await logSubmission(this.paths, { jobId, fingerprint, stageId: job.stageId });
    }
    return this.follow(jobId, job, hooks, signal, Date.now(), false);
  }

  async close(): Promise<void> {
    this.poller.close();
    // Records whose staging folder is gone were settled by their coordinator.
    for (const r of await listRecords(this.paths)) {
      if (!(await exists(r.stagingDir))) await removeRecord(this.paths, r.fingerprint);
    }
  }

  /** A record from an earlier run whose job (or its result) can still be collected. */
  private async adoptable(record: JobRecord): Promise<JobRecord | undefined> {
    const drop = async (): Promise<undefined> => {
      await rm(record.stagingDir, { recursive: true, force: true });
      await removeRecord(this.paths, record.fingerprint);
      return undefined;
    };
    if (!(await exists(record.specFile))) return drop();
    if (record.jobId !== undefined) return record;
    // The coordinator died between writing the record and learning the job id: look for the token.
    const out = await this.run_('squeue', ['--me', '-h', '-t', 'all', '-o', '%i|%k']);
    if (out.ok) {
      const row = out.value.split('\n').map((l) => l.trim().split('|')).find(([, comment]) => comment === record.token);
      if (row?.[0]) {
        const adopted = { ...record, jobId: row[0] };
        await writeRecord(this.paths, adopted);
        return adopted;
      }
    }
    // Not in the queue: it finished long ago (a result is there) or was never submitted.
    return (await exists(record.resultFile)) ? record : drop();
  }

  private hookAbort(signal: AbortSignal): void {
    if (this.hookedSignals.has(signal)) return;
    this.hookedSignals.add(signal);
    signal.addEventListener(
      'abort',
      () => {
        void this.cancelFollowed();
      },
      { once: true },
    );
  }

  /** Ctrl-C: one `scancel` for the jobs this run follows, and only those. */
  private async cancelFollowed(): Promise<void> {
    const ids = [...this.followed];
    if (ids.length === 0) return;
    await this.run_('scancel', ids);
    this.poller.nudge();
  }

  private follow(jobId: string, job: StageJob, hooks: JobHooks, signal: AbortSignal, since: number, adopted: boolean): Promise<JobOutcome> {
    this.followed.add(jobId);
    if (signal.aborted) void this.run_('scancel', [jobId]);
    const log = new LogFollower(job.logFile);
    let timedOut = false;
    let cancelAsked: number | undefined;
    return new Promise<JobOutcome>((resolve) => {
      let settled = false;
      const settle = (outcome: JobOutcome): void => {
        if (settled) return;
        settled = true;
        stop();
        this.followed.delete(jobId);
        resolve(outcome);
      };
      const onSighting = async (s: JobSighting): Promise<void> => {
        if (settled) return;
        for (const update of await log.poll()) hooks.onProgress(update);
        if (signal.aborted) {
          cancelAsked ??= Date.now();
          if (Date.now() - cancelAsked > CANCEL_WAIT_MS) {
            settle({ type: 'failed', reason: 'cancelled', message: `cancelled (Slurm job ${jobId} did not confirm in time)`, tail: await readTail(job.logFile) });
            return;
          }
        }
        if (s.type === 'error') return; // a busy or restarting controller: ask again next tick
        if (s.type === 'gone') {
          settle(await this.collectForgotten(jobId, job));
          return;
        }
        const { row } = s;
        if (row.state === 'RUNNING' && job.timeoutSeconds !== undefined && row.elapsedSeconds > job.timeoutSeconds && !timedOut) {
          // Slurm's own limit is in whole minutes; ours is the stage's, to the second.
          timedOut = true;
          await this.run_('scancel', [jobId]);
          this.poller.nudge();
          return;
        }
        if (!isTerminal(row.state)) return;
        settle(await this.finished(jobId, row.state, job, { timedOut, cancelled: signal.aborted }));
      };
      const stop = this.poller.watch(jobId, onSighting, adopted ? since : Date.now());
    });
  }

  /** A job in a final state: its outcome, with the log's tail when it failed. */
  private async finished(jobId: string, state: string, job: StageJob, how: { timedOut: boolean; cancelled: boolean }): Promise<JobOutcome> {
    if (state === 'COMPLETED') {
      this.storeSeen = true;
      return { type: 'succeeded' };
    }
    if (await exists(job.resultFile)) this.storeSeen = true;
    const shown = await this.run_('scontrol', ['-o', 'show', 'job', jobId]);
    const details = shown.ok ? parseScontrol(shown.value) : undefined;
    const verdict = verdictOf(jobId, details ?? { state, exitCode: undefined, signal: undefined });
    const tail = await readTail(job.logFile);
    if (how.timedOut && verdict.reason === 'cancelled') {
      return { type: 'failed', reason: 'timeout', message: `timed out after ${job.timeoutSeconds}s (Slurm job ${jobId} cancelled)`, tail };
    }
    if (how.cancelled && verdict.reason === 'cancelled') return { type: 'failed', reason: 'cancelled', message: 'cancelled', tail };
    if (verdict.exitCode === STORE_INVISIBLE_EXIT && !(await exists(job.resultFile))) {
      this.storeProblem = `Slurm job ${jobId} on ${details?.nodes || 'its node'} could not see the workspace store ${join(this.opts.workspace, '.vpt')}: put the workspace on a filesystem shared by this machine and the compute nodes`;
      return { type: 'failed', reason: 'spawn', message: this.storeProblem, tail };
    }
    const noLog = !(await exists(job.logFile)) ? ` (no log file appeared at ${job.logFile}: can the node write to the workspace?)` : '';
    return {
      type: 'failed',
      reason: verdict.reason,
      ...(verdict.exitCode !== undefined ? { exitCode: verdict.exitCode } : {}),
      ...(verdict.signal !== undefined ? { signal: verdict.signal } : {}),
      message: `${verdict.message}${noLog}`,
      tail,
    };
  }

  /** Slurm no longer knows the job (purged after MinJobAge, or a restart): accounting, else the result file. */
  private async collectForgotten(jobId: string | undefined, job: StageJob): Promise<JobOutcome> {
    if (jobId !== undefined && (await this.hasAccounting())) {
      const out = await this.run_('sacct', ['-n', '-P', '-X', '-o', 'State,ExitCode', '-j', jobId]);
      const row = out.ok ? parseSacct(out.value) : undefined;
      if (row && isTerminal(row.state)) return this.finishedFromAccounting(jobId, row, job);
    }
    const result = await readResult(job.resultFile);
    const tail = await readTail(job.logFile);
    const which = jobId ? `Slurm job ${jobId}` : 'the Slurm job';
    if (result?.ok) {
      this.storeSeen = true;
      return { type: 'succeeded' };
    }
    if (result) return { type: 'failed', reason: 'exit', message: result.error ?? `${which} failed`, tail };
    return { type: 'failed', reason: 'lost', message: `${which} is no longer known to Slurm and left no result`, tail };
  }

  private async finishedFromAccounting(jobId: string, row: NonNullable<ReturnType<typeof parseSacct>>, job: StageJob): Promise<JobOutcome> {
    const verdict = verdictOf(jobId, row);
    if (verdict.ok) return { type: 'succeeded' };
    return {
      type: 'failed',
      reason: verdict.reason,
      ...(verdict.exitCode !== undefined ? { exitCode: verdict.exitCode } : {}),
      ...(verdict.signal !== undefined ? { signal: verdict.signal } : {}),
      message: verdict.message,
      tail: await readTail(job.logFile),
    };
  }

  private hasAccounting(): Promise<boolean> {
    this.accounting ??= this.run_('scontrol', ['show', 'config']).then((out) => out.ok && !/AccountingStorageType\s*=\s*accounting_storage\/none/.test(out.value));
    return this.accounting;
  }

  /** `.vpt/slurm/probe`: a nonce file every job checks before starting, until one proved it sees it. */
  private storeProbe(): Promise<StoreProbe> {
    this.probe ??= (async () => {
      const file = join(this.paths.root, 'probe');
      const current = await readFile(file, 'utf8').catch(() => undefined);
      // One nonce per workspace: jobs still queued from an earlier run check the same file.
      if (current !== undefined && /^[0-9a-f]{32}$/.test(current)) return { file, nonce: current };
      const nonce = randomBytes(16).toString('hex');
      await writeFile(file, nonce);
      return { file, nonce };
    })();
    return this.probe;
  }
}

async function readResult(path: string): Promise<StageOutcomeFile | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as StageOutcomeFile;
  } catch {
    return undefined;
  }
}
