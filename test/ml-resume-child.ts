/**
 * Child process of the kill-and-resume test: trains a tiny ViT with dropout on seeded synthetic
 * data, checkpointing every epoch to argv[2]; on completion writes the final parameters and
 * per-epoch metrics to argv[3]. argv[4] = backend, argv[5] = delay per step in ms (so the parent
 * can SIGKILL it mid-training), argv[6] = data-parallel workers (default 2).
 */
import { writeFile } from 'node:fs/promises';
import { createViT, paramsToNamed, selectBackend, train } from '../src/ml/index.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { randomData, tinyWith } from './ml-helpers.js';

const [dir, out, backend = 'cpu', delay = '0', workers = '2'] = process.argv.slice(2);
if (!dir || !out) throw new Error('usage: ml-resume-child <checkpointDir> <out> [backend] [delayMs]');
const b = await selectBackend(backend);
if (!b.ok) throw new Error(b.error.message);
const cfg = tinyWith({ dropout: 0.1, promptLength: 2, promptDropout: 0.1 });
const m = createViT(cfg, 7);
if (!m.ok) throw new Error(m.error.message);
const ms = Number(delay);
const r = await train({
  model: m.value, method: 'mixed', train: randomData(24, 1), evals: [{ name: 'val', data: randomData(8, 2) }],
  epochs: 6, warmupEpochs: 2, batchSize: 8, baseLr: 1, weightDecay: 0.01, seed: 42, checkpointDir: dir, runKey: 'child', workers: Number(workers),
  onStep: ms > 0 ? () => new Promise((res) => setTimeout(res, ms)) : undefined,
});
if (!r.ok) throw new Error(r.error.message);
const curves = r.value.history.map((h) => ({ epoch: h.epoch, lr: h.lr, train_loss: h.train_loss, train_top1: h.train_top1, evals: h.evals }));
await writeFile(out, encodeSafetensors(paramsToNamed(m.value), { curves: JSON.stringify(curves), resumedFrom: String(r.value.resumedFrom) }));
