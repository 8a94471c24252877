/**
 * The Slurm executor on the local single-node cluster (scripts/local-slurm.sh):
 *  1. overhead per stage (submit -> result recorded) for 1-second jobs: a chain of 1-second stages,
 *     `stage-succeeded.durationMs - 1000`, against the local executor on the same chain;
 *  2. wall time of a 20-stage pipeline of 1-second jobs (1 -> 18-cell matrix -> 1) vs
 *     `snakemake --slurm` (Debian snakemake 7.21) on the same DAG, in the same run, as a ratio;
 *  3. job array vs one job per stage: 18 one-second jobs submitted as one `sbatch --array` vs 18
 *     `sbatch` calls, time from the first submit until all have left the queue.
 *
 *  4. (--parts=4) the same DAG shape with 2 matrix cells (4 stages) vs snakemake, which finishes it.
 *  5. (--parts=5) the 20-stage DAG on Slurm vs the local executor (no snakemake: minutes).
 *
 * Usage: node --import tsx bench/slurm.ts [--append] [--parts=1,2,3,4]   (needs a running cluster; root for the script)
 */
import { appendFile, mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { machineLine } from './machine.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tsxLoader = createRequire(import.meta.url).resolve('tsx');
const CLI = join(root, 'src', 'cli', 'main.ts');
const append = process.argv.includes('--append');
/** `--parts=1,3` runs only some measurements (default: all; 4 = the small DAG vs snakemake). */
const parts = new Set((process.argv.find((a) => a.startsWith('--parts='))?.slice(8) ?? '1,2,3').split(','));
const conf = process.env['SLURM_CONF'] ?? '/var/tmp/vpt-slurm/slurm.conf';
const env = { SLURM_CONF: conf, USER: process.env['USER'] || 'root', NO_COLOR: '1' };

const lines: string[] = [];
const say = (s: string): void => {
  lines.push(s);
  process.stdout.write(`${s}\n`);
};
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
/** snakemake 7.21's Slurm executor polls each job separately with sacct then scontrol; it can take minutes. */
const SNAKEMAKE_LIMIT_MS = 240_000;
const fmt = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

async function ws(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vpt-bench-slurm-'));
  for (const [p, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, p)), { recursive: true });
    await writeFile(join(dir, p), text);
  }
  return dir;
}

interface CliRun {
  readonly wallMs: number;
  readonly events: { type: string; id?: string; durationMs?: number; summary?: { durationMs: number; ran: number; failed: number } }[];
}

async function pipelineRun(dir: string, executor: string, jobs?: number): Promise<CliRun> {
  const t0 = performance.now();
  const r = await execa(process.execPath, ['--import', tsxLoader, CLI, 'run', '--json', '--executor', executor, ...(jobs ? ['--jobs', String(jobs)] : [])], { cwd: dir, env, reject: false });
  const wallMs = performance.now() - t0;
  if (r.exitCode !== 0) throw new Error(`pipeline run failed (${r.exitCode}): ${String(r.stderr).slice(-2000)}`);
  const events = String(r.stdout)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as CliRun['events'][number]);
  return { wallMs, events };
}

const CHAIN = (n: number): string =>
  `stages:\n${Array.from({ length: n }, (_, i) => `  s${i}:\n    shell: true\n    run: sleep 1 && echo ${i} ${i > 0 ? `\${{ stages.s${i - 1}.outputs.x }}` : ''} > \${{ outputs.x }}\n    outs: { x: out/s${i}.txt }\n`).join('')}`;

const WIDE = (cells: number): string => `
stages:
  root:
    shell: true
    run: sleep 1 && echo root > \${{ outputs.x }}
    outs: { x: out/root.txt }
  mid:
    matrix: { i: [${Array.from({ length: cells }, (_, i) => i).join(', ')}] }
    shell: true
    run: sleep 1 && cat \${{ stages.root.outputs.x }} > \${{ outputs.x }} && echo \${{ matrix.i }} >> \${{ outputs.x }}
    outs: { x: "out/mid-\${{ matrix.i }}.txt" }
  join:
    shell: true
    run: sleep 1 && cat \${{ stages.mid.outputs.x }} > \${{ outputs.x }}
    outs: { x: out/join.txt }
`;

