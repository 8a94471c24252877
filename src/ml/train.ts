/**
 * The training loop: seeded batch order, per-step deterministic dropout, per-epoch lr schedule,
 * per-epoch evaluation (the overfitting curves), and a checkpoint after every epoch from which a
 * killed run resumes to bitwise the same weights and metrics.
 *
 * Determinism: epoch e's batch order comes from a run-level RNG (its state is checkpointed) forked
 * per epoch; step s's dropout masks are seeded by mix(seed, e, s). Nothing else is random.
 *
 * Each step goes through the data-parallel stepper (parallel/stepper.ts): with `workers` W > 1
 * the batch is split over the main thread and W - 1 worker threads. Results are bitwise
 * reproducible for a given W but differ slightly between W values, so W belongs in the run key.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdir } from 'node:fs/promises';
import { numPatches } from './config.js';
import { gatherRows, patchify, type Dataset } from './data.js';
import { loadTrainState, saveTrainState, type CheckpointError } from './checkpoint.js';
import { planPhases, type Method, type Phase, type PhaseSettings } from './methods.js';
import { crossEntropy } from './loss.js';
import { lrAt, Optimizer } from './optim.js';
import { assignParams } from './params.js';
import { createStepper, defaultWorkers, type TrainStepper } from './parallel/stepper.js';
import { currentBackend } from './backend.js';
import { mixSeed, type ViT } from './vit.js';
import { createRng } from '../util/rng.js';
import { err, ok, type Result } from '../util/result.js';

export interface SplitMetrics {
  readonly loss: number;
  readonly top1: number;
}

export interface EpochRecord {
  readonly epoch: number;
  readonly phase: string;
  readonly lr: number;
  readonly train_loss: number;
  /** Top-1 on the training batches as seen during the epoch (dropout on). */
  readonly train_top1: number;
  readonly evals: Readonly<Record<string, SplitMetrics>>;
  readonly imgPerSec: number;
}

export interface StepInfo {
  readonly epoch: number;
  readonly step: number;
  readonly stepsPerEpoch: number;
  readonly loss: number;
}

export interface TrainProgress {
  readonly epoch: number;
  readonly epochs: number;
  readonly imgPerSec: number;
  readonly etaSeconds: number;
  readonly loss: number;
}

export interface TrainOptions extends PhaseSettings {
  readonly model: ViT;
  readonly method: Method;
  readonly train: Dataset;
  /** Evaluated after every epoch, in this order (e.g. val200 and test). */
  readonly evals?: ReadonlyArray<{ readonly name: string; readonly data: Dataset }>;
  readonly batchSize: number;
  readonly evalBatchSize?: number;
  readonly seed: number;
  /**
   * Shards per training batch, each on its own thread (the main thread and W - 1 workers). Default
   * `defaultWorkers(backend)`: 2 on wasm and cpu, 1 on tfjs-node. Changes results slightly (the
   * gradient's summation order and the dropout masks of shards >= 1), so it belongs in `runKey`.
   */
  readonly workers?: number;
  /** FT phase of ft-then-pt. */
  readonly ft?: Partial<PhaseSettings>;
  /** Resume from / checkpoint to this folder after every epoch. */
  readonly checkpointDir?: string;
  /** Identifies the run's settings; a checkpoint with another key is ignored (not resumed). */
  readonly runKey?: string;
  readonly signal?: AbortSignal;
  /** Stop cleanly after this many epochs are complete (deterministic interruption, tests). */
  readonly stopAfterEpochs?: number;
  readonly onStep?: (s: StepInfo) => void | Promise<void>;
  readonly onEpoch?: (r: EpochRecord) => void;
  /** Throttled to about 2 calls a second. */
  readonly onProgress?: (p: TrainProgress) => void;
  readonly log?: (line: string) => void;
}

export interface TrainOutcome {
  readonly history: EpochRecord[];
  /** False when stopped early by `stopAfterEpochs`. */
  readonly completed: boolean;
  /** Epochs restored from a checkpoint (0 = fresh start). */
  readonly resumedFrom: number;
  readonly phases: readonly Phase[];
}

export type TrainError =
  | { readonly reason: 'aborted'; readonly message: string; readonly epochsDone: number }
  | { readonly reason: 'bad-options'; readonly message: string }
  | { readonly reason: 'worker-failed'; readonly message: string; readonly epochsDone: number }
  | CheckpointError;

