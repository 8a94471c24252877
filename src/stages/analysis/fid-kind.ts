/**
 * `analysis.fid`: FID of each task's images against the pretraining data, from either the
 * pretrained ViT (CLS or mean-pooled patch tokens of the tapped last-block input) or an
 * Inception-v3 TensorFlow.js graph model on disk. Writes `<out>/fid.json` (all tasks) and
 * `<out>/<task>/fid.json`.
 */
import { mkdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs-core';
import { FID_FORMAT, writeFidJson, type FidRecord, type FidSummary } from '../../artifacts/index.js';
import { graphModelProblems, inspectGraphModelJson } from '../../ml/analysis/graph-model-json.js';
import { defineKind, type StageContext, type StageRunResult } from '../kind.js';
import { AnalysisStageError, expandTaskDirs, pathParam, safeName, writeJsonFile } from './common.js';
import type { FeatureStats, FidResult } from '../../ml/analysis/index.js';
import type { SplitData } from '../../io/shards.js';

export type FeatureSource =
  | {
      readonly source: 'inception';
      readonly model: string;
      readonly inputSize?: readonly [number, number];
      readonly inputRange?: readonly [number, number];
      readonly outputNode?: string;
      /** Features per image the network must give (Inception-v3 pool_3: 2048). */
      readonly width?: number;
    }
  | { readonly source: 'backbone'; readonly model: string; readonly pooling?: 'cls' | 'mean-patch' };

/** The standard FID network: Inception-v3 (2015-12-05 graph), 299x299 RGB in, pool_3 (2048) out. */
const INCEPTION_INPUT: readonly [number, number] = [299, 299];
const INCEPTION_WIDTH = 2048;

export interface FidParams {
  /** Task folder of the pretraining data (the reference set). */
  readonly reference: string;
  readonly referenceSplit?: string;
  /** Downstream task folders, or folders of task folders (e.g. a data stage's `tasks` output; the reference is left out). */
  readonly tasks: readonly string[];
  readonly split?: string;
  readonly features: FeatureSource;
  /** Cap per set (a seeded random subset); default all. */
  readonly maxImages?: number;
  readonly batchSize?: number;
  /** Singular-covariance offset; default 1e-6. */
  readonly eps?: number;
}

export type { FidRecord, FidSummary } from '../../artifacts/index.js';

type Extractor = { readonly describe: string; extract(images: tfTypes.Tensor4D, meta: SplitData['meta']): Float32Array; dim?: number };

async function makeExtractor(ctx: StageContext<FidParams>, f: FeatureSource): Promise<Extractor> {
  const tf = await import('@tensorflow/tfjs-core');
  const path = pathParam(ctx, f.model);
  if (f.source === 'inception') {
    const { loadGraphModelFile, graphModelFeatures } = await import('../../ml/analysis/index.js');
    const model = await loadGraphModelFile(path);
    if (!model.ok) throw new AnalysisStageError(model.error.reason, model.error.message, path);
    const inputSize = f.inputSize ?? INCEPTION_INPUT;
    const inputRange = f.inputRange ?? [-1, 1];
    const width = f.width ?? INCEPTION_WIDTH;
    return {
      describe: `inception graph model ${f.model} (${inputSize.join('x')}, range [${inputRange.join(', ')}]${f.outputNode ? `, node ${f.outputNode}` : ''})`,
      extract(images, meta) {
        const x01 = tf.tidy(() => toUnitRange(tf, images, meta));
        const r = graphModelFeatures(model.value, x01, { inputSize, inputRange, ...(f.outputNode ? { outputNode: f.outputNode } : {}) }, path);
        x01.dispose();
        if (!r.ok) throw new AnalysisStageError(r.error.reason, r.error.message, path);
        // The file's signature may not say; the first batch does. Another width is another network.
        if (r.value.dim !== width) {
          throw new AnalysisStageError('bad-output', `the FID network gives ${r.value.dim} features per image, not ${width} (Inception-v3 pool_3 gives 2048; set features.width for another network)`, path);
        }
        return r.value.features;
      },
    };
  }
  const ml = await import('../../ml/index.js');
  const vit = await ml.loadTrainedModel(path);
  if (!vit.ok) throw new AnalysisStageError(vit.error.reason, vit.error.message, path);
  const model = vit.value;
  const pooling = f.pooling ?? 'cls';
  const layout = model.tokenLayout();
  return {
    describe: `backbone ${f.model} (${pooling === 'cls' ? 'CLS token' : 'mean of patch tokens'} of the last block's pre-attention LayerNorm output)`,
    extract(images) {
      let captured: tfTypes.Tensor2D | undefined;
      const x = images.shape[1] === model.config.imageSize && images.shape[2] === model.config.imageSize
        ? images
        : tf.image.resizeBilinear(images, [model.config.imageSize, model.config.imageSize]);
      tf.tidy(() => {
        model.forwardWithTap(x, {
          training: false,
          tap: (a) => {
            const feat = pooling === 'cls'
              ? tf.reshape(tf.slice(a, [0, 0, 0], [-1, 1, -1]), [a.shape[0], a.shape[2]])
              : tf.mean(tf.slice(a, [0, layout.patchStart, 0], [-1, layout.gridH * layout.gridW, -1]), 1);
            captured = tf.keep(feat as tfTypes.Tensor2D);
            return a;
          },
        });
      });
      if (x !== images) x.dispose();
      if (!captured) throw new AnalysisStageError('no-tap', 'the ViT did not call the tap');
      const out = Float32Array.from(captured.dataSync());
      captured.dispose();
      return out;
    },
  };
}

/** Normalised pixels back to [0, 1] with the task's mean/std. */
function toUnitRange(tf: typeof tfTypes, images: tfTypes.Tensor4D, meta: SplitData['meta']): tfTypes.Tensor4D {
  const c = images.shape[3];
  const mean = tf.tensor1d(meta.normalization.mean.slice(0, c).concat(Array(Math.max(0, c - meta.normalization.mean.length)).fill(0)));
  const std = tf.tensor1d(meta.normalization.std.slice(0, c).concat(Array(Math.max(0, c - meta.normalization.std.length)).fill(1)));
  return tf.clipByValue(tf.add(tf.mul(images, std), mean), 0, 1) as tfTypes.Tensor4D;
}

async function setFeatures(ctx: StageContext<FidParams>, ex: Extractor, taskDir: string, split: string, label: string): Promise<{ stats: FeatureStats; data: SplitData; used: number }> {
  const tf = await import('@tensorflow/tfjs-core');
  const { loadSplit } = await import('../../io/shards.js');
  const { featureStats } = await import('../../ml/analysis/index.js');
  const loaded = await loadSplit(taskDir, split);
  if (!loaded.ok) throw new AnalysisStageError(loaded.error.reason, loaded.error.message, loaded.error.path);
  const data = loaded.value;
  const [h, w, c] = data.meta.imageShape;
  const per = h * w * c;
  let order = Array.from({ length: data.count }, (_, i) => i);
  const cap = ctx.params.maxImages;
  if (cap !== undefined && cap < data.count) order = ctx.rng.fork(`fid:${label}`).shuffle(order).slice(0, cap).sort((a, b) => a - b);
  const bs = ctx.params.batchSize ?? 32;
  const chunks: Float32Array[] = [];
  let dim = 0;
  for (let s = 0; s < order.length; s += bs) {
    if (ctx.signal.aborted) throw new AnalysisStageError('aborted', 'stopped');
    const idx = order.slice(s, s + bs);
    const buf = new Float32Array(idx.length * per);
    idx.forEach((i, k) => buf.set(data.images.subarray(i * per, (i + 1) * per), k * per));
    const x = tf.tensor4d(buf, [idx.length, h, w, c]);
    const f = ex.extract(x, data.meta);
    x.dispose();
    dim = f.length / idx.length;
    chunks.push(f);
    ctx.progress({ phase: `features ${label}`, current: Math.min(s + bs, order.length), total: order.length, unit: 'img' });
  }
  const all = new Float32Array(order.length * dim);
  let at = 0;
  for (const ch of chunks) {
    all.set(ch, at);
    at += ch.length;
  }
  const stats = featureStats(all, order.length, dim);
  if (!stats.ok) throw new AnalysisStageError(stats.error.reason, `${label}: ${stats.error.message}`, taskDir);
  return { stats: stats.value, data, used: order.length };
}

export const fidKind = defineKind<FidParams>({
  name: 'analysis.fid',
  module: import.meta.url,
  version: 1,
  description: 'FID (float64, symmetric-eigen Frechet distance) of each task against the pretraining data, from ViT or Inception-v3 features',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['reference', 'tasks', 'features'],
    properties: {
      reference: { type: 'string' },
      referenceSplit: { type: 'string', default: 'train800val200' },
      tasks: { type: 'array', items: { type: 'string' }, minItems: 1 },
      split: { type: 'string', default: 'train800val200' },
      features: {
        oneOf: [
          { type: 'object', additionalProperties: false, required: ['source', 'model'], properties: {
            source: { const: 'inception' }, model: { type: 'string' },
            inputSize: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 2, maxItems: 2 },
            inputRange: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 },
            outputNode: { type: 'string' },
            width: { type: 'integer', minimum: 1, default: INCEPTION_WIDTH },
          } },
          { type: 'object', additionalProperties: false, required: ['source', 'model'], properties: {
            source: { const: 'backbone' }, model: { type: 'string' }, pooling: { enum: ['cls', 'mean-patch'] },
          } },
        ],
      },
      maxImages: { type: 'integer', minimum: 2 },
      batchSize: { type: 'integer', minimum: 1 },
      eps: { type: 'number', exclusiveMinimum: 0 },
      seed: { type: 'integer' },
    },
  },
  outputs: () => ['fid'],
  resources: { cpu: 1, memoryMiB: 4096 },
  async check(p, env) {
    if (p.features.source !== 'inception') return [];
    const path = isAbsolute(p.features.model) ? p.features.model : env.resolve(p.features.model);
    const facts = await inspectGraphModelJson(path);
    if (!facts.ok) return [{ message: `the FID network: ${facts.error.message}`, path, hint: 'docs/vtab-full.md shows how to convert Inception-v3 to a TensorFlow.js graph model' }];
    const problems = graphModelProblems(facts.value, { inputSize: p.features.inputSize ?? INCEPTION_INPUT, width: p.features.width ?? INCEPTION_WIDTH });
    return problems.map((message) => ({ message: `the FID network ${p.features.model}: ${message}` }));
  },
  async run(ctx: StageContext<FidParams>): Promise<StageRunResult> {
    const p = ctx.params;
    const ml = await import('../../ml/index.js');
    const backend = await ml.selectBackend(ctx.backend);
    if (!backend.ok) throw new AnalysisStageError(backend.error.reason, backend.error.message);
    ctx.log(ml.describeBackend(backend.value));
    const { frechetDistance } = await import('../../ml/analysis/index.js');
    const ex = await makeExtractor(ctx, p.features);
    const refSplit = p.referenceSplit ?? 'train800val200';
    const split = p.split ?? 'train800val200';
    const refDir = pathParam(ctx, p.reference);
    const taskDirs = await expandTaskDirs(p.tasks.map((t) => pathParam(ctx, t)), [refDir]);
    const ref = await setFeatures(ctx, ex, refDir, refSplit, 'reference');
    const records: FidRecord[] = [];
    const metrics: Record<string, number> = {};
    for (const t of taskDirs) {
      const set = await setFeatures(ctx, ex, t, split, t);
      const r = frechetDistance(ref.stats, set.stats, { eps: p.eps ?? 1e-6 });
      if (!r.ok) throw new AnalysisStageError(r.error.reason, `${set.data.meta.name}: ${r.error.message}`, t);
      const v: FidResult = r.value;
      const meta = set.data.meta;
      const rec: FidRecord = {
        task: meta.name, group: meta.group, disparity: meta.disparity, ...(meta.similarity ? { similarity: meta.similarity } : {}),
        fid: v.fid, meanTerm: v.meanTerm, covTerm: v.covTerm, offset: v.offset, ...(v.fallbackReason ? { fallbackReason: v.fallbackReason } : {}),
        images: set.used, referenceImages: ref.used, featureDim: set.stats.d, features: ex.describe, split,
      };
      records.push(rec);
      metrics[`fid.${meta.name}`] = v.fid;
      await mkdir(join(ctx.outputs['fid'] as string, safeName(meta.name)), { recursive: true });
      await writeFidJson(join(ctx.outputs['fid'] as string, safeName(meta.name), 'fid.json'), { format: FID_FORMAT, ...rec });
      ctx.log(`${meta.name}: FID ${v.fid.toFixed(4)}${v.offset ? ` (offset ${v.offset}: ${v.fallbackReason})` : ''}`);
    }
    const summary: FidSummary = { format: FID_FORMAT, reference: ref.data.meta.name, features: ex.describe, tasks: records };
    await writeFidJson(join(ctx.outputs['fid'] as string, 'fid.json'), summary);
    const notes = records.filter((r) => r.offset > 0).map((r) => `${r.task}: singular covariance, ${r.offset} added to both diagonals (${r.fallbackReason})`);
    return { metrics, environment: ml.backendEnvironment(backend.value), ...(notes.length ? { notes } : {}) };
  },
});
