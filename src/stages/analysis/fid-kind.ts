/**
 * `analysis.fid`: FID of each task's images against the pretraining data, from either the
 * pretrained ViT (the CLS token or the mean patch token after its final LayerNorm) or an
 * Inception-v3 TensorFlow.js graph model on disk. With `repeats` > 1 the FID is taken against
 * several seeded subsamples of the reference set (features extracted once), giving a mean and a
 * std. Writes `<out>/fid.json` (all tasks) and `<out>/<task>/fid.json`.
 */
import { mkdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs-core';
import { FID_FORMAT, writeFidJson, type FidRecord, type FidSummary } from '../../artifacts/index.js';
import { graphModelProblems, inspectGraphModelJson } from '../../ml/analysis/graph-model-json.js';
import { defineKind, type StageContext, type StageProblem, type StageRunResult } from '../kind.js';
import { AnalysisStageError, expandTaskDirs, pathParam, safeName } from './common.js';
import { combineRepeats, referenceSamples, type RepeatFid } from './fid-repeats.js';
import type { FeatureStats } from '../../ml/analysis/index.js';
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
  | {
      readonly source: 'backbone';
      readonly model: string;
      /** After the final LayerNorm: `cls` the CLS token (the head's input), `mean-patch` (alias `mean`) the mean patch token. */
      readonly pooling?: 'cls' | 'mean-patch' | 'mean';
    };

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
  /** Cap per set (a seeded random subset); default all. With `repeats` > 1: the size of each reference subsample. */
  readonly maxImages?: number;
  readonly batchSize?: number;
  /**
   * Added to both covariance diagonals (the "eps variant" of older tools). Default: none, which
   * gives pytorch-fid's number.
   */
  readonly eps?: number;
  /** Reference subsamples to take the FID against (mean and sample std); default 1 (the whole reference, or `maxImages` of it). */
  readonly repeats?: number;
}

export type { FidRecord, FidSummary } from '../../artifacts/index.js';

type Extractor = { readonly describe: string; extract(images: tfTypes.Tensor4D, meta: SplitData['meta']): Float32Array };

/** Why the graph model at `path` cannot serve as the FID network with these settings (empty: it can). */
async function networkProblems(path: string, f: Extract<FeatureSource, { source: 'inception' }>): Promise<StageProblem[]> {
  const facts = await inspectGraphModelJson(path);
  if (!facts.ok) return [{ message: `the FID network: ${facts.error.message}`, path, hint: 'docs/vtab-full.md shows how to convert Inception-v3 to a TensorFlow.js graph model' }];
  const problems = graphModelProblems(facts.value, { inputSize: f.inputSize ?? INCEPTION_INPUT, width: f.width ?? INCEPTION_WIDTH });
  return problems.map((message) => ({ message: `the FID network ${f.model}: ${message}` }));
}

