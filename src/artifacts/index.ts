/**
 * The door to the files one stage family writes and another reads, each typed and versioned,
 * writer and reader side by side: a training run's metrics.json and predictions, analysis.fid's
 * fid.json, analysis.quadrants' quadrants.json, the grid point and the test images one stage
 * selects for another, and the lock as stages read it. Task shards and task.json live in
 * src/io/shards.ts (re-exported here).
 */
export { RUN_METRICS_FORMAT, writeRunMetrics, parseRunMetrics, readRunMetrics, type RunMetrics, type EpochMetrics, type SplitEval, type RunCompute } from './run-metrics.js';
export { SKIPPED_RUN_FORMAT, writeSkippedRun, parseSkippedRun, type SkippedRun } from './skipped-run.js';
export { readLockStages, parseLockStages, type LockedStage } from './lock.js';
export { artifactError, formatArtifactError, type ArtifactError } from './errors.js';
export { readTaskMeta, writeSplit, loadSplit, type TaskMeta } from '../io/shards.js';
export { FID_FORMAT, writeFidJson, parseFidSummary, readFidSummary, type FidRecord, type FidSummary } from './fid-results.js';
export { QUADRANTS_FORMAT, writeQuadrantsJson, parseQuadrants, readQuadrants, type QuadrantTable, type QuadrantRow, type QuadrantInput, type Disparity, type Similarity } from './quadrants.js';
export { PREDICTIONS_FORMAT, writePredictions, parsePredictionsFile, readPredictionsFile, type PredictionsFile, type PredictionItem } from './predictions.js';
export {
  GRID_SELECTION_FORMAT, IMAGE_SELECTION_FORMAT, writeSelection, readGridSelection, readImageSelection,
  type GridSelection, type GridCandidate, type ImageSelection, type SelectedImage,
} from './selections.js';
export { ATTRIBUTION_FORMAT, writeAttribution, readAttribution, type AttributionSummary } from './attribution.js';
