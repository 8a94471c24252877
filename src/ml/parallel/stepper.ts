/**
 * The training step, optionally data parallel over worker threads. `train()` and
 * bench/train-speed.ts both step through this, so the benchmark measures the code users run.
 *
 * With `workers: W` the batch is cut into W contiguous shards (sizes differ by at most one, the
 * larger ones first). Shard 0 runs on the main thread; shard k >= 1 on worker thread k, which has
 * its own TensorFlow.js instance on the same backend and a copy of the model. Each shard computes
 * the gradient of its mean loss; the main thread combines them as g = (n0·g0 + n1·g1 + ...) / B,
 * summed in shard order in float64 (deterministic), runs the optimizer once and publishes the new
 * trainable values through shared memory before the next step. Frozen parameters never move, so
 * they are sent once per phase (with the mode: which parameters train, whether prompts are used).
 *
 * Dropout: shard 0 uses the step's seed, shard k >= 1 mixSeed(stepSeed, k), so the shards draw
 * different masks. Results are bitwise reproducible for a fixed W, but differ between W values:
 * the gradient is summed in another order and the masks of shards >= 1 differ. W is therefore
 * an explicit setting (part of a run's key), never derived from the machine.
 *
 * wasm threads do not work in Node here, so worker threads are how training uses a second core.
 */
import type { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Optimizer } from '../optim.js';
import { mixSeed, type ModelMode, type ViT } from '../vit.js';
import { err, ok, type Result } from '../../util/result.js';
import { flatLayout, type FromWorker, type ToWorker, type WorkerInit } from './protocol.js';
import { shardGradients, type Shard } from './shard.js';

export interface StepBatch {
  /** Patchified images [count, N, p·p·C]. */
  readonly patches: Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
  /** The step's dropout seed (shard 0 uses it as is). */
  readonly dropoutSeed: number;
}

export interface StepOutcome {
  /** Mean loss over the whole batch. */
  readonly loss: number;
  /** Predicted class per image, in batch order. */
  readonly predicted: Int32Array;
}

export type StepperError = { readonly reason: 'worker-failed'; readonly message: string; readonly worker: number };

export interface StepperOptions {
  /** Shards per batch: 1 = everything on the calling thread. */
  readonly workers: number;
  /** Backend the worker threads select; default the one selected in this thread. */
  readonly backend: string;
  /** How long a worker may take to start its backend (default 120 s). */
  readonly startTimeoutMs?: number;
}

// The default worker count lives with the backend names, so the planner can resolve it light.
export { defaultWorkers } from '../backend-name.js';

/** Shard sizes of a batch of `count` over `workers`: contiguous, the larger first, zeros dropped. */
export function shardSizes(count: number, workers: number): number[] {
  const base = Math.floor(count / workers);
  const rem = count % workers;
  return Array.from({ length: workers }, (_, k) => base + (k < rem ? 1 : 0)).filter((n) => n > 0);
}

/** How a worker thread starts: the built .js entry, or the .ts entry behind tsx's loader (tests, benches). */
function workerEntry(): { url: URL; entry?: string } {
  if (fileURLToPath(import.meta.url).endsWith('.ts')) {
    // `--import tsx` in a worker's execArgv does not reach the worker's module loader on Node 20,
    // so a plain .mjs file registers tsx in the worker and then imports the TypeScript entry.
    return { url: new URL('./tsx-bootstrap.mjs', import.meta.url), entry: new URL('./worker.ts', import.meta.url).href };
  }
  return { url: new URL('./worker.js', import.meta.url) };
}

type Reply = Exclude<FromWorker, { type: 'failed' }>;

/** One worker thread: at most one request in flight; a crash fails it (and every later request). */
class Thread {
  readonly worker: Worker;
  readonly index: number;
  #pending: ((r: Result<Reply, string>) => void) | undefined;
  #failure: string | undefined;
  #closing = false;