const SNAKEFILE = (cells: number): string => `
rule all:
    input: "out/join.txt"
rule root:
    output: "out/root.txt"
    shell: "sleep 1 && echo root > {output}"
rule mid:
    input: "out/root.txt"
    output: "out/mid-{i}.txt"
    shell: "sleep 1 && cat {input} > {output} && echo {wildcards.i} >> {output}"
rule join:
    input: expand("out/mid-{i}.txt", i=range(${cells}))
    output: "out/join.txt"
    shell: "sleep 1 && cat {input} > {output}"
`;

async function squeueEmpty(ids: string[]): Promise<boolean> {
  const r = await execa('squeue', [`--jobs=${ids.join(',')}`, '-h', '-o', '%i'], { env, reject: false });
  return r.exitCode !== 0 || String(r.stdout).trim() === '';
}

async function waitGone(ids: string[]): Promise<void> {
  while (!(await squeueEmpty(ids))) await new Promise((r) => setTimeout(r, 50));
}

async function arraysVsSingles(n: number): Promise<{ array: number; singles: number; sbatchMs: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'vpt-bench-array-'));
  let t0 = performance.now();
  const a = await execa('sbatch', ['--parsable', `--array=0-${n - 1}`, `--output=${dir}/a-%a.log`, '--wrap', 'sleep 1'], { env });
  await waitGone([String(a.stdout).trim().split(';')[0] as string]);
  const array = performance.now() - t0;
  t0 = performance.now();
  const ids: string[] = [];
  const sbatchTimes: number[] = [];
  for (let i = 0; i < n; i++) {
    const s0 = performance.now();
    const s = await execa('sbatch', ['--parsable', `--output=${dir}/s-${i}.log`, '--wrap', 'sleep 1'], { env });
    sbatchTimes.push(performance.now() - s0);
    ids.push(String(s.stdout).trim().split(';')[0] as string);
  }
  await waitGone(ids);
  return { array, singles: performance.now() - t0, sbatchMs: median(sbatchTimes) };
}

async function clusterCpus(): Promise<string> {
  return String((await execa('sinfo', ['-h', '-o', '%c'], { env })).stdout).trim();
}

