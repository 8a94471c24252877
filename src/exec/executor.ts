import type { Resources, SlurmSettings } from '../dsl/model.js';
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
  /** The stage's fingerprint: a batch executor keys its job records by it (never submit twice). */
  readonly fingerprint?: string;
  /** Scheduler placement for the Slurm executor; ignored locally. */
  readonly slurm?: SlurmSettings;
}

/** Where an attempt stages its files; `reattach` when a job of an earlier run already works there. */
export interface AttemptPlacement {
  readonly stagingDir: string;
  readonly reattach?: {
    readonly runId: string;
    readonly logFile: string;
    /** Shown to the user, e.g. `Slurm job 42`. */
    readonly what: string;
  };
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
  /**
   * Optional: choose the staging folder of an attempt (default: a fresh one in the store's tmp/).
   * A batch executor returns the folder of a job an earlier, dead coordinator submitted for the
   * same fingerprint, so this run collects that job instead of submitting another.
   */
  prepareAttempt?(attempt: { readonly stageId: string; readonly fingerprint: string }): Promise<AttemptPlacement | undefined>;
  /** Called once when the run ends, e.g. to stop pollers. */
  close?(): Promise<void>;
}
