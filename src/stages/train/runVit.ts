/** The body of `train.vit` and `train.pretrain` (loaded lazily: it pulls in TensorFlow.js). */
import { extname } from 'node:path';
import type { StageContext, StageRunResult } from '../kind.js';
import { loadSplit, readTaskMeta, type SplitData, type TaskMeta } from '../../io/shards.js';
import {
  backendEnvironment, countParams, createViT, evaluate, loadModelFile, loadViTNpz, methodPrompts, defaultPromptDropout, saveModel,
  defaultWorkers, describeBackend, selectBackend, train, type Dataset, type EpochRecord, type Method, type ViT, type ViTConfig,
} from '../../ml/index.js';
import { int, num, resolveModelConfig, StageParamError, type ModelParam } from './common.js';
import type { TrainVitParams } from './vit.js';
import {
  formatArtifactError, PREDICTIONS_FORMAT, readGridSelection, RUN_METRICS_FORMAT, SKIPPED_RUN_FORMAT, writePredictions, writeRunMetrics, writeSkippedRun,
} from '../../artifacts/index.js';

const DEFAULTS = { epochs: 100, warmupPrompt: 10, warmupFt: 5, batchPrompt: 64, batchFt: 128, promptLength: 10 } as const;

async function split(taskDir: string, name: string): Promise<SplitData> {
  const s = await loadSplit(taskDir, name);
  if (!s.ok) throw new StageParamError(`split ${name}: ${s.error.message}`);
  return s.value;
}

const asDataset = (s: SplitData): Dataset => ({ images: s.images, labels: s.labels, count: s.count });

function checkShape(cfg: ViTConfig, meta: TaskMeta, taskDir: string): void {
  const [h, w, c] = meta.imageShape;
  if (h !== cfg.imageSize || w !== cfg.imageSize || c !== cfg.channels) {
    throw new StageParamError(`${taskDir}: images are ${h}x${w}x${c} but the model expects ${cfg.imageSize}x${cfg.imageSize}x${cfg.channels}`);
  }
}

/** Builds the model: architecture from `model` (or the init file), head/prompts from the task and method. */
async function buildModel(ctx: StageContext<{ model?: ModelParam; init?: string }>, method: Method, numClasses: number, promptLength: number, promptDropout: number, seed: number): Promise<{ model: ViT; notes: string[] }> {
  const notes: string[] = [];
  const p = ctx.params;
  const prompts = methodPrompts(method);
  const shape = (base: ViTConfig): ViTConfig => ({
    ...base, numClasses, promptLength: prompts ? promptLength : 0, promptMode: prompts ?? 'deep', promptDropout: prompts ? promptDropout : 0,
  });
  if (p.init === undefined) {
    const m = createViT(shape(resolveModelConfig(p.model)), seed);
    if (!m.ok) throw new StageParamError(m.error.message);
    notes.push('no init weights: the backbone is randomly initialised');
    return { model: m.value, notes };
  }
  const path = ctx.resolve(p.init);
  if (extname(path) === '.npz') {
    const m = await loadViTNpz(path, shape(resolveModelConfig(p.model ?? 'vit-b16')), seed);
    if (!m.ok) throw new StageParamError(m.error.message);
    return { model: m.value, notes };
  }
  const file = await loadModelFile(path);
  if (!file.ok) throw new StageParamError(file.error.message);
  // Only the backbone carries over: the head (new classes) and prompts start fresh.
  const arch = p.model !== undefined ? resolveModelConfig(p.model) : file.value.config;
  const cfg = shape(arch);
  const backbone = new Map<string, Float32Array>();
  const { paramSpecs } = await import('../../ml/config.js');
  for (const s of paramSpecs(cfg)) {
    if (s.group !== 'backbone') continue;
    const v = file.value.values.get(s.name);
    if (!v) throw new StageParamError(`${path}: parameter ${s.name} is missing`);
    backbone.set(s.name, v);
  }
  const m = createViT(cfg, seed, backbone);
  if (!m.ok) throw new StageParamError(`${path}: ${m.error.message}`);
  return { model: m.value, notes };
}

export interface RunSpec {
  readonly method: Method;
  readonly trainSplit: string;
  readonly evalSplits: readonly string[];
  readonly valSplit: string | undefined;
  readonly testSplit: string | undefined;
  readonly writePredictions: boolean;
}

export async function runTrainVit(ctx: StageContext<TrainVitParams>): Promise<StageRunResult> {
  const p = ctx.params;
  const valSplit = p.valSplit ?? 'val200';
  const testSplit = p.testSplit ?? 'test';
  return runTraining(ctx, {
    method: p.method, trainSplit: p.trainSplit ?? 'train800', evalSplits: p.evalSplits ?? [valSplit, testSplit],
    valSplit, testSplit, writePredictions: true,
  });
}