async function main(): Promise<void> {
  const ping = await execa('sinfo', ['-h', '-o', '%P %a %D %T'], { env, reject: false });
  if (ping.exitCode !== 0) throw new Error(`no Slurm cluster (run scripts/local-slurm.sh): ${String(ping.stderr)}`);
  const cpus = await clusterCpus();
  const load = (await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ');
  say(`\n## Slurm executor (bench/slurm.ts)\n`);
  say(`- command: \`node --import tsx bench/slurm.ts ${process.argv.slice(2).join(' ')}\``);
  say(`- date: ${String((await execa('date')).stdout).trim()}`);
  say(`- cluster: local single-node Slurm 22.05 (scripts/local-slurm.sh, ${cpus} CPUs, auth/none, no accounting, sched_interval=2); stage child started from the TypeScript sources through tsx`);

  if (parts.has('1')) await overhead();
  if (parts.has('2')) await versusSnakemake(18);
  if (parts.has('4')) await versusSnakemake(2);
  if (parts.has('3')) await arrays();
  if (parts.has('5')) await oursOnly(18);
  say(`- machine: ${machineLine()}; load average at start ${load}; backend: n/a (shell stages)`);
  if (append) await appendFile(join(root, 'bench', 'RESULTS.md'), `${lines.join('\n')}\n`);
}

/** 1. Per-stage overhead on a chain (one job at a time, so queueing for CPUs does not count). */
async function overhead(): Promise<void> {
  const chainLen = 6;
  const slurmChain = await pipelineRun(await ws({ 'pipeline.yaml': CHAIN(chainLen) }), 'slurm');
  const localChain = await pipelineRun(await ws({ 'pipeline.yaml': CHAIN(chainLen) }), 'local');
  const over = (r: CliRun): number[] => r.events.filter((e) => e.type === 'stage-succeeded').map((e) => (e.durationMs ?? 0) - 1000);
  const so = median(over(slurmChain));
  const lo = median(over(localChain));
  say(`- overhead per stage, submit -> result recorded, 1-second jobs (chain of ${chainLen}): slurm median ${fmt(so)} (all: ${over(slurmChain).map((x) => (x / 1000).toFixed(2)).join(', ')}), local executor ${fmt(lo)}; slurm - local = ${fmt(so - lo)}`);
}

/** 2. 1 -> cells -> 1 stages vs snakemake --slurm, same DAG, same run. */
async function versusSnakemake(cells: number): Promise<void> {
  const cpus = await clusterCpus();
  const ours = await pipelineRun(await ws({ 'pipeline.yaml': WIDE(cells) }), 'slurm', 20);
  const oursRun = ours.events.find((e) => e.type === 'run-end')?.summary;
  const smDir = await ws({ Snakefile: SNAKEFILE(cells) });
  const smArgs = ['--slurm', '--jobs', '20', '--latency-wait', '1', '--max-status-checks-per-second', '10', '--default-resources', 'mem_mb=512', 'runtime=10', '--quiet'];
  const t0 = performance.now();
  const sm = await execa('snakemake', smArgs, { cwd: smDir, env, reject: false, all: true, timeout: SNAKEMAKE_LIMIT_MS, killSignal: 'SIGKILL' });
  const smWall = performance.now() - t0;
  const finished = sm.exitCode === 0 && !sm.timedOut;
  if (!finished) {
    // Leave no peer job behind: cancel what snakemake submitted from its folder.
    const q = await execa('squeue', ['--me', '-h', '-o', '%i|%Z'], { env, reject: false });
    const left = String(q.stdout).split('\n').filter((l) => l.endsWith(`|${smDir}`)).map((l) => l.split('|')[0] as string);
    if (left.length) await execa('scancel', left, { env, reject: false });
    say(`- snakemake --slurm did not finish: ${sm.timedOut ? `killed after ${SNAKEMAKE_LIMIT_MS / 1000} s` : `exit ${sm.exitCode}`}; its last lines: ${String(sm.all).split('\n').filter(Boolean).slice(-3).join(' | ')}`);
  }
  const ratio = finished ? `ratio vpt/snakemake = ${(ours.wallMs / smWall).toFixed(2)}` : `ratio vpt/snakemake < ${(ours.wallMs / smWall).toFixed(2)} (snakemake unfinished)`;
  say(`- ${cells + 2}-stage pipeline of 1-second jobs (1 -> ${cells}-cell matrix -> 1, --jobs 20): vpt-pipeline --executor slurm ${fmt(ours.wallMs)} process wall (run itself ${fmt(oursRun?.durationMs ?? 0)}, ${oursRun?.ran ?? 0} ran); \`snakemake ${smArgs.join(' ')}\` ${finished ? fmt(smWall) : `> ${fmt(smWall)}`}; ${ratio} (lower is better; ideal on ${cpus} CPUs: ${Math.ceil(cells / Number(cpus)) + 2} s of sleeping)`);
}

/** 5. (--parts=5) only our side of 2., with the local executor on the same DAG as the peer. */
async function oursOnly(cells: number): Promise<void> {
  const ours = await pipelineRun(await ws({ 'pipeline.yaml': WIDE(cells) }), 'slurm', 20);
  const local = await pipelineRun(await ws({ 'pipeline.yaml': WIDE(cells) }), 'local');
  say(`- ${cells + 2}-stage pipeline of 1-second jobs (1 -> ${cells}-cell matrix -> 1): --executor slurm --jobs 20 ${fmt(ours.wallMs)} process wall; --executor local (2 CPU slots) ${fmt(local.wallMs)}; ratio slurm/local = ${(ours.wallMs / local.wallMs).toFixed(2)}`);
}

/** 3. Job array vs one job per stage. */
async function arrays(): Promise<void> {
  const rounds = [];
  for (let i = 0; i < 3; i++) rounds.push(await arraysVsSingles(18));
  const arr = median(rounds.map((r) => r.array));
  const sing = median(rounds.map((r) => r.singles));
  say(`- job array vs one job per stage, 18 one-second jobs, submit -> all left the queue (median of 3): one \`sbatch --array=0-17\` ${fmt(arr)}, 18 \`sbatch\` calls ${fmt(sing)} (one sbatch call ${median(rounds.map((r) => r.sbatchMs)).toFixed(0)} ms); ratio array/singles = ${(arr / sing).toFixed(2)}`);
}

await main();
