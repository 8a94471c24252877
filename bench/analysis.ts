/**
 * Analysis benchmarks (run: `node --import tsx bench/analysis.ts [--n 5000] [--d 2048] [--rounds 3] [--vitb]`).
 *
 * 1. FID on d-dim features, 1,000 vs 1,000, 5,000 vs 5,000 and 5,000 vs 3,000 images (or --n n
 *    vs n): ours (float64, wasm SIMD kernels) vs the pytorch-fid route (numpy cov +
 *    scipy.linalg.sqrtm(S1 S2)) run by /usr/bin/python3 on the same features in the same run,
 *    rounds interleaved: median times, ratio, relative difference.
 * 2. GradCAM and Integrated Gradients (50 steps) per image on the ViT-mini (and ViT-B/16 with
 *    --vitb), against a plain forward pass of the same model measured in the same run.
 * Prints a Markdown block to append to bench/RESULTS.md.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { f64KernelName, featureStats, frechetDistance, gradCam, integratedGradients } from '../src/ml/analysis/index.js';
import { createViT, selectBackend, VIT_B16, VIT_MINI, type ViTConfig } from '../src/ml/index.js';
import { createRng } from '../src/util/rng.js';

const args = process.argv.slice(2);
const argNum = (name: string, fallback: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const N = argNum('--n', 5000);
const D = argNum('--d', 2048);
const RANK = 64;
const withVitB = args.includes('--vitb');
const skipFid = args.includes('--no-fid');
const skipAttribution = args.includes('--no-attribution');
const lines: string[] = [];
const cpuSeconds = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1e6;
const say = (s: string): void => {
  console.log(s);
  lines.push(s);
};

/** n x d features: a rank-64 shared factor plus per-dimension noise (full rank, structured). */
function makeFeatures(seed: number, n: number, d: number, shift: number): Float64Array {
  const rng = createRng(seed);
  const basis = new Float64Array(RANK * d);
  for (let i = 0; i < basis.length; i++) basis[i] = rng.normal() / Math.sqrt(RANK);
  const scale = Float64Array.from({ length: d }, () => 0.2 + rng.next());
  const x = new Float64Array(n * d);
  const z = new Float64Array(RANK);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < RANK; k++) z[k] = rng.normal();
    const row = i * d;
    for (let j = 0; j < d; j++) x[row + j] = shift + (scale[j] as number) * rng.normal();
    for (let k = 0; k < RANK; k++) {
      const zk = z[k] as number;
      const b = k * d;
      for (let j = 0; j < d; j++) x[row + j] = (x[row + j] as number) + zk * (basis[b + j] as number);
    }
  }
  return x;
}

const PY_FID = `
import sys, time, json, warnings, numpy as np
from scipy import linalg
warnings.simplefilter('ignore')
n1, n2, d = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
x1 = np.fromfile(sys.argv[1], dtype='<f8').reshape(n1, d)
x2 = np.fromfile(sys.argv[2], dtype='<f8').reshape(n2, d)
t0, c0 = time.perf_counter(), time.process_time()
mu1, s1 = x1.mean(0), np.cov(x1, rowvar=False)
mu2, s2 = x2.mean(0), np.cov(x2, rowvar=False)
covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
if not np.isfinite(covmean).all():
    off = np.eye(d) * 1e-6
    covmean = linalg.sqrtm((s1 + off).dot(s2 + off))
covmean = covmean.real
diff = mu1 - mu2
fid = diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
t1, c1 = time.perf_counter(), time.process_time()
import scipy
print(json.dumps({"fid": float(fid), "wall": t1 - t0, "cpu": c1 - c0, "numpy": np.__version__, "scipy": scipy.__version__}))
`;

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/**
 * One pair of feature sets, `rounds` times ours then scipy's, each from the features to the number
 * (mean, covariance or centred rows, trace term). Medians of wall and CPU time, and their ratio.
 */