async function makeExtractor(ctx: StageContext<FidParams>, f: FeatureSource): Promise<Extractor> {
  const tf = await import('@tensorflow/tfjs-core');
  const path = pathParam(ctx, f.model);
  if (f.source === 'inception') {
    // What model.json says (input size; output width when recorded), then one blank image for the
    // width it does not record: a wrong network stops here, before any image of the data goes through it.
    const problems = await networkProblems(path, f);
    if (problems.length > 0) throw new AnalysisStageError('bad-model', problems.map((p) => p.message).join('; '), path);
    const { loadGraphModelFile, graphModelFeatures } = await import('../../ml/analysis/index.js');
    const model = await loadGraphModelFile(path);
    if (!model.ok) throw new AnalysisStageError(model.error.reason, model.error.message, path);
    const inputSize = f.inputSize ?? INCEPTION_INPUT;
    const inputRange = f.inputRange ?? [-1, 1];
    const width = f.width ?? INCEPTION_WIDTH;
    const options = { inputSize, inputRange, ...(f.outputNode ? { outputNode: f.outputNode } : {}) };
    const featuresOf = (x01: tfTypes.Tensor4D): Float32Array => {
      const r = graphModelFeatures(model.value, x01, options, path);
      if (!r.ok) throw new AnalysisStageError(r.error.reason, r.error.message, path);
      if (r.value.dim !== width) {
        throw new AnalysisStageError('bad-output', `the FID network gives ${r.value.dim} features per image, not ${width} (Inception-v3 pool_3 gives 2048; set features.width for another network)`, path);
      }
      return r.value.features;
    };
    const blank = tf.zeros([1, inputSize[0], inputSize[1], 3]) as tfTypes.Tensor4D;
    try {
      featuresOf(blank);
    } finally {
      blank.dispose();
    }
    return {
      describe: `inception graph model ${f.model} (${inputSize.join('x')}, range [${inputRange.join(', ')}]${f.outputNode ? `, node ${f.outputNode}` : ''})`,
      extract(images, meta) {
        const x01 = tf.tidy(() => toUnitRange(tf, images, meta));
        try {
          return featuresOf(x01);
        } finally {
          x01.dispose();
        }
      },
    };
  }
  const ml = await import('../../ml/index.js');
  const vit = await ml.loadTrainedModel(path);
  if (!vit.ok) throw new AnalysisStageError(vit.error.reason, vit.error.message, path);
  const model = vit.value;
  const pooling = f.pooling === 'mean' ? 'mean-patch' : (f.pooling ?? 'cls');
  const size = model.config.imageSize;
  return {
    describe: `backbone ${f.model} (${pooling === 'cls' ? "CLS token after the final LayerNorm (the head's input)" : 'mean of the patch tokens after the final LayerNorm'})`,
    extract(images) {
      const feat = tf.tidy(() => model.features(images.shape[1] === size && images.shape[2] === size ? images : tf.image.resizeBilinear(images, [size, size]), pooling));
      const out = Float32Array.from(feat.dataSync());
      feat.dispose();
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

async function loadSet(dir: string, split: string): Promise<SplitData> {
  const { loadSplit } = await import('../../io/shards.js');
  const loaded = await loadSplit(dir, split);
  if (!loaded.ok) throw new AnalysisStageError(loaded.error.reason, loaded.error.message, loaded.error.path);
  return loaded.value;
}

/** Features of the images `order` of a split: row i is image order[i]. */
async function extractRows(ctx: StageContext<FidParams>, ex: Extractor, data: SplitData, order: readonly number[], label: string): Promise<{ rows: Float32Array; dim: number }> {
  const tf = await import('@tensorflow/tfjs-core');
  const [h, w, c] = data.meta.imageShape;
  const per = h * w * c;
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
  const rows = new Float32Array(order.length * dim);
  let at = 0;
  for (const ch of chunks) {
    rows.set(ch, at);
    at += ch.length;
  }
  return { rows, dim };
}

/** Mean and covariance of the feature rows `pick` (all when omitted). */
async function statsOf(rows: Float32Array, dim: number, pick: readonly number[] | undefined, label: string, dir: string): Promise<FeatureStats> {
  const { featureStats } = await import('../../ml/analysis/index.js');
  let x = rows;
  if (pick) {
    x = new Float32Array(pick.length * dim);
    pick.forEach((r, k) => x.set(rows.subarray(r * dim, (r + 1) * dim), k * dim));
  }
  const n = x.length / dim;
  const stats = featureStats(x, n, dim);
  if (!stats.ok) throw new AnalysisStageError(stats.error.reason, `${label}: ${stats.error.message}`, dir);
  return stats.value;
}

/** A task's images: all, or a seeded `maxImages` subset. */
function taskOrder(ctx: StageContext<FidParams>, count: number, label: string): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  const cap = ctx.params.maxImages;
  return cap !== undefined && cap < count ? ctx.rng.fork(`fid:${label}`).shuffle(order).slice(0, cap).sort((a, b) => a - b) : order;
}

export const fidKind = defineKind<FidParams>({
  name: 'analysis.fid',
  module: import.meta.url,
  // 2: backbone features after the final LayerNorm; eps only when given; repeats; vpt.fid/2.
  version: 2,
  description: 'FID (float64 Frechet distance) of each task against the pretraining data, from ViT or Inception-v3 features; optionally mean and std over reference subsamples',
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
            source: { const: 'backbone' }, model: { type: 'string' }, pooling: { enum: ['cls', 'mean-patch', 'mean'] },
          } },
        ],
      },
      maxImages: { type: 'integer', minimum: 2 },
      batchSize: { type: 'integer', minimum: 1 },
      eps: { type: 'number', exclusiveMinimum: 0 },
      repeats: { type: 'integer', minimum: 1, default: 1 },
      seed: { type: 'integer' },
    },
  },
  outputs: () => ['fid'],
  // Two threads: the FID kernels' default (src/ml/analysis/f64-kernels.ts).
  resources: { cpu: 2, memoryMiB: 4096 },
  async check(p, env) {
    if (p.features.source !== 'inception') return [];
    const path = isAbsolute(p.features.model) ? p.features.model : env.resolve(p.features.model);
    return networkProblems(path, p.features);
  },
  async run(ctx: StageContext<FidParams>): Promise<StageRunResult> {
    const p = ctx.params;
    const repeats = p.repeats ?? 1;
    const ml = await import('../../ml/index.js');
    const backend = await ml.selectBackend(ctx.backend);
    if (!backend.ok) throw new AnalysisStageError(backend.error.reason, backend.error.message);
    ctx.log(ml.describeBackend(backend.value));
    const { frechetDistance, f64KernelName } = await import('../../ml/analysis/index.js');
    ctx.log(`FID numerics: float64, ${f64KernelName()}`);
    const refSplit = p.referenceSplit ?? 'train800val200';
    const split = p.split ?? 'train800val200';
    const refDir = pathParam(ctx, p.reference);
    const taskDirs = await expandTaskDirs(p.tasks.map((t) => pathParam(ctx, t)), [refDir]);
    // The subsamples are known from the image count alone, so bad `repeats` fail before any network runs.
    const ref = await loadSet(refDir, refSplit);
    const drawn = referenceSamples(ref.count, repeats, p.maxImages, ctx.rng);
    if (!drawn.ok) throw new AnalysisStageError('bad-params', `${ref.meta.name}/${refSplit}: ${drawn.error}`, refDir);
    const ex = await makeExtractor(ctx, p.features);
    // Every reference image any repeat uses goes through the network once; the repeats pick rows.
    const union = [...new Set(drawn.value.samples.flat())].sort((a, b) => a - b);
    const rowOf = new Map(union.map((img, row) => [img, row]));
    const refRows = await extractRows(ctx, ex, ref, union, 'reference');
    const refStats: FeatureStats[] = [];
    for (const [r, sample] of drawn.value.samples.entries()) {
      refStats.push(await statsOf(refRows.rows, refRows.dim, sample.map((i) => rowOf.get(i) as number), repeats > 1 ? `reference subsample ${r}` : 'reference', refDir));
    }
    if (repeats > 1) ctx.log(`reference ${ref.meta.name}: ${repeats} subsamples of ${drawn.value.size} of its ${ref.count} images (${union.length} distinct images through the network)`);
    const records: FidRecord[] = [];
    const metrics: Record<string, number> = {};
    for (const t of taskDirs) {
      const data = await loadSet(t, split);
      const order = taskOrder(ctx, data.count, t);
      const rows = await extractRows(ctx, ex, data, order, t);
      const stats = await statsOf(rows.rows, rows.dim, undefined, data.meta.name, t);
      const results: RepeatFid[] = [];
      for (const rs of refStats) {
        const r = frechetDistance(rs, stats, p.eps === undefined ? {} : { offset: p.eps });
        if (!r.ok) throw new AnalysisStageError(r.error.reason, `${data.meta.name}: ${r.error.message}`, t);
        results.push(r.value);
      }
      const v = combineRepeats(results);
      const meta = data.meta;
      const rec: FidRecord = {
        task: meta.name, group: meta.group, disparity: meta.disparity, ...(meta.similarity ? { similarity: meta.similarity } : {}),
        fid: v.fid, fidStd: v.fidStd, repeats: v.repeats, fids: v.fids, meanTerm: v.meanTerm, covTerm: v.covTerm,
        offset: v.offset, rule: v.rule, route: v.route,
        images: order.length, referenceImages: drawn.value.size, featureDim: stats.d, features: ex.describe, split,
      };
      records.push(rec);
      metrics[`fid.${meta.name}`] = v.fid;
      if (repeats > 1) metrics[`fidStd.${meta.name}`] = v.fidStd;
      await mkdir(join(ctx.outputs['fid'] as string, safeName(meta.name)), { recursive: true });
      await writeFidJson(join(ctx.outputs['fid'] as string, safeName(meta.name), 'fid.json'), { format: FID_FORMAT, ...rec });
      ctx.log(`${meta.name}: FID ${v.fid.toFixed(4)}${repeats > 1 ? ` ± ${v.fidStd.toFixed(4)} (std over ${repeats} reference subsamples)` : ''} [${v.route}; ${v.rule}${v.offset > 0 ? ` ${v.offset}` : ''}]`);
    }
    const summary: FidSummary = { format: FID_FORMAT, reference: ref.meta.name, features: ex.describe, tasks: records };
    await writeFidJson(join(ctx.outputs['fid'] as string, 'fid.json'), summary);
    const shifted = records.filter((r) => r.rule === 'offset');
    const notes = shifted.length > 0 ? [`eps variant (an offset on both covariance diagonals, not pytorch-fid's number) for: ${shifted.map((r) => `${r.task} (${r.offset})`).join(', ')}`] : [];
    return { metrics, environment: ml.backendEnvironment(backend.value), ...(notes.length ? { notes } : {}) };
  },
});
