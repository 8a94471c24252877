import type { Resources } from '../dsl/model.js';
import type { ProgressUpdate } from '../stages/kind.js';

/** One stage attempt, ready to run: its spec file is written, its log file chosen. */
export interface StageJob {
  readonly stageId: string;
  /** Unique per attempt; names the log and the staging folder. */
  readonly runId: string;
  readonly specFile: string;
  readonly resultFile: string;
  readonly logFile: string;
  readonly workspace: string;
  readonly env: Readonly<Record<string, string>>;
  readonly resources: Resources;
  readonly timeoutSeconds: number | undefined;
}

export type FailureReason = 'exit' | 'timeout' | 'cancelled' | 'oom' | 'lost' | 'spawn';

export type JobOutcome =
  | { readonly type: 'succeeded' }
  | {
      readonly type: 'failed';
      readonly reason: FailureReason;
      readonly exitCode?: number;
      readonly signal?: string;
      readonly message: string;
      /** Last lines of the stage's output, for the failure report. */
      readonly tail: readonly string[];
    };

export interface JobHooks {
  onProgress(update: ProgressUpdate): void;
}

/** Runs the child-process entry point for a job somewhere (here, or on a cluster). */
export interface Executor {
  readonly name: string;
  run(job: StageJob, hooks: JobHooks, signal: AbortSignal): Promise<JobOutcome>;
  /** Called once when the run ends, e.g. to stop pollers. */
  close?(): Promise<void>;
}
