/**
 * DSL benchmark: load + validate + expand a generated pipeline whose matrix has 10,000 cells
 * (100 tasks x 100 seeds), each cell bound to its task's cell of a 100-cell `prep` matrix, and
 * one `summarize` stage referencing all 10,000 cells. Peer in the same run: the same pipeline
 * with 1,000 cells (10 x 100) — a ratio near 10 means expansion scales linearly.
 *
 *   node --import tsx bench/dsl-expand.ts          (prints; add --append to write bench/RESULTS.md)
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parse } from 'yaml';
import { loadPipelineSync } from '../src/dsl/index.js';
import { KindRegistry, defineKind } from '../src/stages/index.js';

const kinds = new KindRegistry();
kinds.register(
  defineKind({
    name: 'bench.prep',
    version: 1,
    description: 'bench data',
    paramsSchema: { type: 'object', properties: { task: { type: 'string' } }, required: ['task'], additionalProperties: false },
    outputs: () => ['data'],
    run: async () => ({}),
  }),
);
kinds.register(
  defineKind({
    name: 'bench.train',
    version: 1,
    description: 'bench training',
    paramsSchema: {
      type: 'object',
      properties: { data: { type: 'string' }, seed: { type: 'integer' }, epochs: { type: 'integer' }, lr: { type: 'number' } },
      required: ['data', 'seed'],
      additionalProperties: false,
    },
    outputs: () => ['metrics', 'model'],
    run: async () => ({}),
  }),
);

function pipelineText(tasks: number, seeds: number): string {
  const taskList = Array.from({ length: tasks }, (_, i) => `t${i}`).join(', ');
  const seedList = Array.from({ length: seeds }, (_, i) => i).join(', ');
  return `name: bench
params: { tasks: [${taskList}], train: { epochs: 3, lr: 0.01 } }
stages:
  prep:
    matrix: { task: "\${{ params.tasks }}" }
    uses: bench.prep
    with: { task: "\${{ matrix.task }}" }
  train:
    matrix: { task: "\${{ params.tasks }}", seed: [${seedList}] }
    uses: bench.train
    with: { data: "\${{ stages.prep.outputs.data }}", seed: "\${{ matrix.seed }}", epochs: "\${{ params.train.epochs }}", lr: "\${{ params.train.lr }}" }
  summarize:
    run: python3 summarize.py --out \${{ outputs.table }} \${{ stages.train.outputs.metrics }}
    outs: { table: results/summary.csv }
`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function measure(dir: string, tasks: number, seeds: number, runs: number): { ms: number; cpuMs: number; parseMs: number; stages: number } {
  const file = path.join(dir, `bench-${tasks}x${seeds}.yaml`);
  const text = pipelineText(tasks, seeds);
  writeFileSync(file, text);
  const times: number[] = [];
  const cpuTimes: number[] = [];
  const parseTimes: number[] = [];
  let stages = 0;
  for (let i = 0; i < runs + 1; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = loadPipelineSync(file, { kinds });
    const t1 = performance.now();
    const c1 = process.cpuUsage(c0);
    if (!r.ok) throw new Error(`bench pipeline failed: ${r.error.map((d) => d.message).join('; ')}`);
    stages = r.value.stages.length;
    const t2 = performance.now();
    parse(text);
    const t3 = performance.now();
    if (i > 0) {
      // The first run warms up the JIT and ajv's compiled validators.
      times.push(t1 - t0);
      cpuTimes.push((c1.user + c1.system) / 1000);
      parseTimes.push(t3 - t2);
    }
  }
  return { ms: median(times), cpuMs: median(cpuTimes), parseMs: median(parseTimes), stages };
}

const loadAtStart = os.loadavg().map((x) => x.toFixed(1)).join(' ');
const dir = mkdtempSync(path.join(os.tmpdir(), 'vpt-bench-dsl-'));
try {
  const big = measure(dir, 100, 100, 5);
  const small = measure(dir, 10, 100, 5);
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  const machine = `${cpu} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()}`;
  const lines = [
    `dsl-expand: ${big.stages} stages (10,000-cell matrix + 100 prep + 1): load+validate+expand median ${big.ms.toFixed(0)} ms wall, ${big.cpuMs.toFixed(0)} ms CPU (process, incl. GC threads) over 5 runs`,
    `dsl-expand: peer ${small.stages} stages (1,000-cell matrix + 10 prep + 1): median ${small.ms.toFixed(0)} ms wall, ${small.cpuMs.toFixed(0)} ms CPU; ratio 10k/1k = ${(big.ms / small.ms).toFixed(1)} wall, ${(big.cpuMs / small.cpuMs).toFixed(1)} CPU (10 = linear)`,
    `dsl-expand: YAML parse alone of the 10k file: ${big.parseMs.toFixed(2)} ms (the file is small; the cost is expansion)`,
    `machine: ${machine}; load average at start ${loadAtStart}; backend: n/a (pure TypeScript)`,
  ];
  console.log(lines.join('\n'));
  if (process.argv.includes('--append')) {
    const date = execFileSync('date', { encoding: 'utf8' }).trim();
    appendFileSync(
      path.join(path.dirname(new URL(import.meta.url).pathname), 'RESULTS.md'),
      `\n## DSL expansion (bench/dsl-expand.ts)\n\n- command: \`node --import tsx bench/dsl-expand.ts --append\`\n- date: ${date}\n${lines.map((l) => `- ${l}`).join('\n')}\n`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
