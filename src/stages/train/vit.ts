/**
 * `train.vit`: one training run (a grid point or a final run) of one method on one task.
 * Heavy modules (TensorFlow.js) load inside `run` only.
 */
import { defaultWorkers } from '../../ml/backend-name.js';
import { defineKind, type StageContext, type StageRunResult } from '../kind.js';
import { METHODS, type Method } from '../../ml/methods.js';
import { modelParamSchema, TRAIN_TOLERANCES, type ModelParam } from './common.js';

export interface TrainVitParams {
  /** Task folder (task.json + split shards), workspace-relative. */
  readonly data: string;
  readonly trainSplit?: string;
  /** Evaluated after every epoch; default [valSplit, testSplit]. */
  readonly evalSplits?: readonly string[];
  /** Split whose last-epoch top-1 selects hyper-parameters (default val200). */
  readonly valSplit?: string;
  /** Split whose per-image predictions are written (default test). */
  readonly testSplit?: string;
  readonly method: Method;
  readonly epochs?: number;
  readonly warmup?: number;
  readonly batch?: number;
  readonly evalBatch?: number;
  readonly baseLr?: number;
  readonly weightDecay?: number;
  readonly seed?: number;
  /**
   * Data-parallel shards per training batch (the main thread plus workers - 1 worker threads).
   * Default 2 on the wasm and cpu backends, 1 on tfjs-node. Results differ slightly between
   * values, so it is part of the stage's fingerprint when given and of the checkpoint's run key.
   */
  readonly workers?: number;
  readonly promptLength?: number;
  readonly promptDropout?: number;
  readonly model?: ModelParam;
  /** Pretrained weights: a ViT `.npz` (google-research naming) or a `vpt-vit` safetensors model. */
  readonly init?: string;
  /** JSON written by train.select; its baseLr/weightDecay override the ones here. */
  readonly hparams?: string;
  /**
   * What to do when the task has no `trainSplit` (a data-size variant the data stage skipped for lack
   * of images): `fail` (default), or `skip`: write skipped-run documents as the outputs, with the reason.
   */
  readonly ifSplitMissing?: 'fail' | 'skip';
  /** FT phase of ft-then-pt. */
  readonly ft?: { readonly epochs?: number; readonly warmup?: number; readonly baseLr?: number; readonly weightDecay?: number };
}

export const trainVit = defineKind<TrainVitParams>({
  name: 'train.vit',
  module: import.meta.url,
  // 2: data-parallel training steps (the `workers` setting, default 2 on wasm/cpu).
  version: 2,
  description: 'Train a ViT on one task with one method (linear, ft, vpt-shallow, vpt-deep, mixed, ft-then-pt); per-epoch curves, checkpoint/resume every epoch',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['data', 'method'],
    properties: {
      data: { type: 'string' },
      trainSplit: { type: 'string' },
      evalSplits: { type: 'array', items: { type: 'string' } },
      valSplit: { type: 'string' },
      testSplit: { type: 'string' },
      method: { type: 'string', enum: [...METHODS] },
      epochs: { type: 'integer', minimum: 1 },
      warmup: { type: 'integer', minimum: 0 },
      batch: { type: 'integer', minimum: 1 },
      evalBatch: { type: 'integer', minimum: 1 },
      baseLr: { type: 'number', exclusiveMinimum: 0 },
      weightDecay: { type: 'number', minimum: 0 },
      seed: { type: 'integer' },
      workers: { type: 'integer', minimum: 1, maximum: 64 },
      promptLength: { type: 'integer', minimum: 1 },
      promptDropout: { type: 'number', minimum: 0, exclusiveMaximum: 1 },
      model: modelParamSchema,
      init: { type: 'string' },
      hparams: { type: 'string' },
      ifSplitMissing: { enum: ['fail', 'skip'] },
      ft: {
        type: 'object', additionalProperties: false,
        properties: { epochs: { type: 'integer', minimum: 0 }, warmup: { type: 'integer', minimum: 0 }, baseLr: { type: 'number', exclusiveMinimum: 0 }, weightDecay: { type: 'number', minimum: 0 } },
      },
    },
  },
  outputs: () => ['model', 'metrics', 'predictions'],
  resources: { cpu: 2, memoryMiB: 4096 },
  tolerances: TRAIN_TOLERANCES,
  // defaultWorkers() of src/ml/parallel on wasm and cpu (not imported: kinds stay free of tfjs).
  threads: (p: TrainVitParams) => p.workers ?? 2,
  resolveParams: (p: TrainVitParams, env) => (p.workers !== undefined ? p : { ...p, workers: defaultWorkers(env.backend) }),
  async run(ctx: StageContext<TrainVitParams>): Promise<StageRunResult> {
    const { runTrainVit } = await import('./runVit.js');
    return runTrainVit(ctx);
  },
});
