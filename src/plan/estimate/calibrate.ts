/**
 * `--calibrate`: time a few real training steps of the reference model on the backend selected
 * here, through the same stepper `train()` uses (src/ml/parallel/stepper.ts), and turn them into
 * FLOP rates per kind of pass (flops.ts). TensorFlow.js loads only here.
 *
 * A ViT-B/16 step takes minutes on a CPU backend, so a big model is timed with fewer blocks
 * (same image size, patches, width, heads and MLP, so the same matrix shapes) and a small batch,
 * and the FLOP rate carries over to the full depth. Fixed per-step costs (patchify, worker
 * messages, the optimizer) are then counted as if they grew with the FLOPs: a small overestimate.
 */
import type { ViTConfig } from '../../ml/config.js';
import { numPatches } from '../../ml/config.js';
import { err, ok, type Result } from '../../util/result.js';
import { flopsPerImage, recomputesBlocks } from './flops.js';
import type { Rates, Reference } from './index.js';

export interface CalibrationPlan {
  /** The reference architecture with `depth` blocks. */
  readonly config: ViTConfig;
  readonly fullDepth: number;
  readonly batch: number;
  readonly workers: number;
  /** Timed steps per pass, after one warm-up step. */
  readonly steps: number;
  /** Prompts per layer for the frozen-backbone (VPT-deep) measurement. */
  readonly promptLength: number;
}

/** About one to three seconds a step on this repository's 2-core CPU machines (~20-40 GFLOP/s on wasm). */
const STEP_BUDGET_FLOPS = 40e9;

export function planCalibration(ref: Reference, backend: string | undefined, steps = 3): CalibrationPlan {
  const workers = Math.max(1, ref.workers);
  const minBatch = 2 * workers;
  const perImage = (depth: number): number => flopsPerImage({ ...ref.model, depth }, 'full', 0, recomputesBlocks(ref.model, backend));
  let depth = ref.model.depth;
  let batch = Math.min(ref.batch, Math.max(minBatch, Math.floor(STEP_BUDGET_FLOPS / perImage(depth))));
  while (depth > 1 && perImage(depth) * batch > STEP_BUDGET_FLOPS) depth--;
  batch = Math.max(minBatch, Math.min(ref.batch, Math.floor(STEP_BUDGET_FLOPS / perImage(depth))));
  return { config: { ...ref.model, depth }, fullDepth: ref.model.depth, batch, workers, steps, promptLength: 10 };
}

export interface Measurement {
  readonly pass: 'full' | 'frozen' | 'eval';
  /** The method timed: ft, vpt-deep, or a forward pass in eval mode. */
  readonly as: string;
  readonly msPerStep: number;
  readonly flopsPerStep: number;
  readonly flopsPerSecond: number;
}

export interface Calibration {
  readonly plan: CalibrationPlan;
  readonly backend: { readonly name: string; readonly tfjsVersion: string; readonly simd: boolean; readonly cpuModel: string; readonly cpuCount: number };
  readonly recompute: boolean;
  readonly measurements: readonly Measurement[];
  readonly rates: Rates;
}

export type CalibrationError =
  | { readonly reason: 'unknown-backend'; readonly message: string }
  | { readonly reason: 'unavailable' | 'failed'; readonly message: string };

export async function calibrate(plan: CalibrationPlan, backend: string | undefined, log?: (line: string) => void): Promise<Result<Calibration, CalibrationError>> {
  const tf = await import('@tensorflow/tfjs-core');
  const ml = await import('../../ml/index.js');
  const { createRng } = await import('../../util/rng.js');
  const selected = await ml.selectBackend(backend);
  if (!selected.ok) return err(selected.error);
  const b = selected.value;
  const recompute = recomputesBlocks(plan.config, b.backend);
  const { batch } = plan;
  const measurements: Measurement[] = [];
  for (const pass of ['full', 'frozen', 'eval'] as const) {
    const prompts = pass === 'frozen' ? plan.promptLength : 0;
    const cfg: ViTConfig = { ...plan.config, numClasses: 10, promptLength: prompts, promptMode: 'deep', promptDropout: prompts > 0 ? 0.1 : 0 };
    const created = ml.createViT(cfg, 1);
    if (!created.ok) return err({ reason: 'failed', message: created.error.message });
    const model = created.value;
    model.checkpointBlocks = recompute;
    model.mode = ml.methodMode(pass === 'full' ? 'ft' : pass === 'frozen' ? 'vpt-deep' : 'linear');
    const rng = createRng(3);
    const images = Float32Array.from({ length: batch * cfg.imageSize * cfg.imageSize * cfg.channels }, () => rng.normal());
    const labels = Int32Array.from({ length: batch }, (_, i) => i % cfg.numClasses);
    const patches = ml.patchify(images, batch, cfg);
    const N = numPatches(cfg);
    let stepper: Awaited<ReturnType<typeof ml.createStepper>> | undefined;
    const optimizer = new ml.Optimizer({ kind: pass === 'full' ? 'adamw' : 'sgd', weightDecay: 0.01 });
    try {
      if (pass !== 'eval') {
        stepper = await ml.createStepper(model, { workers: plan.workers, backend: b.backend });
        if (!stepper.ok) return err({ reason: 'failed', message: stepper.error.message });
      }
      let stepNo = 0;
      const step = async (): Promise<Result<void, CalibrationError>> => {
        if (pass === 'eval') {
          // As evaluate() does: one thread, eval mode.
          const logits = tf.tidy(() => model.forwardPatches(tf.tensor3d(patches, [batch, N, patches.length / (batch * N)]), { training: false }));
          await logits.data();
          logits.dispose();
          return ok(undefined);
        }
        if (!stepper?.ok) return err({ reason: 'failed', message: 'no stepper' });
        const r = await stepper.value.step({ patches, labels, count: batch, dropoutSeed: ml.mixSeed(1, stepNo++) }, optimizer, 0.001);
        return r.ok ? ok(undefined) : err({ reason: 'failed', message: r.error.message });
      };
      const warm = await step();
      if (!warm.ok) return warm;
      const t0 = performance.now();
      for (let i = 0; i < plan.steps; i++) {
        const r = await step();
        if (!r.ok) return r;
      }
      const msPerStep = (performance.now() - t0) / plan.steps;
      const flopsPerStep = batch * flopsPerImage(cfg, pass, prompts, pass === 'eval' ? false : recompute);
      const m: Measurement = { pass, as: pass === 'full' ? 'ft' : pass === 'frozen' ? `vpt-deep (${prompts} prompts)` : 'forward (eval)', msPerStep, flopsPerStep, flopsPerSecond: flopsPerStep / (msPerStep / 1000) };
      measurements.push(m);
      log?.(`calibration: ${m.as} ${msPerStep.toFixed(0)} ms/step, ${(m.flopsPerSecond / 1e9).toFixed(1)} GFLOP/s`);
    } catch (e) {
      return err({ reason: 'failed', message: (e as Error).message.split('\n')[0] ?? 'calibration step failed' });
    } finally {
      if (stepper?.ok) await stepper.value.dispose();
      optimizer.dispose();
      model.dispose();
    }
  }
  const rate = (pass: Measurement['pass']): number => measurements.find((m) => m.pass === pass)?.flopsPerSecond ?? NaN;
  return ok({
    plan,
    backend: { name: b.backend, tfjsVersion: b.tfjsVersion, simd: b.simd, cpuModel: b.cpuModel, cpuCount: b.cpuCount },
    recompute,
    measurements,
    rates: { full: rate('full'), frozen: rate('frozen'), head: rate('eval'), eval: rate('eval') },
  });
}
