/**
 * What one training stage computes, from its resolved params and its data, before it runs:
 * images through the network per phase (training passes and evaluation passes), steps, and FLOPs
 * (flops.ts). It follows the defaults of `train.vit` / `train.pretrain` (src/stages/train): epochs
 * 100 / 30, batch 128 for FT and 64 for the prompt methods / 128, prompt length 10, train split
 * train800 / train, every `evalSplits` entry evaluated after every epoch (default val200 and test
 * for train.vit), and train.vit's one more pass over the test split for its predictions file.
 * FT-then-PT is two phases (planPhases): FT without prompts, then PT with them.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BuiltinStage } from '../../dsl/model.js';
import type { ViTConfig } from '../../ml/config.js';
import { VIT_B16, VIT_MINI } from '../../ml/config.js';
import { defaultWorkers, type BackendName } from '../../ml/backend-name.js';
import { isMethod, planPhases, type Method } from '../../ml/methods.js';
import { readSafetensorsHeader } from '../../io/safetensors.js';
import { MODEL_PRESETS, resolveModelConfig } from '../../stages/train/common.js';
import { err, ok, type Result } from '../../util/result.js';
import type { StageGraph } from '../graph.js';
import { flopsPerImage, recomputesBlocks, tokens, type PassKind } from './flops.js';
import type { SplitSize, SplitSizes } from './split-sizes.js';

/** The kinds whose stages are estimated. */
export const TRAINING_KINDS: ReadonlySet<string> = new Set(['train.vit', 'train.pretrain']);

export interface SplitUse extends SplitSize {
  readonly split: string;
}

export interface PhaseWork {
  readonly name: string;
  /** What trains in this phase (flops.ts). */
  readonly pass: Exclude<PassKind, 'eval'>;
  readonly epochs: number;
  /** Sequence length of the phase (CLS + patches + prompts in use). */
  readonly tokens: number;
  readonly trainImages: number;
  readonly steps: number;
  /** Evaluation passes (after every epoch, and the predictions pass after the last). */
  readonly evalImages: number;
  readonly trainFlops: number;
  readonly evalFlops: number;
}

export interface TrainingWork {
  readonly id: string;
  /** The matrix base name (`grid`, `final`), or the id of a stage without a matrix. */
  readonly group: string;
  readonly kind: string;
  readonly method: Method;
  readonly model: ViTConfig;
  readonly modelLabel: string;
  readonly batch: number;
  readonly workers: number;
  readonly recompute: boolean;
  readonly train: SplitUse;
  readonly evals: readonly SplitUse[];
  readonly phases: readonly PhaseWork[];
  readonly trainImages: number;
  readonly evalImages: number;
  readonly steps: number;
  readonly flops: number;
  readonly notes: readonly string[];
}

export type WorkError = { readonly reason: 'bad-params'; readonly stage: string; readonly message: string };

export interface WorkContext {
  readonly workspace: string;
  readonly graph: StageGraph;
  readonly sizes: SplitSizes;
  /** The backend the stages will ask for (its defaults: workers, block recomputation). */
  readonly backend: BackendName;
}

const ARCH_KEYS = ['imageSize', 'channels', 'patchSize', 'width', 'depth', 'heads', 'mlpRatio'] as const;

/** `vit-b16`, or `vit-mini{patchSize:8}` for a preset with changes, or the numbers. */
export function modelLabel(c: ViTConfig): string {
  let best: { name: string; diff: string[] } | undefined;
  for (const [name, preset] of Object.entries(MODEL_PRESETS)) {
    const diff = ARCH_KEYS.filter((k) => preset[k] !== c[k]).map((k) => `${k}:${c[k]}`);
    if (!best || diff.length < best.diff.length) best = { name, diff };
  }
  if (best && best.diff.length === 0) return best.name;
  if (best && best.diff.length <= 2) return `${best.name}{${best.diff.join(',')}}`;
  return `ViT ${c.imageSize}px/${c.patchSize} ${c.channels}ch D${c.width} L${c.depth}`;
}

/** The architecture part of a config, as a key (which models are the same for costing). */
export const archKey = (c: ViTConfig): string => JSON.stringify(ARCH_KEYS.map((k) => c[k]));

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined);

