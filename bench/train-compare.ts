/**
 * tfjs (this project's trainer) vs PyTorch on the identical ViT, interleaved in the same run so
 * both see the same machine load. Runs bench/train-speed.ts (once per worker count) and
 * bench/train_peer.py alternately for R rounds and reports median img/s per model × method ×
 * worker count and the ratio tfjs/PyTorch.
 *
 * Usage: node --import tsx bench/train-compare.ts [--rounds 3] [--steps 20] [--backend wasm] [--workers 2 | --workers 1,2] [--vitb] [--append]
 * --workers: the data-parallel shards of the tfjs training step (train()'s `workers`), default 2;
 * a list runs each count in every round. --append adds the figures to bench/RESULTS.md.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { machineLine } from './machine.js';

const argv = process.argv.slice(2);
const opt = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? (argv[i + 1] ?? fallback) : fallback;
};
const rounds = Number(opt('rounds', '3'));
const steps = opt('steps', '20');
const backend = opt('backend', 'wasm');
const vitb = argv.includes('--vitb');
const workerCounts = opt('workers', '2').split(',').map(Number);
if (workerCounts.some((w) => !Number.isInteger(w) || w < 1)) throw new Error(`--workers: positive integers, got ${opt('workers', '2')}`);
const root = join(import.meta.dirname, '..');

interface Row { name: string; method: string; workers?: number; error?: string; imgPerSec: number; imgPerCpuSec: number; msPerStep: number; kernels?: string; torch?: string; simd?: boolean }

function lines(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Row[] {
  const out = execFileSync(cmd, args, { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Row);
}

const load0 = loadavg().map((x) => x.toFixed(1)).join(' ');
const started = new Date();
const tfjs: Row[] = [];
const torch: Row[] = [];
for (let r = 0; r < rounds; r++) {
  const extra = vitb && r === 0 ? ['--vitb'] : [];
  for (const w of workerCounts) tfjs.push(...lines(process.execPath, ['--import', 'tsx', 'bench/train-speed.ts', backend, steps, `--workers=${w}`, ...extra]));
  torch.push(...lines('/usr/bin/python3', ['bench/train_peer.py', steps, ...extra], { OPENBLAS_NUM_THREADS: '1' }));
  process.stderr.write(`round ${r + 1}/${rounds} done\n`);
}
const load1 = loadavg().map((x) => x.toFixed(1)).join(' ');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const keys = [...new Set(tfjs.map((r) => `${r.name}|${r.method}|${r.workers ?? 1}`))];
const out: string[] = [
  '',
  `## Training throughput, tfjs vs PyTorch (bench/train-compare.ts)`,
  '',
  `- command: \`node --import tsx bench/train-compare.ts ${argv.join(' ')}\``,
  `- date: ${started.toString()}`,
];
for (const k of keys) {
  const [name, method, w] = k.split('|') as [string, string, string];
  const mine = (r: Row): boolean => r.name === name && r.method === method && String(r.workers ?? 1) === w;
  const a = tfjs.filter((r) => mine(r) && r.error === undefined);
  const b = torch.filter((r) => r.name === name && r.method === method && r.error === undefined);
  const failed = tfjs.find((r) => mine(r) && r.error !== undefined);
  const label = `tfjs-${backend} ${w} worker${w === '1' ? '' : 's'}`;
  if (a.length === 0 || b.length === 0) {
    out.push(`- ${name} ${method} (${label}): not measured (tfjs: ${failed?.error ?? 'no result'}; PyTorch: ${b.length > 0 ? `${median(b.map((r) => r.imgPerSec)).toFixed(2)} img/s` : 'no result'})`);
    continue;
  }
  const wa = median(a.map((r) => r.imgPerSec));
  const wb = median(b.map((r) => r.imgPerSec));
  const ca = median(a.map((r) => r.imgPerCpuSec));
  const cb = median(b.map((r) => r.imgPerCpuSec));
  const digits = wa < 10 ? 2 : 1;
  out.push(`- ${name} ${method}${name === 'vit-b16' ? ' (batch 8)' : ''}: ${label} ${wa.toFixed(digits)} img/s (runs ${a.map((r) => r.imgPerSec.toFixed(digits)).join(', ')}), PyTorch ${b[0]?.torch ?? ''} 2 threads ${wb.toFixed(digits)} img/s (runs ${b.map((r) => r.imgPerSec.toFixed(digits)).join(', ')}); ratio tfjs/PyTorch wall ${(wa / wb).toFixed(2)}, per CPU-second ${(ca / cb).toFixed(2)}`);
}
out.push(`- model: ${vitb ? 'vtab-mini ViT (32x32x1, patch 4, width 64, depth 4, 4 heads, MLP x4, batch 64) and ViT-B/16 (224, batch 8, 2 steps, one round)' : 'vtab-mini ViT (32x32x1, patch 4, width 64, depth 4, 4 heads, MLP x4, batch 64)'}; FT = AdamW on everything, dropout 0.1; VPT-deep = P 10 per layer, SGD on prompts + head, frozen backbone in eval mode; ${steps} timed steps after one warm-up step`);
out.push(`- machine: ${machineLine()}; load average ${load0} at start, ${load1} at end (the ratio comes from interleaved runs, so both sides see the same load); backend: tfjs ${backend} (SIMD ${tfjs[0]?.simd ?? '?'}, 1 thread per worker, fast kernels; the training step split over ${workerCounts.join(' / ')} worker thread(s), forward-only runs on 1; CPU-seconds count every thread), PyTorch CPU with torch.set_num_threads(2), OPENBLAS_NUM_THREADS=1`);
console.log(out.join('\n'));
if (argv.includes('--append')) appendFileSync(join(root, 'bench', 'RESULTS.md'), `${out.join('\n')}\n`);
