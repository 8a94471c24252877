import type { Reason } from '../plan/reasons.js';
import type { ProgressUpdate } from '../stages/kind.js';
import type { FailureReason } from './executor.js';

/** Everything a run reports. Renderers (listr2, plain lines, JSON lines) are switches over `type`. */
export type RunEvent =
  | { readonly type: 'run-start'; readonly pipeline: string; readonly total: number; readonly toRun: number; readonly jobs: number; readonly executor: string }
  | { readonly type: 'stage-fresh'; readonly id: string }
  | { readonly type: 'stage-restored'; readonly id: string; readonly reasons: readonly Reason[] }
  | { readonly type: 'stage-start'; readonly id: string; readonly attempt: number; readonly attempts: number; readonly reasons: readonly Reason[]; readonly logFile: string }
  | { readonly type: 'stage-progress'; readonly id: string; readonly update: ProgressUpdate }
  | { readonly type: 'stage-succeeded'; readonly id: string; readonly durationMs: number; readonly metrics: Readonly<Record<string, number>> }
  | {
      readonly type: 'stage-failed';
      readonly id: string;
      readonly attempt: number;
      readonly willRetry: boolean;
      readonly reason: FailureReason | 'missing-output' | 'store';
      readonly message: string;
      readonly tail: readonly string[];
      readonly logFile: string | undefined;
    }
  | { readonly type: 'stage-skipped'; readonly id: string; readonly because: string; readonly cause: SkipCause }
  | { readonly type: 'warning'; readonly message: string }
  | { readonly type: 'run-end'; readonly summary: RunSummary };

/**
 * Why a stage did not run. `upstream-failed` names the failed stage at the root of the chain, so
 * renderers can say "113 stages not run because prep failed" in one line.
 */
export type SkipCause =
  | { readonly type: 'upstream-failed'; readonly failed: string }
  | { readonly type: 'stopped' }
  | { readonly type: 'cancelled' };

export interface RunSummary {
  readonly ran: number;
  readonly restored: number;
  readonly fresh: number;
  readonly failed: number;
  readonly skipped: number;
  readonly cancelled: boolean;
  readonly durationMs: number;
}

export type EmitEvent = (event: RunEvent) => void;