export async function runTraining(ctx: StageContext<TrainVitParams>, spec: RunSpec): Promise<StageRunResult> {
  const p = ctx.params;
  const backend = await selectBackend(ctx.backend);
  if (!backend.ok) throw new Error(backend.error.message);
  ctx.log(describeBackend(backend.value));

  const method = spec.method;
  const isFt = method === 'ft';
  let baseLr = num(p.baseLr, 'baseLr', isFt ? 0.0005 : 0.25);
  let weightDecay = num(p.weightDecay, 'weightDecay', 0.001);
  if (p.hparams !== undefined) {
    const h = await readGridSelection(ctx.resolve(p.hparams));
    if (!h.ok) throw new StageParamError(`hparams: ${formatArtifactError(h.error)}`);
    baseLr = h.value.baseLr;
    weightDecay = h.value.weightDecay;
  }
  const epochs = int(p.epochs, 'epochs', DEFAULTS.epochs, 1);
  const warmup = int(p.warmup, 'warmup', isFt ? DEFAULTS.warmupFt : DEFAULTS.warmupPrompt);
  const batch = int(p.batch, 'batch', isFt ? DEFAULTS.batchFt : DEFAULTS.batchPrompt, 1);
  const seed = int(p.seed, 'seed', ctx.seed, -2147483648);
  const promptLength = int(p.promptLength, 'promptLength', DEFAULTS.promptLength, 1);
  const promptDropout = num(p.promptDropout, 'promptDropout', defaultPromptDropout(method));
  // Data-parallel shards per batch: a fixed setting (not the machine's core count), in the run key.
  const workers = int(p.workers, 'workers', defaultWorkers(backend.value.backend), 1);
  ctx.log(`data parallel: ${workers} shard${workers === 1 ? '' : 's'} per batch (${workers === 1 ? 'this thread only' : `this thread + ${workers - 1} worker thread${workers === 2 ? '' : 's'}`})`);

  const taskDir = ctx.resolve(p.data);
  const meta = await readTaskMeta(taskDir);
  if (!meta.ok) throw new StageParamError(meta.error.message);
  if (p.ifSplitMissing === 'skip' && meta.value.splits[spec.trainSplit] === undefined) return skipRun(ctx, meta.value, method, seed, spec.trainSplit);
  const trainData = await split(taskDir, spec.trainSplit);
  const evalData = [];
  for (const name of spec.evalSplits) evalData.push({ name, data: asDataset(await split(taskDir, name)) });

  const { model, notes } = await buildModel(ctx, method, meta.value.numClasses, promptLength, promptDropout, seed);
  checkShape(model.config, meta.value, taskDir);
  // tfjs keeps every intermediate gradient until a backward pass ends: wide models recompute each
  // block in the backward pass instead, so ViT-B/16 fits the 4 GiB wasm heap.
  model.checkpointBlocks = backend.value.backend === 'wasm' && model.config.width >= 384;
  const counts = countParams(model.config);
  const runKey = JSON.stringify({ method, epochs, warmup, batch, baseLr, weightDecay, seed, config: model.config, data: p.data, init: p.init ?? null, ft: p.ft ?? null, split: spec.trainSplit, workers });

  const result = await train({
    model, method, train: asDataset(trainData), evals: evalData, epochs, warmupEpochs: warmup, baseLr, weightDecay, batchSize: batch,
    evalBatchSize: p.evalBatch ?? batch, seed, workers, checkpointDir: ctx.checkpointDir, runKey, signal: ctx.signal, log: (l) => ctx.log(l),
    ...(p.ft ? { ft: { ...(p.ft.epochs !== undefined ? { epochs: p.ft.epochs } : {}), ...(p.ft.warmup !== undefined ? { warmupEpochs: p.ft.warmup } : {}),
      ...(p.ft.baseLr !== undefined ? { baseLr: p.ft.baseLr } : {}), ...(p.ft.weightDecay !== undefined ? { weightDecay: p.ft.weightDecay } : {}) } } : {}),
    onEpoch: (r: EpochRecord) => ctx.log(`epoch ${r.epoch + 1}: lr ${r.lr.toExponential(3)} train loss ${r.train_loss.toFixed(4)} ${Object.entries(r.evals).map(([k, v]) => `${k} ${v.loss.toFixed(4)}/${(100 * v.top1).toFixed(1)}%`).join(' ')} (${r.imgPerSec.toFixed(1)} img/s)`),
    onProgress: (u) => ctx.progress({ phase: 'epoch', current: u.epoch, total: u.epochs, unit: 'epoch', rate: u.imgPerSec, rateUnit: 'img/s', etaSeconds: u.etaSeconds, message: `loss ${u.loss.toFixed(3)}` }),
  });
  if (!result.ok) {
    model.dispose();
    throw new Error(`training failed: ${result.error.message}`);
  }
  const history = result.value.history;
  const last = history[history.length - 1];
  const final: Record<string, number> = {};
  if (last) {
    final['train_loss'] = last.train_loss;
    final['train_top1'] = last.train_top1;
    for (const [name, m] of Object.entries(last.evals)) {
      const key = name === spec.valSplit ? 'val' : name === spec.testSplit ? 'test' : name;
      final[`${key}_top1`] = m.top1;
      final[`${key}_loss`] = m.loss;
    }
  }
  const outputs: string[] = [];
  if (spec.writePredictions && spec.testSplit !== undefined && ctx.outputs['predictions']) {
    const test = evalData.find((e) => e.name === spec.testSplit)?.data ?? asDataset(await split(taskDir, spec.testSplit));
    const ev = await evaluate(model, test, p.evalBatch ?? batch);
    await writePredictions(ctx.outputs['predictions'], {
      format: PREDICTIONS_FORMAT, task: meta.value.name, method, seed, split: spec.testSplit, top1: ev.metrics.top1,
      items: Array.from(ev.predicted, (pred, i) => ({ index: i, label: test.labels[i] as number, predicted: pred, correct: pred === test.labels[i] })),
    });
    outputs.push('predictions');
  }
  // metrics.json holds what the computation determines, so it is byte-identical wherever the run is
  // deterministic: the backend and its version and the shard count (they shape the numbers), not the
  // machine (CPU model, threads, what other backends failed with), the speed or a resume. Those go
  // to the run record (StageRunResult.environment), which `pipeline show` prints.
  const compute = { backend: backend.value.backend, tfBackend: backend.value.tfBackend, tfjsVersion: backend.value.tfjsVersion, simd: backend.value.simd, workers };
  const env = {
    ...backendEnvironment(backend.value),
    workers,
    imgPerSec: meanRate(history),
    resumedFromEpoch: result.value.resumedFrom,
  };
  await saveModel(ctx.outputs['model'] as string, model, { task: meta.value.name, method, seed: String(seed) });
  await writeRunMetrics(ctx.outputs['metrics'] as string, {
    format: RUN_METRICS_FORMAT,
    task: meta.value.name, group: meta.value.group, disparity: meta.value.disparity, method, seed, baseLr, weightDecay,
    lr: (baseLr * batch) / 256, epochs, warmup, batch, workers, promptLength: model.config.promptLength, promptDropout: model.config.promptDropout,
    trainSplit: spec.trainSplit, valSplit: spec.valSplit ?? null, testSplit: spec.testSplit ?? null, init: p.init ?? null,
    params: counts, phases: result.value.phases.map((ph) => ({ name: ph.name, start: ph.start, epochs: ph.epochs, warmup: ph.warmupEpochs, baseLr: ph.baseLr, weightDecay: ph.weightDecay, optimizer: ph.optimizer })),
    checkpointBlocks: model.checkpointBlocks, environment: compute, final, history: history.map(({ imgPerSec: _speed, ...epoch }) => epoch),
  });
  model.dispose();
  if (result.value.resumedFrom > 0) notes.push(`resumed from the checkpoint after epoch ${result.value.resumedFrom}`);
  return { metrics: final, environment: env, notes };
}

