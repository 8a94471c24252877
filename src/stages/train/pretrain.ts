/**
 * `train.pretrain`: supervised training of the small ViT from scratch on the mini suite's
 * pretraining source task; its `model` output is the checkpoint the mini study starts from
 * (`train.vit` with `init:` pointing at it takes the backbone, not the head).
 * It is FT from a random init: AdamW, warm-up + cosine, all weights train, no prompts.
 */
import { defaultWorkers } from '../../ml/backend-name.js';
import { defineKind, type StageContext, type StageRunResult } from '../kind.js';
import { modelParamSchema, TRAIN_TOLERANCES, type ModelParam } from './common.js';

export interface PretrainParams {
  readonly data: string;
  readonly trainSplit?: string;
  /** Evaluated every epoch (e.g. a held-out split); default none. */
  readonly evalSplits?: readonly string[];
  readonly model?: ModelParam;
  readonly epochs?: number;
  readonly warmup?: number;
  readonly batch?: number;
  readonly evalBatch?: number;
  readonly baseLr?: number;
  readonly weightDecay?: number;
  readonly seed?: number;
  /** Data-parallel shards per batch, as in `train.vit`. */
  readonly workers?: number;
}

export const trainPretrain = defineKind<PretrainParams>({
  name: 'train.pretrain',
  module: import.meta.url,
  // 2: data-parallel training steps (the `workers` setting, default 2 on wasm/cpu).
  version: 2,
  description: 'Pretrain the small ViT from scratch (supervised) on the source task; outputs the starting checkpoint',
  paramsSchema: {
    type: 'object', additionalProperties: false, required: ['data'],
    properties: {
      data: { type: 'string' }, trainSplit: { type: 'string' }, evalSplits: { type: 'array', items: { type: 'string' } },
      model: modelParamSchema, epochs: { type: 'integer', minimum: 1 }, warmup: { type: 'integer', minimum: 0 },
      batch: { type: 'integer', minimum: 1 }, evalBatch: { type: 'integer', minimum: 1 }, baseLr: { type: 'number', exclusiveMinimum: 0 },
      weightDecay: { type: 'number', minimum: 0 }, seed: { type: 'integer' }, workers: { type: 'integer', minimum: 1, maximum: 64 },
    },
  },
  outputs: () => ['model', 'metrics'],
  resources: { cpu: 2, memoryMiB: 4096 },
  tolerances: TRAIN_TOLERANCES,
  // defaultWorkers() of src/ml/parallel on wasm and cpu (not imported: kinds stay free of tfjs).
  threads: (p: PretrainParams) => p.workers ?? 2,
  resolveParams: (p: PretrainParams, env) => (p.workers !== undefined ? p : { ...p, workers: defaultWorkers(env.backend) }),
  async run(ctx: StageContext<PretrainParams>): Promise<StageRunResult> {
    const { runTraining } = await import('./runVit.js');
    const p = ctx.params;
    const evalSplits = p.evalSplits ?? [];
    const inner = {
      ...ctx,
      params: {
        data: p.data, method: 'ft' as const, epochs: p.epochs ?? 30, warmup: p.warmup ?? 3, batch: p.batch ?? 128, baseLr: p.baseLr ?? 0.001,
        weightDecay: p.weightDecay ?? 0.05, ...(p.model !== undefined ? { model: p.model } : {}), ...(p.seed !== undefined ? { seed: p.seed } : {}),
        ...(p.evalBatch !== undefined ? { evalBatch: p.evalBatch } : {}), ...(p.workers !== undefined ? { workers: p.workers } : {}),
      },
    };
    return runTraining(inner, { method: 'ft', trainSplit: p.trainSplit ?? 'train', evalSplits, valSplit: evalSplits[0], testSplit: evalSplits[1], writePredictions: false });
  },
});
