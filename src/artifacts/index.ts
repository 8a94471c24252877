/**
 * The door to the files one stage family writes and another reads, each typed and versioned,
 * writer and reader side by side. So far: a training run's metrics.json, and the lock as the
 * report reads it. Task shards and task.json are in src/io/shards.ts (re-exported here).
 */
export { RUN_METRICS_FORMAT, writeRunMetrics, parseRunMetrics, readRunMetrics, type RunMetrics, type EpochMetrics, type SplitEval, type RunCompute } from './run-metrics.js';
export { readLockStages, parseLockStages, type LockedStage } from './lock.js';
export { artifactError, formatArtifactError, type ArtifactError } from './errors.js';
export { readTaskMeta, writeSplit, loadSplit, type TaskMeta } from '../io/shards.js';
