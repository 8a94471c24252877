/** The door to execution: one run of a pipeline, the scheduler beneath it, executors and events. */
export { runPipeline, checkPlanReady, type RunPipelineOptions, type RunPipelineError } from './run-pipeline.js';
export { executePlan, type Capacity, type ExecuteOptions } from './coordinator.js';
export { LocalExecutor } from './local.js';
export { LockUpdater } from './lock-updater.js';
export type { Executor, StageJob, JobOutcome, JobHooks, FailureReason } from './executor.js';
export type { RunEvent, RunSummary, SkipCause, EmitEvent } from './events.js';
