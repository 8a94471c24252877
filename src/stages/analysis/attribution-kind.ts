/**
 * `analysis.attribution`: GradCAM (last block's pre-attention LayerNorm, patch tokens, predicted
 * class) and Integrated Gradients (zero baseline, 50 steps, absolute values) for chosen test
 * images of one trained ViT. Writes PNG overlays/maps, the raw maps as safetensors, and the
 * measured IG completeness per image.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { defineKind, type StageContext, type StageRunResult } from '../kind.js';
import { ATTRIBUTION_FORMAT, readImageSelection, writeAttribution } from '../../artifacts/index.js';
import { AnalysisStageError, pathParam, writeJsonFile } from './common.js';

export type SelectionSet = 'ft-fails-vpt-succeeds' | 'vpt-fails-ft-succeeds' | 'both';

export interface AttributionParams {
  /** Model file written by the training stage. */
  readonly model: string;
  /** Task folder and split the images come from. */
  readonly task: string;
  readonly split?: string;
  /** selection.json from `analysis.select-images`, or explicit `indices`. */
  readonly selection?: string;
  readonly which?: SelectionSet;
  readonly indices?: readonly number[];
  /** At most this many images; default 8. */
  readonly limit?: number;
  readonly methods?: ReadonlyArray<'gradcam' | 'ig'>;
  readonly igSteps?: number;
  readonly igRule?: 'gauss-legendre' | 'trapezoid';
  readonly igOutput?: 'logit' | 'probability';
  /**
   * Interpolated images per forward/backward pass. Default 10, or 2 for models of 128 px and up:
   * ViT-B/16 with 10 images' activations kept for the backward pass overflows the wasm heap.
   */
  readonly igBatch?: number;
  /** Heat overlay opacity; default 0.5. */
  readonly alpha?: number;
}

export interface AttributionImageRecord {
  readonly index: number;
  readonly label: number;
  readonly predicted: number;
  readonly gradcam?: { readonly explainedClass: number; readonly score: number; readonly png: string };
  readonly ig?: { readonly explainedClass: number; readonly fx: number; readonly fBaseline: number; readonly attributionSum: number; readonly completenessError: number; readonly png: string };
}

async function chooseIndices(ctx: StageContext<AttributionParams>): Promise<number[]> {
  const p = ctx.params;
  let idx: number[] = [...(p.indices ?? [])];
  if (p.selection) {
    const read = await readImageSelection(pathParam(ctx, p.selection));
    if (!read.ok) throw new AnalysisStageError(read.error.reason === 'unreadable' ? 'unreadable' : 'bad-input', read.error.message, read.error.path);
    const sel = read.value;
    const which = p.which ?? 'ft-fails-vpt-succeeds';
    if (which !== 'vpt-fails-ft-succeeds') idx.push(...sel.ftFailsVptSucceeds.map((r) => r.index));
    if (which !== 'ft-fails-vpt-succeeds') idx.push(...sel.vptFailsFtSucceeds.map((r) => r.index));
  }
  idx = [...new Set(idx)];
  return idx.slice(0, p.limit ?? 8);
}