/** Every output says the run was skipped and why (the data stage's note for the split, when it left one). */
async function skipRun(ctx: StageContext<TrainVitParams>, meta: TaskMeta, method: Method, seed: number, trainSplit: string): Promise<StageRunResult> {
  const size = /^size(\d+)-/.exec(trainSplit)?.[1];
  const note = meta.notes?.find((n) => (size !== undefined ? n.startsWith(`data-size ${size} `) : n.includes(trainSplit)));
  const reason = note ?? `split ${trainSplit} is not in ${meta.name}'s task.json`;
  const doc = { format: SKIPPED_RUN_FORMAT, task: meta.name, method, seed, trainSplit, reason } as const;
  for (const path of Object.values(ctx.outputs)) await writeSkippedRun(path, doc);
  ctx.log(`skipped: ${reason}`);
  return { metrics: { skipped: 1 }, notes: [`skipped: ${reason}`] };
}

/** Mean training throughput over the epochs of the run, for the run record (a resumed run includes the epochs of the process before). */
function meanRate(history: readonly EpochRecord[]): number {
  const rates = history.map((r) => r.imgPerSec).filter((r) => Number.isFinite(r) && r > 0);
  return rates.length === 0 ? 0 : Math.round((rates.reduce((a, b) => a + b, 0) / rates.length) * 10) / 10;
}