export async function train(o: TrainOptions): Promise<Result<TrainOutcome, TrainError>> {
  const { model, batchSize } = o;
  const c = model.config;
  const phases = planPhases(o.method, { epochs: o.epochs, warmupEpochs: o.warmupEpochs, baseLr: o.baseLr, weightDecay: o.weightDecay }, o.ft);
  const totalEpochs = phases.reduce((a, p) => a + p.epochs, 0);
  if (!(batchSize > 0) || o.train.count === 0) return err({ reason: 'bad-options', message: `need batchSize > 0 and a non-empty training set (batch ${batchSize}, ${o.train.count} images)` });
  if (phases.some((p) => p.mode.usePrompts) && c.promptLength === 0) return err({ reason: 'bad-options', message: `method ${o.method} needs prompts but the model has promptLength 0` });
  const backendName = currentBackend()?.backend ?? tf.getBackend();
  const workers = o.workers ?? defaultWorkers(backendName);
  if (!Number.isInteger(workers) || workers < 1) return err({ reason: 'bad-options', message: `workers must be an integer >= 1, got ${workers}` });
  // Images are patchified batch by batch: a whole-split copy would double peak memory.
  const rowSize = numPatches(c) * c.patchSize * c.patchSize * c.channels;
  const evalSets = o.evals ?? [];
  const runKey = o.runKey ?? '';

  let runRng = createRng(o.seed);
  let history: EpochRecord[] = [];
  let epochsDone = 0;
  let optimizer: Optimizer | undefined;
  let optimizerPhase = '';
  const phaseOf = (epoch: number): Phase => phases.find((p) => epoch >= p.start && epoch < p.start + p.epochs) ?? (phases[phases.length - 1] as Phase);

  if (o.checkpointDir) {
    await mkdir(o.checkpointDir, { recursive: true });
    const saved = await loadTrainState(o.checkpointDir);
    if (!saved.ok) return saved;
    const s = saved.value;
    if (s && s.runKey === runKey && s.epochsDone <= totalEpochs) {
      const assigned = assignParams(model, s.params);
      if (!assigned.ok) return err({ reason: 'bad-checkpoint', message: assigned.error.message, path: o.checkpointDir });
      epochsDone = s.epochsDone;
      history = JSON.parse(s.history) as EpochRecord[];
      runRng = createRng(o.seed, s.rngState);
      // Slots belong to the phase that wrote them; a run resumed at a phase boundary starts the new phase's optimizer fresh.
      if (epochsDone < totalEpochs && s.phase === phaseOf(epochsDone).name) {
        const ph = phaseOf(epochsDone);
        optimizer = new Optimizer({ kind: ph.optimizer, weightDecay: ph.weightDecay });
        optimizer.loadState(s.optimizerStep, s.optimizerSlots);
        optimizerPhase = ph.name;
      }
      o.log?.(`resumed from checkpoint after epoch ${epochsDone}`);
    } else if (s) {
      o.log?.('checkpoint belongs to other settings: starting fresh');
    }
  }
  const resumedFrom = epochsDone;
  const stepsPerEpoch = Math.ceil(o.train.count / batchSize);
  let lastProgress = 0;
  const started = Date.now();
  let imagesSeen = 0;
  let stepper: TrainStepper | undefined;

  try {
    for (let epoch = epochsDone; epoch < totalEpochs; epoch++) {
      if (o.stopAfterEpochs !== undefined && epoch >= o.stopAfterEpochs) {
        return ok({ history, completed: false, resumedFrom, phases });
      }
      const phase = phaseOf(epoch);
      model.mode = phase.mode;
      if (!stepper) {
        const created = await createStepper(model, { workers, backend: backendName });
        if (!created.ok) return err({ reason: 'worker-failed', message: created.error.message, epochsDone: epoch });
        stepper = created.value;
      }
      // The stepper sends the mode and all weights to its workers at its first step and whenever
      // model.mode is replaced (a new phase).
      if (!optimizer || optimizerPhase !== phase.name) {
        optimizer?.dispose();
        optimizer = new Optimizer({ kind: phase.optimizer, weightDecay: phase.weightDecay });
        optimizerPhase = phase.name;
      }
      const lr = lrAt(epoch - phase.start, { baseLr: phase.baseLr, batchSize, epochs: phase.epochs, warmupEpochs: phase.warmupEpochs });
      const order = runRng.fork(epoch).shuffle(Array.from({ length: o.train.count }, (_, i) => i));
      let lossSum = 0;
      let correct = 0;
      const t0 = Date.now();
      for (let step = 0; step < stepsPerEpoch; step++) {
        if (o.signal?.aborted) return err({ reason: 'aborted', message: `aborted during epoch ${epoch}`, epochsDone: epoch });
        const idx = order.slice(step * batchSize, (step + 1) * batchSize);
        const B = idx.length;
        const labels = Int32Array.from(idx, (i) => o.train.labels[i] as number);
        const patches = patchify(gatherRows(o.train.images, rowSize, idx), B, c);
        const stepped = await stepper.step({ patches, labels, count: B, dropoutSeed: mixSeed(mixSeed(o.seed, epoch), step) }, optimizer, lr);
        if (!stepped.ok) return err({ reason: 'worker-failed', message: `epoch ${epoch + 1}, step ${step + 1}: ${stepped.error.message}`, epochsDone: epoch });
        const { loss, predicted: p } = stepped.value;
        for (let i = 0; i < B; i++) if (p[i] === labels[i]) correct++;
        lossSum += loss * B;
        imagesSeen += B;
        await o.onStep?.({ epoch, step, stepsPerEpoch, loss });
        const now = Date.now();
        if (o.onProgress && now - lastProgress >= 500) {
          lastProgress = now;
          const rate = imagesSeen / Math.max(1e-3, (now - started) / 1000);
          const remaining = (totalEpochs - epoch) * o.train.count - (step + 1) * batchSize;
          o.onProgress({ epoch: epoch + 1, epochs: totalEpochs, imgPerSec: rate, etaSeconds: Math.max(0, remaining) / Math.max(rate, 1e-9), loss });
        }
      }
      const seconds = (Date.now() - t0) / 1000;
      const evals: Record<string, SplitMetrics> = {};
      for (const e of evalSets) evals[e.name] = (await evaluate(model, e.data, o.evalBatchSize ?? batchSize)).metrics;
      const record: EpochRecord = {
        epoch, phase: phase.name, lr, train_loss: lossSum / o.train.count, train_top1: correct / o.train.count, evals,
        imgPerSec: o.train.count / Math.max(seconds, 1e-6),
      };
      history.push(record);
      o.onEpoch?.(record);
      if (o.checkpointDir) {
        await saveTrainState(o.checkpointDir, model, optimizer.stateToNamed('opt/'), {
          epochsDone: epoch + 1, optimizerStep: optimizer.step, rngState: runRng.state(), history: JSON.stringify(history), runKey, phase: phase.name,
        });
      }
    }
  } finally {
    optimizer?.dispose();
    await stepper?.dispose();
  }
  // Leave the model in the final phase's mode (prompts in use for ft-then-pt).
  model.mode = (phases[phases.length - 1] as Phase).mode;
  return ok({ history, completed: true, resumedFrom, phases });
}

