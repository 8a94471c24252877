/**
 * Training throughput of the ML core (img/s) on the vtab-mini model (32x32x1, patch 4, width 64,
 * depth 4, 4 heads, MLP x4, batch 64) for FT and VPT-deep, and a ViT-B/16 training step at batch 8.
 * A training step is the one `train()` runs: JS patchify, then the data-parallel stepper
 * (src/ml/parallel/stepper.ts) with `--workers` shards, the optimizer and the weight publish.
 * Usage: node --import tsx bench/train-speed.ts [backend=wasm] [steps=6] [--workers=N] [--vitb | --vitb-only] [--methods=forward,ft,vpt-deep] [--kernels=fast|plain]
 * --workers defaults to train()'s default for the backend (2 on wasm/cpu).
 * Prints one JSON line per measurement (for bench/train-compare.ts). cpuSec counts every thread of the process.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createStepper, createViT, defaultWorkers, methodMode, mixSeed, Optimizer, patchify, selectBackend, VIT_B16, VIT_MINI, type Kernels, type ViTConfig } from '../src/ml/index.js';
import { createRng } from '../src/util/rng.js';

const args = process.argv.slice(2);
const positional = args.filter((a) => !a.startsWith('--'));
const backend = positional[0] ?? 'wasm';
const steps = Number(positional[1] ?? 6);
const kernels = (args.find((a) => a.startsWith('--kernels='))?.split('=')[1] ?? 'fast') as Kernels;
// --methods=forward,vpt-deep limits the ViT-B/16 measurements (each in this one process).
const only = args.find((a) => a.startsWith('--methods='))?.split('=')[1]?.split(',');
const b = await selectBackend(backend);
if (!b.ok) throw new Error(b.error.message);
const workersArg = args.find((a) => a.startsWith('--workers='))?.split('=')[1];
const workers = workersArg !== undefined ? Number(workersArg) : defaultWorkers(b.value.backend);

async function measure(name: string, cfg: ViTConfig, method: 'ft' | 'vpt-deep' | 'forward', batch: number, nSteps: number): Promise<void> {
  if (only && !only.includes(method)) return;
  try {
    await measureOnce(name, cfg, method, batch, nSteps);
  } catch (e) {
    // e.g. the wasm heap (4 GiB) running out: report it rather than a number.
    console.log(JSON.stringify({ name, method, backend, error: (e as Error).message.split('\n')[0] }));
  }
}

async function measureOnce(name: string, cfg: ViTConfig, method: 'ft' | 'vpt-deep' | 'forward', batch: number, nSteps: number): Promise<void> {
  const m = createViT(cfg, 1);
  if (!m.ok) throw new Error(m.error.message);
  const model = m.value;
  model.kernels = kernels;
  // ViT-B/16 training only fits the 4 GiB wasm heap with per-block recomputation.
  model.checkpointBlocks = name === 'vit-b16';
  model.mode = methodMode(method === 'forward' ? 'linear' : method);
  const opt = new Optimizer({ kind: method === 'ft' ? 'adamw' : 'sgd', weightDecay: 0.01 });
  const rng = createRng(3);
  const images = Float32Array.from({ length: batch * cfg.imageSize * cfg.imageSize * cfg.channels }, () => rng.normal());
  const labels = Int32Array.from({ length: batch }, (_, i) => i % cfg.numClasses);
  const x = tf.tensor4d(images, [batch, cfg.imageSize, cfg.imageSize, cfg.channels]);
  // Forward only: one thread, as evaluation runs.
  const stepWorkers = method === 'forward' ? 1 : workers;
  const stepper = await createStepper(model, { workers: stepWorkers, backend: b.ok ? b.value.backend : backend });
  if (!stepper.ok) throw new Error(stepper.error.message);
  let stepNo = 0;
  const step = async (): Promise<void> => {
    if (method === 'forward') {
      const logits = tf.tidy(() => model.forward(x));
      await logits.data();
      logits.dispose();
      return;
    }
    const r = await stepper.value.step({ patches: patchify(images, batch, cfg), labels, count: batch, dropoutSeed: mixSeed(1, stepNo++) }, opt, 0.001);
    if (!r.ok) throw new Error(r.error.message);
  };
  try {
    await step(); // warm-up (kernel set-up, first allocations, the workers' first phase)
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let i = 0; i < nSteps; i++) await step();
    const sec = (performance.now() - t0) / 1000;
    const cu = process.cpuUsage(c0);
    const cpuSec = (cu.user + cu.system) / 1e6;
    console.log(JSON.stringify({ name, method, backend: b.ok ? b.value.backend : backend, simd: b.ok && b.value.simd, kernels, workers: stepWorkers, checkpointBlocks: model.checkpointBlocks, batch, steps: nSteps, msPerStep: (1000 * sec) / nSteps, imgPerSec: (batch * nSteps) / sec, cpuSec, imgPerCpuSec: (batch * nSteps) / cpuSec }));
  } finally {
    await stepper.value.dispose();
    x.dispose();
    opt.dispose();
    model.dispose();
  }
}

const mini: ViTConfig = { ...VIT_MINI, numClasses: 10, dropout: 0.1 };
if (!args.includes('--vitb-only')) {
  await measure('mini', mini, 'ft', 64, steps);
  await measure('mini', { ...mini, promptLength: 10, promptMode: 'deep', promptDropout: 0.1 }, 'vpt-deep', 64, steps);
}
if (args.includes('--vitb') || args.includes('--vitb-only')) {
  await measure('vit-b16', { ...VIT_B16, numClasses: 100 }, 'forward', 8, 2);
  await measure('vit-b16', { ...VIT_B16, numClasses: 100 }, 'ft', 8, 2);
  await measure('vit-b16', { ...VIT_B16, numClasses: 100, promptLength: 10, promptDropout: 0.1 }, 'vpt-deep', 8, 2);
}
