/**
 * The door to the files one stage family writes and another reads, each typed and versioned,
 * writer and reader side by side: a training run's metrics.json, analysis.fid's fid.json,
 * analysis.quadrants' quadrants.json and the lock as stages read it. Task shards and task.json
 * are in src/io/shards.ts (re-exported here). Still outside: predictions and image selections.
 */
export { RUN_METRICS_FORMAT, writeRunMetrics, parseRunMetrics, readRunMetrics, type RunMetrics, type EpochMetrics, type SplitEval, type RunCompute } from './run-metrics.js';
export { readLockStages, parseLockStages, type LockedStage } from './lock.js';
export { artifactError, formatArtifactError, type ArtifactError } from './errors.js';
export { readTaskMeta, writeSplit, loadSplit, type TaskMeta } from '../io/shards.js';
export { FID_FORMAT, writeFidJson, parseFidSummary, readFidSummary, type FidRecord, type FidSummary } from './fid-results.js';
export { QUADRANTS_FORMAT, writeQuadrantsJson, parseQuadrants, readQuadrants, type QuadrantTable, type QuadrantRow, type QuadrantInput, type Disparity, type Similarity } from './quadrants.js';
