/**
 * Process liveness, as precise as Linux allows. `kill -0` alone is not enough here: on these
 * machines PID 1 reaps late, so a dead process lingers as a zombie that `kill -0` reports alive,
 * and pids get reused. /proc/<pid>/stat gives both the state (Z/X = dead) and the start time.
 */
import { readFileSync } from 'node:fs';

export interface ProcStat {
  /** One-letter state: R, S, D, Z, X, ... */
  readonly state: string;
  /** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot (a string: it may exceed 2^53 in theory). */
  readonly startTicks: string;
}

/** undefined when the process does not exist or /proc is unavailable. */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may itself contain spaces or ')': split after the LAST ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).trim().split(' ');
  const state = fields[0];
  const startTicks = fields[19];
  if (state === undefined || startTicks === undefined) return undefined;
  return { state, startTicks };
}

let hasProcCache: boolean | undefined;
function hasProc(): boolean {
  hasProcCache ??= readProcStat(process.pid) !== undefined;
  return hasProcCache;
}

/** This process's start time in ticks, or '0' where /proc is unavailable. */
export function selfStartTicks(): string {
  return readProcStat(process.pid)?.startTicks ?? '0';
}

export type Liveness = 'alive' | 'dead' | 'zombie' | 'reused';

/**
 * Whether `pid` (on this host) is still the process that recorded `startTicks`.
 * Without /proc we fall back to `kill -0` (ESRCH = dead, EPERM = alive but not ours).
 */
export function processLiveness(pid: number, startTicks?: string): Liveness {
  if (!Number.isInteger(pid) || pid <= 0) return 'dead';
  if (hasProc()) {
    const st = readProcStat(pid);
    if (st === undefined) return 'dead';
    if (st.state === 'Z' || st.state === 'X' || st.state === 'x') return 'zombie';
    if (startTicks !== undefined && startTicks !== '0' && st.startTicks !== startTicks) return 'reused';
    return 'alive';
  }
  try {
    process.kill(pid, 0);
    return 'alive';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? 'alive' : 'dead';
  }
}