export const attributionKind = defineKind<AttributionParams>({
  name: 'analysis.attribution',
  module: import.meta.url,
  version: 1,
  description: 'GradCAM (last-block pre-attention LayerNorm, patch tokens, predicted class) and Integrated Gradients (zero baseline, 50 steps) maps for selected test images',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['model', 'task'],
    properties: {
      model: { type: 'string' },
      task: { type: 'string' },
      split: { type: 'string', default: 'test' },
      selection: { type: 'string' },
      which: { enum: ['ft-fails-vpt-succeeds', 'vpt-fails-ft-succeeds', 'both'] },
      indices: { type: 'array', items: { type: 'integer', minimum: 0 } },
      limit: { type: 'integer', minimum: 1 },
      methods: { type: 'array', items: { enum: ['gradcam', 'ig'] }, minItems: 1 },
      igSteps: { type: 'integer', minimum: 2, default: 50 },
      igRule: { enum: ['gauss-legendre', 'trapezoid'] },
      igOutput: { enum: ['logit', 'probability'] },
      igBatch: { type: 'integer', minimum: 1 },
      alpha: { type: 'number', minimum: 0, maximum: 1 },
      seed: { type: 'integer' },
    },
  },
  outputs: () => ['attribution'],
  resources: { cpu: 1, memoryMiB: 4096 },
  async run(ctx: StageContext<AttributionParams>): Promise<StageRunResult> {
    const p = ctx.params;
    const ml = await import('../../ml/index.js');
    const backend = await ml.selectBackend(ctx.backend);
    if (!backend.ok) throw new AnalysisStageError(backend.error.reason, backend.error.message);
    ctx.log(ml.describeBackend(backend.value));
    const tf = await import('@tensorflow/tfjs-core');
    const an = await import('../../ml/analysis/index.js');
    const { loadSplit } = await import('../../io/shards.js');
    const { writeSafetensors } = await import('../../io/safetensors.js');
    const modelPath = pathParam(ctx, p.model);
    const loaded = await ml.loadTrainedModel(modelPath);
    if (!loaded.ok) throw new AnalysisStageError(loaded.error.reason, loaded.error.message, modelPath);
    const model = loaded.value;
    const split = await loadSplit(pathParam(ctx, p.task), p.split ?? 'test');
    if (!split.ok) throw new AnalysisStageError(split.error.reason, split.error.message, split.error.path);
    const data = split.value;
    const [h, w, c] = data.meta.imageShape;
    if (h !== model.config.imageSize || w !== model.config.imageSize || c !== model.config.channels) {
      throw new AnalysisStageError('shape-mismatch', `images are ${h}x${w}x${c}, the model takes ${model.config.imageSize}x${model.config.imageSize}x${model.config.channels}`);
    }
    const indices = await chooseIndices(ctx);
    for (const i of indices) if (i >= data.count) throw new AnalysisStageError('bad-index', `image ${i} is outside the ${data.count}-image ${data.split} split`);
    const methods = new Set(p.methods ?? ['gradcam', 'ig']);
    const out = ctx.outputs['attribution'] as string;
    await mkdir(join(out, 'gradcam'), { recursive: true });
    await mkdir(join(out, 'ig'), { recursive: true });
    const vl = model.tokenLayout();
    const layout = { prefix: vl.patchStart, gridH: vl.gridH, gridW: vl.gridW };
    const tapForward = (x: import('@tensorflow/tfjs-core').Tensor4D, tap: (a: import('@tensorflow/tfjs-core').Tensor3D) => import('@tensorflow/tfjs-core').Tensor3D) => model.forwardWithTap(x, { training: false, tap });
    const logitForward = (x: import('@tensorflow/tfjs-core').Tensor4D) => model.forward(x);
    // Small images are enlarged for viewing (nearest for pixels, bilinear for the heat).
    const zoom = Math.max(1, Math.ceil(224 / Math.max(h, w)));
    const H = h * zoom, W = w * zoom;
    const per = h * w * c;
    const records: AttributionImageRecord[] = [];
    const camMaps: number[] = [];
    const igMaps: number[] = [];
    let maxErr = 0;
    for (const [k, index] of indices.entries()) {
      if (ctx.signal.aborted) throw new AnalysisStageError('aborted', 'stopped');
      const pixels = data.images.subarray(index * per, (index + 1) * per);
      const rgb = enlarge(an.denormalizeImage(pixels, h, w, c, data.meta.normalization.mean, data.meta.normalization.std), h, w, zoom);
      const x = tf.tensor4d(pixels, [1, h, w, c]);
      const rec: { -readonly [K in keyof AttributionImageRecord]: AttributionImageRecord[K] } = { index, label: data.labels[index] as number, predicted: -1 };
      if (methods.has('gradcam')) {
        const r = an.gradCam(tapForward, x, layout);
        if (!r.ok) throw new AnalysisStageError(r.error.reason, `image ${index}: ${r.error.message}`);
        rec.predicted = r.value.predicted[0] as number;
        const heat = an.upsampleBilinear(an.normalizeMap(r.value.maps), layout.gridH, layout.gridW, H, W);
        const png = `gradcam/${index}.png`;
        await writeFile(join(out, png), an.encodePng(an.overlay(rgb, heat, p.alpha ?? 0.5), W, H));
        camMaps.push(...r.value.maps);
        rec.gradcam = { explainedClass: r.value.classes[0] as number, score: r.value.scores[0] as number, png };
      }
      if (methods.has('ig')) {
        const r = an.integratedGradients(logitForward, x, { steps: p.igSteps ?? 50, rule: p.igRule ?? 'gauss-legendre', output: p.igOutput ?? 'logit', batchSize: p.igBatch ?? (h >= 128 ? 2 : 10) });
        if (!r.ok) throw new AnalysisStageError(r.error.reason, `image ${index}: ${r.error.message}`);
        rec.predicted = r.value.predicted;
        const abs = new Float32Array(h * w);
        for (let i = 0; i < h * w; i++) for (let ch = 0; ch < c; ch++) abs[i] = (abs[i] as number) + Math.abs(r.value.attributions[i * c + ch] as number);
        const png = `ig/${index}.png`;
        await writeFile(join(out, png), an.encodePng(enlarge(an.colorize(an.normalizeByQuantile(abs, 0.99)), h, w, zoom), W, H));
        igMaps.push(...r.value.attributions);
        maxErr = Math.max(maxErr, r.value.completenessError);
        rec.ig = { explainedClass: r.value.targetClass, fx: r.value.fx, fBaseline: r.value.fBaseline, attributionSum: r.value.attributionSum, completenessError: r.value.completenessError, png };
        ctx.log(`image ${index}: IG completeness sum ${r.value.attributionSum.toFixed(5)} vs F(x)-F(0) ${(r.value.fx - r.value.fBaseline).toFixed(5)} (relative error ${r.value.completenessError.toExponential(2)})`);
      }
      x.dispose();
      records.push(rec);
      ctx.progress({ phase: 'attribution', current: k + 1, total: indices.length, unit: 'img' });
    }
    const K = records.length;
    const tensors: Record<string, { dtype: 'F32' | 'I32'; shape: number[]; data: Float32Array | Int32Array }> = { indices: { dtype: 'I32', shape: [K], data: Int32Array.from(indices) } };
    if (camMaps.length) tensors['gradcam'] = { dtype: 'F32', shape: [K, layout.gridH, layout.gridW], data: Float32Array.from(camMaps) };
    if (igMaps.length) tensors['ig'] = { dtype: 'F32', shape: [K, h, w, c], data: Float32Array.from(igMaps) };
    await writeSafetensors(join(out, 'maps.safetensors'), tensors, { task: data.meta.name, split: data.split, model: p.model, gradcam: 'ReLU(sum_k mean_patches(dS/dA_k) A_k), last block pre-attention LayerNorm, patch tokens, not normalised', ig: 'signed attributions, zero baseline' });
    const igRecs = records.flatMap((r) => (r.ig ? [r.ig.completenessError] : []));
    await mkdir(out, { recursive: true });
    await writeAttribution(join(out, 'attribution.json'), {
      format: ATTRIBUTION_FORMAT, task: data.meta.name, split: data.split, model: p.model, layout, igSteps: p.igSteps ?? 50, igRule: p.igRule ?? 'gauss-legendre', igOutput: p.igOutput ?? 'logit',
      completeness: igRecs.length ? { maxRelativeError: maxErr, meanRelativeError: igRecs.reduce((a, b) => a + b, 0) / igRecs.length } : null,
      images: records,
    });
    for (const v of model.params.values()) v.dispose();
    return {
      metrics: { images: K, ...(igRecs.length ? { igMaxCompletenessError: maxErr } : {}) },
      environment: ml.backendEnvironment(backend.value),
    };
  },
});

/** Nearest-neighbour enlargement of an RGB image by an integer factor. */
function enlarge(rgb: Uint8Array, h: number, w: number, zoom: number): Uint8Array {
  if (zoom === 1) return rgb;
  const W = w * zoom;
  const out = new Uint8Array(h * zoom * W * 3);
  for (let y = 0; y < h * zoom; y++) {
    for (let x = 0; x < W; x++) {
      const src = (Math.floor(y / zoom) * w + Math.floor(x / zoom)) * 3;
      out.set(rgb.subarray(src, src + 3), (y * W + x) * 3);
    }
  }
  return out;
}
