/** The training family: train.vit, train.select, train.aggregate, train.pretrain, train.import. */
import type { StageKind } from '../kind.js';
import { trainAggregate } from './aggregate.js';
import { trainImport } from './import.js';
import { trainPretrain } from './pretrain.js';
import { trainSelect } from './select.js';
import { trainVit } from './vit.js';

export { trainVit, type TrainVitParams } from './vit.js';
export { trainSelect, pickBest, type SelectParams, type Candidate } from './select.js';
export { trainAggregate, aggregateRuns, meanStd, rowsToCsv, type AggregateParams, type AggregateRow, type RunSummary } from './aggregate.js';
export { trainPretrain, type PretrainParams } from './pretrain.js';
export { trainImport, type ImportParams } from './import.js';

export const trainKinds: readonly StageKind<never>[] = [trainVit, trainSelect, trainAggregate, trainPretrain, trainImport] as unknown as readonly StageKind<never>[];