export async function trainingWork(stage: BuiltinStage, ctx: WorkContext): Promise<Result<TrainingWork, WorkError>> {
  const p = stage.with;
  const bad = (message: string): Result<never, WorkError> => err({ reason: 'bad-params', stage: stage.id, message: `stage ${stage.id}: ${message}` });
  const pretrain = stage.uses === 'train.pretrain';
  const method = pretrain ? 'ft' : p['method'];
  if (!isMethod(method)) return bad(`method ${JSON.stringify(method)} is not one the estimate knows`);
  const isFt = method === 'ft';
  const epochs = num(p['epochs']) ?? (pretrain ? 30 : 100);
  const batch = num(p['batch']) ?? (pretrain || isFt ? 128 : 64);
  if (!(epochs >= 1) || !(batch >= 1)) return bad(`epochs ${epochs} and batch ${batch} must be >= 1`);
  const promptLength = num(p['promptLength']) ?? 10;
  const workers = num(p['workers']) ?? defaultWorkers(ctx.backend);
  const data = str(p['data']);
  if (data === undefined) return bad('no data path');

  const notes: string[] = [];
  const model = await modelOf(stage, ctx, notes, new Set());
  if (!model.ok) return bad(model.error);
  const recompute = recomputesBlocks(model.value, ctx.backend);

  const trainSplit = str(p['trainSplit']) ?? (pretrain ? 'train' : 'train800');
  const valSplit = str(p['valSplit']) ?? 'val200';
  const testSplit = str(p['testSplit']) ?? 'test';
  const evalNames = strings(p['evalSplits']) ?? (pretrain ? [] : [valSplit, testSplit]);
  const use = async (split: string): Promise<SplitUse> => ({ split, ...(await ctx.sizes.size(data, split)) });
  const train = await use(trainSplit);
  const evals = await Promise.all(evalNames.map(use));
  // train.vit writes per-image predictions on the test split after training: one more pass.
  const predictions = pretrain ? undefined : await use(testSplit);
  const evalPerEpoch = evals.reduce((a, s) => a + s.images, 0);

  const ft = p['ft'] !== null && typeof p['ft'] === 'object' ? (p['ft'] as Record<string, unknown>) : undefined;
  const ftEpochs = num(ft?.['epochs']);
  const phases = planPhases(method, { epochs, warmupEpochs: 0, baseLr: 1, weightDecay: 0 }, ftEpochs !== undefined ? { epochs: ftEpochs } : undefined);
  const works: PhaseWork[] = phases.map((ph, i) => {
    const pass: PhaseWork['pass'] = ph.mode.trainBackbone ? 'full' : ph.mode.trainPrompts && ph.mode.usePrompts ? 'frozen' : 'head';
    const prompts = ph.mode.usePrompts ? promptLength : 0;
    const last = i === phases.length - 1;
    const trainImages = ph.epochs * train.images;
    const evalImages = ph.epochs * evalPerEpoch + (last && predictions ? predictions.images : 0);
    return {
      name: ph.name, pass, epochs: ph.epochs, tokens: tokens(model.value, prompts), trainImages,
      steps: ph.epochs * Math.ceil(train.images / batch), evalImages,
      trainFlops: trainImages * flopsPerImage(model.value, pass, prompts, recompute),
      evalFlops: evalImages * flopsPerImage(model.value, 'eval', prompts, false),
    };
  });
  const sum = (f: (w: PhaseWork) => number): number => works.reduce((a, w) => a + f(w), 0);
  return ok({
    id: stage.id, group: stage.template, kind: stage.uses, method, model: model.value, modelLabel: modelLabel(model.value), batch, workers, recompute,
    train, evals: predictions ? [...evals, { ...predictions, split: `${predictions.split} (predictions)` }] : evals, phases: works,
    trainImages: sum((w) => w.trainImages), evalImages: sum((w) => w.evalImages), steps: sum((w) => w.steps),
    flops: sum((w) => w.trainFlops + w.evalFlops), notes,
  });
}

/**
 * The architecture the stage will build, as runVit.ts does: `model` when given; else ViT-B/16 for
 * an `.npz` init; else the config inside the init model file when it exists, or that of the
 * training or train.import stage that will write it; else (no init) vit-mini.
 */
async function modelOf(stage: BuiltinStage, ctx: WorkContext, notes: string[], seen: Set<string>): Promise<Result<ViTConfig, string>> {
  const p = stage.with;
  const model = p['model'];
  const init = str(p['init']);
  try {
    if (model !== undefined) return ok(resolveModelConfig(model as Parameters<typeof resolveModelConfig>[0]));
    if (init === undefined) return ok(VIT_MINI);
    if (init.endsWith('.npz')) return ok(VIT_B16);
  } catch (e) {
    return err((e as Error).message);
  }
  const path = join(ctx.workspace, init);
  if (existsSync(path)) {
    const header = await readSafetensorsHeader(path);
    const config = header.ok ? header.value.metadata['config'] : undefined;
    if (config !== undefined) return ok(JSON.parse(config) as ViTConfig);
  }
  const producer = ctx.graph.producers.get(init)?.stage;
  const upstream = producer !== undefined ? ctx.graph.stage(producer) : undefined;
  // train.import checks a checkpoint against its `model` (default ViT-B/16) and writes that architecture.
  if (upstream?.type === 'builtin' && upstream.uses === 'train.import') {
    try {
      return ok(resolveModelConfig((upstream.with['model'] ?? 'vit-b16') as Parameters<typeof resolveModelConfig>[0]));
    } catch (e) {
      return err((e as Error).message);
    }
  }
  if (upstream?.type === 'builtin' && TRAINING_KINDS.has(upstream.uses) && !seen.has(upstream.id)) {
    seen.add(stage.id);
    return modelOf(upstream, ctx, notes, seen);
  }
  notes.push(`the architecture of init ${init} is unknown before it exists: assumed vit-mini`);
  return ok(VIT_MINI);
}
