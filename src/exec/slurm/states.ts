/**
 * Slurm job states and what they mean for an attempt. Pure parsing of `squeue` and `scontrol`
 * output, so the mapping is tested without a cluster.
 */
import type { FailureReason } from '../executor.js';

/** One row of `squeue -h -t all -o '%i|%T|%M|%r'`. */
export interface QueueRow {
  readonly jobId: string;
  readonly state: string;
  /** Seconds the job has run so far (0 while pending). */
  readonly elapsedSeconds: number;
  readonly reason: string;
}

export const SQUEUE_FORMAT = '%i|%T|%M|%r';

/** Still queued or running: the result is not there yet. Unknown states count as active (wait). */
export function isActive(state: string): boolean {
  return !TERMINAL.has(state);
}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL', 'BOOT_FAIL', 'DEADLINE', 'PREEMPTED', 'REVOKED']);

export function isTerminal(state: string): boolean {
  return TERMINAL.has(state);
}

export function parseQueue(stdout: string): Map<string, QueueRow> {
  const rows = new Map<string, QueueRow>();
  for (const line of stdout.split('\n')) {
    const [jobId, state, elapsed, reason] = line.trim().split('|');
    if (!jobId || !state) continue;
    // `CANCELLED by 0` appears in some versions' %T: the first word is the state.
    rows.set(jobId, { jobId, state: state.split(' ')[0] ?? state, elapsedSeconds: parseElapsed(elapsed ?? ''), reason: reason ?? '' });
  }
  return rows;
}

/** squeue's %M: `M:SS`, `H:MM:SS` or `D-HH:MM:SS`; 0 for anything else (e.g. `INVALID`). */
export function parseElapsed(text: string): number {
  const m = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$/.exec(text.trim());
  if (!m) return 0;
  const [, d, h, min, s] = m;
  return Number(d ?? 0) * 86400 + Number(h ?? 0) * 3600 + Number(min) * 60 + Number(s);
}

/** The fields of `scontrol -o show job N` we use. */
export interface JobDetails {
  readonly state: string;
  readonly reason: string;
  readonly exitCode: number | undefined;
  readonly signal: number | undefined;
  readonly nodes: string;
}

export function parseScontrol(stdout: string): JobDetails | undefined {
  const field = (name: string): string | undefined => new RegExp(`(?:^|\\s)${name}=(\\S*)`).exec(stdout)?.[1];
  const state = field('JobState');
  if (state === undefined) return undefined;
  const exit = /^(\d+):(\d+)$/.exec(field('ExitCode') ?? '');
  return {
    state,
    reason: field('Reason') ?? '',
    exitCode: exit ? Number(exit[1]) : undefined,
    signal: exit && Number(exit[2]) > 0 ? Number(exit[2]) : undefined,
    nodes: field('NodeList') ?? '',
  };
}

/** `sacct -n -P -X -o State,ExitCode -j N` (clusters with accounting): first line. */
export function parseSacct(stdout: string): Pick<JobDetails, 'state' | 'exitCode' | 'signal'> | undefined {
  const [state, exit] = (stdout.trim().split('\n')[0] ?? '').split('|');
  if (!state) return undefined;
  const m = /^(\d+):(\d+)$/.exec(exit ?? '');
  return { state: state.split(' ')[0] ?? state, exitCode: m ? Number(m[1]) : undefined, signal: m && Number(m[2]) > 0 ? Number(m[2]) : undefined };
}

export interface TerminalVerdict {
  readonly ok: boolean;
  readonly reason: FailureReason;
  readonly message: string;
  readonly exitCode?: number;
  readonly signal?: string;
}

const SIGNALS: Readonly<Record<number, string>> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM' };

/** What a finished job's state means for the attempt. */
export function verdictOf(jobId: string, d: Pick<JobDetails, 'state' | 'exitCode' | 'signal'> & { reason?: string }): TerminalVerdict {
  const signal = d.signal !== undefined ? (SIGNALS[d.signal] ?? `signal ${d.signal}`) : undefined;
  const extra = { ...(d.exitCode !== undefined ? { exitCode: d.exitCode } : {}), ...(signal ? { signal } : {}) };
  switch (d.state) {
    case 'COMPLETED':
      return { ok: true, reason: 'exit', message: `Slurm job ${jobId} completed`, ...extra };
    case 'FAILED':
      return {
        ok: false,
        reason: 'exit',
        message: signal ? `Slurm job ${jobId} killed by ${signal}` : `Slurm job ${jobId} exited with code ${d.exitCode ?? 'unknown'}`,
        ...extra,
      };
    case 'CANCELLED':
      return { ok: false, reason: 'cancelled', message: `Slurm job ${jobId} was cancelled`, ...extra };
    case 'TIMEOUT':
    case 'DEADLINE':
      return { ok: false, reason: 'timeout', message: `Slurm job ${jobId} hit its time limit`, ...extra };
    case 'OUT_OF_MEMORY':
      return { ok: false, reason: 'oom', message: `Slurm job ${jobId} ran out of memory (raise resources.memory)`, ...extra };
    default:
      // NODE_FAIL, BOOT_FAIL, PREEMPTED, REVOKED: the job did not get to finish; running it again may work.
      return { ok: false, reason: 'lost', message: `Slurm job ${jobId} ended ${d.state}${d.reason ? ` (${d.reason})` : ''}`, ...extra };
  }
}