async function benchFidPair(n1: number, n2: number, rounds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-fid-'));
  try {
    const x1 = makeFeatures(1, n1, D, 0);
    const x2 = makeFeatures(2, n2, D, 0.05);
    writeFileSync(join(dir, 'a.bin'), Buffer.from(x1.buffer));
    writeFileSync(join(dir, 'b.bin'), Buffer.from(x2.buffer));
    const ours: Array<{ wall: number; cpu: number; fid: number; route: string }> = [];
    const peer: Array<{ fid: number; wall: number; cpu: number; numpy: string; scipy: string }> = [];
    const load0 = loadavg()[0] ?? 0;
    for (let r = 0; r < rounds; r++) {
      const t = performance.now();
      const cpu = process.cpuUsage();
      const s1 = featureStats(x1, n1, D);
      const s2 = featureStats(x2, n2, D);
      if (!s1.ok || !s2.ok) throw new Error('stats failed');
      const f = frechetDistance(s1.value, s2.value);
      if (!f.ok) throw new Error(f.error.message);
      ours.push({ wall: (performance.now() - t) / 1000, cpu: cpuSeconds(process.cpuUsage(cpu)), fid: f.value.fid, route: `${f.value.route} (${f.value.eigenSize}x${f.value.eigenSize} eigenproblem)` });
      peer.push(JSON.parse(execFileSync('/usr/bin/python3', ['-c', PY_FID, join(dir, 'a.bin'), join(dir, 'b.bin'), String(n1), String(n2), String(D)], { encoding: 'utf8', maxBuffer: 1 << 20 })) as (typeof peer)[number]);
    }
    const load1 = loadavg()[0] ?? 0;
    const o = ours[0] as (typeof ours)[number], p = peer[0] as (typeof peer)[number];
    const ow = median(ours.map((x) => x.wall)), pw = median(peer.map((x) => x.wall));
    const oc = median(ours.map((x) => x.cpu)), pc = median(peer.map((x) => x.cpu));
    say(`| ${n1} x ${D} vs ${n2} x ${D} | ${o.route} | ${ow.toFixed(2)} s (${oc.toFixed(2)} s) | ${pw.toFixed(2)} s (${pc.toFixed(2)} s) | **${(ow / pw).toFixed(3)}** | ${(oc / pc).toFixed(3)} | ${o.fid.toPrecision(12)} | ${p.fid.toPrecision(12)} | ${(Math.abs(o.fid - p.fid) / Math.abs(p.fid)).toExponential(2)} | ${load0.toFixed(1)} / ${load1.toFixed(1)} |`);
    if (ours.some((x) => x.fid !== o.fid)) say(`| (rounds disagree: ${ours.map((x) => x.fid).join(', ')}) |`);
    fidPeerVersions = `numpy ${p.numpy}, scipy ${p.scipy}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let fidPeerVersions = '';

async function benchFid(): Promise<void> {
  const rounds = argNum('--rounds', 3);
  say(`### FID from features to the number, ${D}-d features (synthetic: rank-${RANK} factor + per-dimension noise), median of ${rounds} rounds`);
  say('');
  say(`Ours: TypeScript + wasm SIMD float64 kernels (${f64KernelName()}), the route it picks. Peer: \`/usr/bin/python3\`, the pytorch-fid route (np.cov + scipy.linalg.sqrtm(S1 S2)), same features, same run, rounds interleaved. Ratio < 1: ours is faster.`);
  say('');
  say('| sets | our route | ours: wall (CPU) | scipy: wall (CPU) | wall ratio ours/scipy | CPU ratio | FID ours | FID scipy | relative difference | load avg start / end |');
  say('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  const pairs: Array<[number, number]> = args.includes('--n') ? [[N, N]] : [[1000, 1000], [5000, 5000], [5000, 3000]];
  for (const [n1, n2] of pairs) await benchFidPair(n1, n2, rounds);
  say('');
  say(`Peer versions: ${fidPeerVersions}.`);
  say('');
}

async function benchAttribution(name: string, config: ViTConfig, images: number, igImages: number, igBatch = 10): Promise<void> {
  const built = createViT({ ...config, numClasses: 10 }, 0);
  if (!built.ok) throw new Error(built.error.message);
  const model = built.value;
  model.mode = { trainBackbone: false, trainPrompts: false, trainHead: false, usePrompts: false };
  const rng = createRng(5);
  const shape: [number, number, number, number] = [1, config.imageSize, config.imageSize, config.channels];
  const x = tf.tensor4d(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);
  const layoutVit = model.tokenLayout();
  const layout = { prefix: layoutVit.patchStart, gridH: layoutVit.gridH, gridW: layoutVit.gridW };
  const tapForward = (img: tf.Tensor4D, tap: (a: tf.Tensor3D) => tf.Tensor3D): tf.Tensor2D => model.forwardWithTap(img, { training: false, tap });
  const logitForward = (img: tf.Tensor4D): tf.Tensor2D => model.forward(img);
  // Warm-up (kernel set-up) excluded from the timings.
  tf.tidy(() => model.forward(x)).dispose();
  gradCam(tapForward, x, layout);
  let t = performance.now();
  for (let i = 0; i < images; i++) {
    const y = tf.tidy(() => model.forward(x));
    await y.data();
    y.dispose();
  }
  const fwdMs = (performance.now() - t) / images;
  t = performance.now();
  for (let i = 0; i < images; i++) {
    const r = gradCam(tapForward, x, layout);
    if (!r.ok) throw new Error(r.error.message);
  }
  const camMs = (performance.now() - t) / images;
  let igMs = NaN;
  let igErr = NaN;
  if (igImages > 0) {
    t = performance.now();
    for (let i = 0; i < igImages; i++) {
      const r = integratedGradients(logitForward, x, { steps: 50, rule: 'gauss-legendre', batchSize: igBatch });
      if (!r.ok) throw new Error(r.error.message);
      igErr = r.value.completenessError;
    }
    igMs = (performance.now() - t) / igImages;
  }
  x.dispose();
  for (const v of model.params.values()) v.dispose();
  say(`| ${name} (${config.imageSize}x${config.imageSize}x${config.channels}, patch ${config.patchSize}, width ${config.width}, depth ${config.depth}) | ${fwdMs.toFixed(1)} ms | ${camMs.toFixed(1)} ms (${(camMs / fwdMs).toFixed(1)}x) | ${Number.isNaN(igMs) ? 'not run' : `${igMs.toFixed(0)} ms (${(igMs / fwdMs).toFixed(0)}x); completeness error ${igErr.toExponential(1)}`} |`);
}

async function main(): Promise<void> {
  const backend = await selectBackend(process.env['VPT_BACKEND']);
  if (!backend.ok) throw new Error(backend.error.message);
  say(`## Analysis benchmarks — ${new Date().toUTCString()}`);
  say('');
  say(`Command: \`node --import tsx bench/analysis.ts ${args.join(' ')}\`. Machine: ${cpus()[0]?.model ?? '?'} x${cpus().length}, Node ${process.version}. TF.js backend: ${backend.value.backend} (tfjs ${backend.value.tfjsVersion}, threads ${backend.value.threads}, simd ${backend.value.simd}).`);
  say('');
  if (!skipFid) await benchFid();
  if (skipAttribution) return;
  say('### GradCAM and Integrated Gradients per image (random-init weights, batch 1; IG = 50 Gauss-Legendre steps in batches of 10, 2 for ViT-B/16)');
  say('');
  say('| model | plain forward | GradCAM (x forward) | IG (x forward) |');
  say('| --- | --- | --- | --- |');
  await benchAttribution('ViT-mini', VIT_MINI, 20, 5);
  // IG batches of 2 on ViT-B/16: 10 images' activations overflow the wasm heap (see analysis.attribution's igBatch).
  if (withVitB) await benchAttribution('ViT-B/16', VIT_B16, argNum('--vitb-images', 1), argNum('--vitb-ig', 0), 2);
  say('');
}

main()
  .then(() => {
    if (args.includes('--append')) appendFileSync(join(dirname(fileURLToPath(import.meta.url)), 'RESULTS.md'), `\n${lines.join('\n')}\n`);
  })
  .catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
