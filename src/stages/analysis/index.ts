/** Analysis stage kinds (FID, quadrants, image selection, attribution) and their readers. */
import { attributionKind } from './attribution-kind.js';
import { fidKind } from './fid-kind.js';
import { quadrantsKind } from './quadrants-kind.js';
import { selectImagesKind } from './select-kind.js';

export { fidKind, type FidParams, type FidRecord, type FidSummary, type FeatureSource } from './fid-kind.js';
export { quadrantsKind, readFidSummaries, type QuadrantParams } from './quadrants-kind.js';
export { selectImagesKind, type SelectParams } from './select-kind.js';
export { attributionKind, type AttributionParams, type AttributionImageRecord } from './attribution-kind.js';
export { combineRepeats, referenceSamples, sampleStd, DEFAULT_SUBSAMPLE_FRACTION, type RepeatFid, type CombinedFid, type ReferenceSamples } from './fid-repeats.js';
export { placeQuadrants, quadrantCsv, quadrantMarkdown, quadrantName, median, UNCERTAIN_STDS, type QuadrantInput, type QuadrantRow, type QuadrantTable, type Disparity, type Similarity } from './quadrants.js';
export { selectImages, type Selection } from './select.js';
export { parseMetrics, readRun, sizeFromSplit, isOneShotSplit, parsePredictions, readPredictions, type RunRecord, type RunRef, type EpochPoint, type Predictions, type RunReadError } from './runs.js';
export { AnalysisStageError } from './common.js';

export const analysisKinds = [fidKind, quadrantsKind, selectImagesKind, attributionKind] as const;
