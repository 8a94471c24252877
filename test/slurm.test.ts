/**
 * `pipeline run --executor slurm` against a real single-node Slurm (scripts/local-slurm.sh):
 * same outputs and lock file as a local run, failures and timeouts reported as such, a killed
 * coordinator's jobs collected by the next run without a second sbatch, Ctrl-C cancelling the
 * run's jobs and no one else's.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../src/exec/events.js';
import { runCli, startCli, workspace } from './helpers/cli.js';
import { detectSlurm, jobFields, submissions, until } from './helpers/slurm.js';

const slurm = await detectSlurm();
if (!slurm.ok) process.stderr.write(`\n[slurm.test] Slurm tests SKIPPED: ${slurm.reason}\n`);
const env = slurm.ok ? slurm.env : {};
const inCi = Boolean(process.env['CI']);

describe.runIf(!slurm.ok && inCi)('slurm in CI', () => {
  it('a Slurm cluster is reachable (CI must not skip the Slurm tests)', () => {
    throw new Error(slurm.ok ? 'unreachable' : slurm.reason);
  });
});

const MATRIX = `
stages:
  make:
    shell: true
    run: echo hello > \${{ outputs.text }}
    outs: { text: out/make.txt }
  cell:
    matrix:
      n: [1, 2, 3]
    shell: true
    run: cat \${{ stages.make.outputs.text }} > \${{ outputs.text }} && echo cell-\${{ matrix.n }} >> \${{ outputs.text }}
    outs: { text: "out/cell-\${{ matrix.n }}.txt" }
  join:
    shell: true
    run: cat \${{ stages.cell.outputs.text }} > \${{ outputs.text }}
    outs: { text: out/join.txt }
`;

function events(stdout: string): RunEvent[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as RunEvent);
}

const foreign: string[] = [];
afterAll(async () => {
  if (foreign.length) await execa('scancel', foreign, { env, reject: false });
});

describe.runIf(slurm.ok)('pipeline run --executor slurm (real single-node Slurm)', () => {
  it('runs a matrix pipeline as one job per stage: outputs and lock file identical to a local run', async () => {
    const local = await workspace({ 'pipeline.yaml': MATRIX });
    const onSlurm = await workspace({ 'pipeline.yaml': MATRIX });
    const [a, b] = await Promise.all([runCli(['run'], local), runCli(['run', '--executor', 'slurm'], onSlurm, env)]);
    expect(a.exitCode, a.stdout + a.stderr).toBe(0);
    expect(b.exitCode, b.stdout + b.stderr).toBe(0);
    expect(b.stdout).toMatch(/5 ran/);
    for (const f of ['out/make.txt', 'out/cell-1.txt', 'out/cell-2.txt', 'out/cell-3.txt', 'out/join.txt']) {
      expect(await readFile(join(onSlurm, f), 'utf8'), f).toBe(await readFile(join(local, f), 'utf8'));
    }
    expect(await readFile(join(onSlurm, 'out/join.txt'), 'utf8')).toBe('hello\ncell-1\nhello\ncell-2\nhello\ncell-3\n');
    expect(await readFile(join(onSlurm, 'pipeline.lock'), 'utf8')).toBe(await readFile(join(local, 'pipeline.lock'), 'utf8'));

    // One sbatch per stage; the job carries the stage id in its name and writes the stage's log.
    const subs = await submissions(onSlurm);
    expect(subs.map((s) => s.stageId).sort()).toEqual(['cell[n=1]', 'cell[n=2]', 'cell[n=3]', 'join', 'make']);
    const make = subs.find((s) => s.stageId === 'make');
    const fields = await jobFields(make?.jobId ?? '', env);
    expect(fields['JobName']).toBe('vpt:make');
    expect(fields['JobState']).toBe('COMPLETED');
    expect(fields['StdOut']).toMatch(new RegExp(`^${onSlurm}/\\.vpt/logs/make/.+\\.log$`));
    expect(fields['WorkDir']).toBe(onSlurm);
    // Settled attempts leave no job record and no staging folder behind.
    expect(await readdir(join(onSlurm, '.vpt/slurm/jobs'))).toEqual([]);
    expect(await readdir(join(onSlurm, '.vpt/slurm/staging'))).toEqual([]);

    const again = await runCli(['run', '--executor', 'slurm'], onSlurm, env);
    expect(again.stdout).toMatch(/0 ran, 0 restored, 5 up to date/);
    expect(await submissions(onSlurm)).toHaveLength(5);
  }, 90_000);

  it('reports a failing job (exit code, log tail) and a timed-out job', async () => {
    const ws = await workspace({
      'pipeline.yaml': `
stages:
  bad:
    shell: true
    run: echo "about to fail" && echo "oops" >&2 && exit 3
    outs: { text: out/bad.txt }
  slow:
    shell: true
    run: sleep 30 && echo late > \${{ outputs.text }}
    outs: { text: out/slow.txt }
    timeout: 2s
`,
    });
    const r = await runCli(['run', '--executor', 'slurm', '--keep-going', '--json'], ws, env);
    expect(r.exitCode, r.stderr).toBe(1);
    const failed = events(r.stdout).filter((e): e is Extract<RunEvent, { type: 'stage-failed' }> => e.type === 'stage-failed');
    const bad = failed.find((e) => e.id === 'bad');
    expect(bad?.reason).toBe('exit');
    expect(bad?.message).toMatch(/code 3/);
    expect(bad?.tail).toEqual(expect.arrayContaining(['about to fail', 'oops']));
    expect(bad?.tail.some((l) => l.startsWith('::vpt::'))).toBe(false);
    const slow = failed.find((e) => e.id === 'slow');
    expect(slow?.reason).toBe('timeout');
    expect(slow?.message).toMatch(/timed out after 2s/);
    const subs = await submissions(ws);
    expect((await jobFields(subs.find((s) => s.stageId === 'bad')?.jobId ?? '', env))['ExitCode']).toBe('3:0');
    expect((await jobFields(subs.find((s) => s.stageId === 'slow')?.jobId ?? '', env))['JobState']).toBe('CANCELLED');
    expect(await readFile(join(ws, 'pipeline.lock'), 'utf8').catch(() => '')).not.toMatch(/bad|slow/);
  }, 90_000);

  it('a coordinator killed with SIGKILL mid-run: status shows the jobs, the next run collects them without submitting again', async () => {
    const ws = await workspace({
      'pipeline.yaml': `
stages:
  first:
    matrix:
      n: [1, 2]
    shell: true
    run: sleep 4 && echo first-\${{ matrix.n }} > \${{ outputs.text }}
    outs: { text: "out/first-\${{ matrix.n }}.txt" }
  after:
    shell: true
    run: cat \${{ stages.first.outputs.text }} > \${{ outputs.text }}
    outs: { text: out/after.txt }
`,
    });
    const coordinator = startCli(['run', '--executor', 'slurm'], ws, env);
    const before = await until('two submissions', async () => ((await submissions(ws)).length >= 2 ? submissions(ws) : undefined));
    coordinator.kill('SIGKILL');
    await coordinator;
    expect(before.map((s) => s.stageId).sort()).toEqual(['first[n=1]', 'first[n=2]']);

    const status = await runCli(['status'], ws, env);
    for (const s of before) expect(status.stdout).toContain(`${s.stageId}: running on Slurm (job ${s.jobId}`);

    const rerun = await runCli(['run', '--executor', 'slurm'], ws, env);
    expect(rerun.exitCode, rerun.stdout + rerun.stderr).toBe(0);
    for (const s of before) expect(rerun.stdout + rerun.stderr).toContain(`collecting Slurm job ${s.jobId}`);
    expect(await readFile(join(ws, 'out/after.txt'), 'utf8')).toBe('first-1\nfirst-2\n');
    const all = await submissions(ws);
    // first[n=1], first[n=2] once each (by the killed run), then after: nothing twice.
    expect(all.map((s) => s.stageId).sort()).toEqual(['after', 'first[n=1]', 'first[n=2]']);
    expect(new Set(all.map((s) => s.fingerprint)).size).toBe(all.length);
    expect(await readFile(join(ws, 'pipeline.lock'), 'utf8')).toMatch(/first\[n=2\]/);
  }, 90_000);

  it('Ctrl-C cancels the jobs this run submitted, and not a foreign job', async () => {
    const other = await execa('sbatch', ['--parsable', '--job-name=foreign', '--output=/dev/null', '--wrap', 'sleep 60'], { env });
    const foreignId = String(other.stdout).trim().split(';')[0] ?? '';
    foreign.push(foreignId);
    const ws = await workspace({
      'pipeline.yaml': `
stages:
  long:
    matrix:
      n: [1, 2]
    shell: true
    run: sleep 60 && echo \${{ matrix.n }} > \${{ outputs.text }}
    outs: { text: "out/long-\${{ matrix.n }}.txt" }
`,
    });
    const coordinator = startCli(['run', '--executor', 'slurm'], ws, env);
    const subs = await until('two submissions', async () => ((await submissions(ws)).length >= 2 ? submissions(ws) : undefined));
    coordinator.kill('SIGINT');
    const done = await coordinator;
    expect(done.exitCode, String(done.all)).toBe(130);
    for (const s of subs) expect((await jobFields(s.jobId, env))['JobState']).toBe('CANCELLED');
    expect((await jobFields(foreignId, env))['JobState']).toMatch(/^(RUNNING|PENDING)$/);
  }, 90_000);
});