  constructor(worker: Worker, index: number) {
    this.worker = worker;
    this.index = index;
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'failed') this.#fail(m.message);
      else this.#settle(ok(m));
    });
    worker.on('error', (e: Error) => this.#fail(`threw: ${e.message}`));
    worker.on('messageerror', (e: Error) => this.#fail(`sent an unreadable message: ${e.message}`));
    worker.on('exit', (code: number) => {
      if (!this.#closing) this.#fail(`exited with code ${code}`);
    });
  }

  get failure(): string | undefined {
    return this.#failure;
  }

  /** Waits for the next reply (the first one, `ready`, comes unasked). */
  next(): Promise<Result<Reply, string>> {
    if (this.#failure !== undefined) return Promise.resolve(err(this.#failure));
    this.worker.ref();
    return new Promise((resolve) => {
      this.#pending = resolve;
    });
  }

  request(m: ToWorker, transfer: ArrayBuffer[] = []): Promise<Result<Reply, string>> {
    const reply = this.next();
    if (this.#failure === undefined) this.worker.postMessage(m, transfer);
    return reply;
  }

  #settle(r: Result<Reply, string>): void {
    const p = this.#pending;
    this.#pending = undefined;
    // Idle workers must not keep the process alive.
    this.worker.unref();
    p?.(r);
  }

  #fail(message: string): void {
    if (this.#failure !== undefined) return;
    this.#failure = message;
    this.#settle(err(message));
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#fail('stopped');
    await this.worker.terminate();
  }
}

interface PhaseLayout {
  readonly mode: ModelMode;
  readonly trainable: readonly string[];
  readonly offsets: Map<string, number>;
  readonly params: Float32Array;
  readonly grads: Float32Array[];
  readonly control: Int32Array;
}

export class TrainStepper {
  readonly model: ViT;
  readonly workers: number;
  readonly #threads: Thread[];
  #phase: PhaseLayout | undefined;
  #version = 0;
  #disposed = false;

  constructor(model: ViT, workers: number, threads: Thread[]) {
    this.model = model;
    this.workers = workers;
    this.#threads = threads;
  }

  /** The worker threads (shard k runs on threads[k - 1]); tests use them to simulate a crash. */
  get threads(): readonly Worker[] {
    return this.#threads.map((t) => t.worker);
  }

  /**
   * Sends the model's mode and every parameter's values to the workers. `step` does it by itself
   * when `model.mode` has been replaced (a new phase); call it after changing weights otherwise.
   */
  async resync(): Promise<Result<void, StepperError>> {
    const model = this.model;
    const mode = model.mode;
    const nameOf = new Map(model.specs.map((s) => [model.p(s.name).name, s.name]));
    const trainable = model.trainableVariables().map((v) => nameOf.get(v.name) ?? v.name);
    if (this.#threads.length === 0) {
      this.#phase = { mode, trainable, offsets: new Map(), params: new Float32Array(0), grads: [], control: new Int32Array(2) };
      return ok(undefined);
    }
    const { offsets, total } = flatLayout(trainable, (n) => model.p(n).size);
    const paramsBuf = new SharedArrayBuffer(total * 4);
    const controlBuf = new SharedArrayBuffer(8);
    const gradBufs = this.#threads.map(() => new SharedArrayBuffer(total * 4));
    const values: Record<string, Float32Array> = {};
    for (const s of model.specs) values[s.name] = model.p(s.name).dataSync().slice() as Float32Array;
    this.#version = 0;
    const replies = await Promise.all(this.#threads.map((t, i) => t.request({ type: 'phase', mode, trainable, values, params: paramsBuf, grads: gradBufs[i] as SharedArrayBuffer, control: controlBuf })));
    const failed = this.#firstFailure(replies);
    if (failed) return failed;
    this.#phase = { mode, trainable, offsets, params: new Float32Array(paramsBuf), grads: gradBufs.map((b) => new Float32Array(b)), control: new Int32Array(controlBuf) };
    return ok(undefined);
  }

  /** One optimizer step on one batch: gradients of every shard, combined, one update. */
  async step(batch: StepBatch, optimizer: Optimizer, lr: number): Promise<Result<StepOutcome, StepperError>> {
    if (this.#disposed) return err({ reason: 'worker-failed', message: 'the stepper was disposed', worker: 0 });
    if (!this.#phase || this.#phase.mode !== this.model.mode) {
      const synced = await this.resync();
      if (!synced.ok) return synced;
    }
    const phase = this.#phase as PhaseLayout;
    const sizes = shardSizes(batch.count, this.workers);
    const row = batch.patches.length / batch.count;
    const B = batch.count;
    // Worker shards first, so they compute while this thread does shard 0.
    const replies: Array<Promise<Result<Reply, string>>> = [];
    let start = sizes[0] as number;
    for (let k = 1; k < sizes.length; k++) {
      const n = sizes[k] as number;
      const patches = batch.patches.slice(start * row, (start + n) * row);
      const labels = batch.labels.slice(start, start + n);
      const seed = mixSeed(batch.dropoutSeed, k);
      replies.push((this.#threads[k - 1] as Thread).request({ type: 'step', paramsVersion: this.#version, patches, labels, count: n, dropoutSeed: seed }, [patches.buffer, labels.buffer]));
      start += n;
    }
    const n0 = sizes[0] as number;
    const own: Shard = { patches: batch.patches.subarray(0, n0 * row), labels: batch.labels.subarray(0, n0), count: n0, dropoutSeed: batch.dropoutSeed };
    const r0 = await shardGradients(this.model, own);
    if (replies.length === 0) {
      // A batch too small to shard (one image): the workers still need the new weights.
      this.#update(optimizer, r0.grads, lr);
      return ok({ loss: r0.loss, predicted: r0.predicted });
    }
    const done = await Promise.all(replies);
    const failed = this.#firstFailure(done);
    if (failed) {
      for (const g of r0.grads.values()) g.dispose();
      return failed;
    }
    Atomics.load(phase.control, 1); // pairs with the workers' Atomics.add after writing their gradients
    const combined = new Map<string, Float32Array>();
    for (const [name, t] of r0.grads) {
      const g0 = t.dataSync() as Float32Array;
      t.dispose();
      const off = phase.offsets.get(name);
      if (off === undefined) throw new Error(`internal: ${name} is not in the phase's layout`);
      const out = new Float32Array(g0.length);
      for (let i = 0; i < g0.length; i++) {
        let acc = n0 * (g0[i] as number);
        for (let k = 1; k < sizes.length; k++) acc += (sizes[k] as number) * ((phase.grads[k - 1] as Float32Array)[off + i] as number);
        out[i] = acc / B;
      }
      combined.set(name, out);
    }
    this.#update(optimizer, combined, lr);
    let lossSum = n0 * r0.loss;
    const predicted = new Int32Array(B);
    predicted.set(r0.predicted, 0);
    let at = n0;
    done.forEach((d, i) => {
      const r = (d as { ok: true; value: Reply }).value as Extract<Reply, { type: 'step-done' }>;
      lossSum += (sizes[i + 1] as number) * r.loss;
      predicted.set(r.predicted, at);
      at += sizes[i + 1] as number;
    });
    return ok({ loss: lossSum / B, predicted });
  }

  /** One optimizer step, its new trainable values published to the workers (if any). */
  #update(optimizer: Optimizer, grads: Parameters<Optimizer['apply']>[1], lr: number): void {
    const phase = this.#phase as PhaseLayout;
    if (this.#threads.length === 0) {
      optimizer.apply(this.model.params, grads, lr);
      return;
    }
    optimizer.apply(this.model.params, grads, lr, (name, w) => {
      const off = phase.offsets.get(name);
      if (off !== undefined) phase.params.set(w, off);
    });
    this.#version++;
    Atomics.store(phase.control, 0, this.#version);
  }

  #firstFailure(replies: ReadonlyArray<Result<Reply, string>>): { ok: false; error: StepperError } | undefined {
    const i = replies.findIndex((r) => !r.ok);
    if (i < 0) return undefined;
    const r = replies[i] as { ok: false; error: string };
    return err({ reason: 'worker-failed', message: `training worker ${i + 1} (of ${this.#threads.length}) ${r.error}`, worker: i + 1 });
  }

  /** Terminates the worker threads (idempotent). */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await Promise.all(this.#threads.map((t) => t.close()));
  }
}

const WORKER_START_TIMEOUT_MS = 120_000;

/** Starts `workers - 1` worker threads (each selects `backend` and gets a copy of the model) and waits until they are ready. */
export async function createStepper(model: ViT, o: StepperOptions): Promise<Result<TrainStepper, StepperError>> {
  if (!Number.isInteger(o.workers) || o.workers < 1) return err({ reason: 'worker-failed', message: `workers must be an integer >= 1, got ${o.workers}`, worker: 0 });
  const threads: Thread[] = [];
  if (o.workers > 1) {
    const { Worker } = await import('node:worker_threads');
    const { url, entry } = workerEntry();
    for (let k = 1; k < o.workers; k++) {
      const init: WorkerInit = { index: k, backend: o.backend, config: model.config, kernels: model.kernels, checkpointBlocks: model.checkpointBlocks, ...(entry ? { entry } : {}) };
      threads.push(new Thread(new Worker(url, { workerData: init, ...(entry ? { execArgv: [] } : {}) }), k));
    }
  }
  const stepper = new TrainStepper(model, o.workers, threads);
  // A worker starts its backend in about a second; one that never answers must not hold the stage.
  const limit = o.startTimeoutMs ?? WORKER_START_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<Result<Reply, string>>((resolve) => {
    timer = setTimeout(() => resolve(err(`did not report ready within ${limit / 1000} s`)), limit);
    timer.unref();
  });
  const ready = await Promise.all(threads.map((t) => Promise.race([t.next(), timedOut])));
  clearTimeout(timer);
  const failed = ready.findIndex((r) => !r.ok);
  if (failed >= 0) {
    await stepper.dispose();
    return err({ reason: 'worker-failed', message: `training worker ${failed + 1} did not start: ${(ready[failed] as { ok: false; error: string }).error}`, worker: failed + 1 });
  }
  return ok(stepper);
}