export { crossEntropy };

export interface Evaluation {
  readonly metrics: SplitMetrics;
  readonly predicted: Int32Array;
}

/** Eval-mode loss/top-1 and per-image predictions over a dataset. */
export async function evaluate(model: ViT, data: Dataset, batchSize = 64): Promise<Evaluation> {
  const c = model.config;
  const { labels, count } = data;
  const N = numPatches(c);
  const rowSize = N * c.patchSize * c.patchSize * c.channels;
  const predicted = new Int32Array(count);
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < count; start += batchSize) {
    const B = Math.min(batchSize, count - start);
    const [lossT, predT] = tf.tidy(() => {
      const x = tf.tensor3d(patchify(data.images.subarray(start * rowSize, (start + B) * rowSize), B, c), [B, N, rowSize / N]);
      const y = tf.tensor1d(labels.subarray(start, start + B), 'int32');
      const logits = model.forwardPatches(x, { training: false });
      return [tf.mul(crossEntropy(logits, y, c.numClasses), B), tf.argMax(logits, 1)];
    });
    lossSum += (await lossT.data())[0] as number;
    const p = await predT.data();
    for (let i = 0; i < B; i++) {
      predicted[start + i] = p[i] as number;
      if (p[i] === labels[start + i]) correct++;
    }
    tf.dispose([lossT, predT]);
  }
  return { metrics: { loss: count > 0 ? lossSum / count : NaN, top1: count > 0 ? correct / count : NaN }, predicted };
}
