/**
 * Data-stage benchmarks:
 *  1. decode + resize to 224x224 RGB with sharp on the worker pool: images/s with 2 workers, against the
 *     same pool with 1 worker (the peer, measured in the same run) -> a ratio;
 *  2. the time to build the whole mini-VTAB suite with default params.
 *
 *   node --import tsx bench/data.ts [--images 240] [--append]
 */
import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createDecodePool, type DecodeRequest } from '../src/stages/data/decode.js';
import { buildMiniSuite, MINI_DEFAULTS } from '../src/stages/data/mini-vtab.js';
import { FASHION_MNIST_DIR } from '../src/stages/data/fashion-mnist.js';
import { MINI_TASKS } from '../src/stages/data/mini/suite.js';
import { createRng } from '../src/util/rng.js';
import { machineLine } from './machine.js';

const args = process.argv.slice(2);
const at = args.indexOf('--images');
const count = at >= 0 ? Number(args[at + 1]) : 240;
if (!Number.isInteger(count) || count < 16) throw new Error('--images needs an integer >= 16');
const append = args.includes('--append');

/** JPEGs of 500x375 (a typical Caltech/DTD/Pets source size) with smooth random content. */
async function makeImages(dir: string, n: number): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const rng = createRng(1);
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const small = Uint8Array.from({ length: 63 * 47 * 3 }, () => rng.int(256));
    const jpg = await sharp(small, { raw: { width: 63, height: 47, channels: 3 } }).resize(500, 375, { kernel: 'cubic' }).jpeg({ quality: 90 }).toBuffer();
    const f = join(dir, `${i}.jpg`);
    await writeFile(f, jpg);
    files.push(f);
  }
  return files;
}

interface Run { readonly rate: number; readonly cpuMsPerImage: number; readonly cpuPerWall: number }

async function throughput(files: readonly string[], workers: number): Promise<Run> {
  const pool = await createDecodePool(workers);
  try {
    const reqs: DecodeRequest[] = files.map((file) => ({ file, width: 224, height: 224, channels: 3 }));
    await pool.decodeEach(reqs.slice(0, 16), () => {}); // warm-up: worker start, sharp load
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const r = await pool.decodeEach(reqs, () => {});
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(c0);
    if (!r.ok) throw new Error(r.error.message);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    return { rate: files.length / seconds, cpuMsPerImage: (cpuSeconds * 1000) / files.length, cpuPerWall: cpuSeconds / seconds };
  } finally {
    await pool.close();
  }
}

/**
 * Control: CPU/wall of 1 and 2 pure-JS busy threads. On an idle 2-core machine this is ~1 and ~2; when
 * other jobs share the cores it shows how much parallelism the machine actually granted this run.
 */
async function threadControl(threads: number): Promise<number> {
  const { Worker } = await import('node:worker_threads');
  const code = `let x = 0; const t = Date.now(); while (Date.now() - t < 1000) x += Math.sqrt(x + 1); require('node:worker_threads').parentPort.postMessage(x);`;
  const c0 = process.cpuUsage();
  const t0 = Date.now();
  await Promise.all(Array.from({ length: threads }, () => new Promise<void>((resolve) => {
    const w = new Worker(code, { eval: true });
    w.on('message', () => { void w.terminate(); resolve(); });
  })));
  const cpu = process.cpuUsage(c0);
  return (cpu.user + cpu.system) / 1e6 / ((Date.now() - t0) / 1000);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const root = join(tmpdir(), `vpt-bench-data-${process.pid}`);
const started = new Date();
const load = loadavg().map((x) => x.toFixed(1)).join(' ');
try {
  const files = await makeImages(join(root, 'jpg'), count);
  const one: Run[] = [];
  const two: Run[] = [];
  // Interleaved so machine-load drift hits both sides alike.
  for (let rep = 0; rep < 3; rep++) {
    one.push(await throughput(files, 1));
    two.push(await throughput(files, 2));
  }
  const r1 = median(one.map((r) => r.rate));
  const r2 = median(two.map((r) => r.rate));
  const control1 = await threadControl(1);
  const control2 = await threadControl(2);
  const t0 = Date.now();
  const mini = await buildMiniSuite({ outDir: join(root, 'mini'), seed: 0, ...MINI_DEFAULTS, tasks: MINI_TASKS, sizes: [], oneShot: false, pixels: 'uint8', fashionMnistDir: FASHION_MNIST_DIR });
  const miniSeconds = (Date.now() - t0) / 1000;
  if (!mini.ok) throw new Error(mini.error.message);
  const miniImages = mini.value.tasks.reduce((a, t) => a + Object.values(t.splits).reduce((x, y) => x + y, 0), 0);
  const lines = [
    '',
    '## Data stages (bench/data.ts)',
    '',
    `- command: \`node --import tsx bench/data.ts --images ${count}${append ? ' --append' : ''}\``,
    `- date: ${started.toString()}`,
    `- decode+resize: ${count} JPEGs 500x375 -> 224x224 RGB uint8 (sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}, cubic, file read + sha256 + decode + resize in the worker, 1 libvips thread per worker), median of 3 interleaved runs`,
    `- decode+resize: 2 workers ${r2.toFixed(1)} img/s; peer 1 worker ${r1.toFixed(1)} img/s; ratio 2w/1w = ${(r2 / r1).toFixed(2)} (runs: 2w ${two.map((x) => x.rate.toFixed(0)).join(', ')}; 1w ${one.map((x) => x.rate.toFixed(0)).join(', ')})`,
    `- decode+resize CPU: ${median(two.map((r) => r.cpuMsPerImage)).toFixed(2)} ms/img with 2 workers, ${median(one.map((r) => r.cpuMsPerImage)).toFixed(2)} ms/img with 1; CPU/wall ${median(two.map((r) => r.cpuPerWall)).toFixed(2)} (2w) vs ${median(one.map((r) => r.cpuPerWall)).toFixed(2)} (1w)`,
    `- control (parallelism the machine granted): pure-JS busy threads CPU/wall ${control1.toFixed(2)} with 1 thread, ${control2.toFixed(2)} with 2 (idle 2-core machine: ~1 and ~2)`,
    `- mini-vtab build, default params (${MINI_DEFAULTS.imageSize}x${MINI_DEFAULTS.imageSize}, test ${MINI_DEFAULTS.testSize}, pretrain ${MINI_DEFAULTS.pretrainTrainSize}/${MINI_DEFAULTS.pretrainTestSize}, ${mini.value.tasks.length} task folders, ${miniImages} images incl. the train800val200 copies): ${miniSeconds.toFixed(1)} s (${(miniImages / miniSeconds).toFixed(0)} img/s, one thread, plain TypeScript)`,
    `- machine: ${machineLine()}; load average at start ${load}; backend: sharp/libvips (decode), pure TypeScript (mini)`,
  ];
  console.log(lines.join('\n'));
  if (append) await appendFile(new URL('./RESULTS.md', import.meta.url), `${lines.join('\n')}\n`);
} finally {
  await rm(root, { recursive: true, force: true });
}
