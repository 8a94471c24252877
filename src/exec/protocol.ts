/**
 * The one way a stage runs: the coordinator writes a StageSpec file, a child process
 * (`child.ts`) executes it and writes a StageOutcomeFile; progress travels as marked lines on
 * stdout, so the same protocol works through a pipe (local) and through a log file (Slurm).
 */
import type { ProgressUpdate, StageRunResult } from '../stages/kind.js';

export interface StageSpecFile {
  readonly version: 1;
  readonly stageId: string;
  readonly workspace: string;
  /** Absolute staging paths by output name; the child writes only there. */
  readonly outputs: Readonly<Record<string, string>>;
  readonly checkpointDir: string;
  readonly backend: string | undefined;
  /** Where the child writes its StageOutcomeFile. */
  readonly resultFile: string;
  /** Exit when the coordinator dies (local runs); off under a batch scheduler. */
  readonly watchParent: boolean;
  readonly task:
    | { readonly type: 'builtin'; readonly uses: string; readonly params: Readonly<Record<string, unknown>> }
    | { readonly type: 'command'; readonly command: readonly string[] | string; readonly shell: boolean };
}

export interface StageOutcomeFile {
  readonly ok: boolean;
  readonly result?: StageRunResult;
  readonly error?: string;
}

export type ChildMessage =
  | { readonly type: 'progress'; readonly update: ProgressUpdate }
  | { readonly type: 'heartbeat' };

const MARK = '::vpt::';

export function encodeChildMessage(message: ChildMessage): string {
  return `${MARK}${JSON.stringify(message)}\n`;
}

/** Returns the message a line carries, or undefined for an ordinary log line. */
export function decodeChildMessage(line: string): ChildMessage | undefined {
  if (!line.startsWith(MARK)) return undefined;
  try {
    return JSON.parse(line.slice(MARK.length)) as ChildMessage;
  } catch {
    return undefined;
  }
}

export function isProtocolLine(line: string): boolean {
  return line.startsWith(MARK);
}
