/**
 * `pipeline verify` without --rerun, as a reviewer whose bytes differ from the lock (another
 * backend, say): the metrics of the run that made the workspace are compared with the lock's,
 * each within its tolerance; the table, the summary and the exit code say what reproduced.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { runCli, workspace } from './helpers/cli.js';
import { toyIdxData, toyTrainingPipeline } from './helpers/tiny-training.js';

interface Lock { stages: Record<string, { outs: Record<string, { hash: string }>; metrics: Record<string, number> }> }

describe('pipeline verify against the workspace', () => {
  it('bytes first, then metrics within tolerance: reproduced, within-tolerance, differs, with the table and the summary', async () => {
    const ws = await workspace({ 'pipeline.yaml': toyTrainingPipeline(await toyIdxData(), { matrix: '{ seed: [1, 2] }', seed: '${{ matrix.seed }}' }) });
    const run = await runCli(['run', '--backend', 'cpu'], ws);
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect((await runCli(['verify'], ws)).stdout).toMatch(/3\/3 stage\(s\) reproduced bit for bit, 0 within tolerance, 0 differ, 0 missing; test_top1: largest deviation 0 over 2 stage/);

    // The lock of "another machine": other bytes for both trainings; seed 1's top-1 0.003 off
    // (within train.vit's 0.005), seed 2's 0.02 off (beyond).
    const lockPath = join(ws, 'pipeline.lock');
    const text = await readFile(lockPath, 'utf8');
    const header = text.slice(0, text.indexOf('\n') + 1);
    const lock = parse(text) as Lock;
    const one = lock.stages['fit[seed=1]'];
    const two = lock.stages['fit[seed=2]'];
    if (!one || !two) throw new Error('no fit stages in the lock');
    for (const s of [one, two]) for (const o of Object.values(s.outs)) o.hash = 'f'.repeat(64);
    const top1 = (one.metrics['test_top1'] as number);
    one.metrics['test_top1'] = top1 - 0.003;
    two.metrics['test_top1'] = (two.metrics['test_top1'] as number) - 0.02;
    await writeFile(lockPath, header + stringify(lock));

    const r = await runCli(['verify'], ws);
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/prep\s+reproduced/);
    expect(r.stdout).toMatch(/fit\[seed=1\]\s+within-tolerance\s+bytes differ: metrics .*model .*predictions/);
    expect(r.stdout).toMatch(/fit\[seed=2\]\s+differs/);
    // The table under each: metric, locked, now, |delta|, tolerance.
    expect(r.stdout).toMatch(/metric\s+locked\s+now\s+\|delta\|\s+tolerance/);
    const shown = (x: number): string => (Number.isInteger(x) ? String(x) : x.toPrecision(6)).replace('.', '\\.');
    expect(r.stdout).toMatch(new RegExp(`test_top1\\s+${shown(top1 - 0.003)}\\s+${shown(top1)}\\s+0\\.00300000\\s+abs 0\\.005\\s+ok`));
    expect(r.stdout).toMatch(/test_top1\s+\S+\s+\S+\s+0\.0200000\s+abs 0\.005\s+beyond/);
    expect(r.stdout).toMatch(/1\/3 stage\(s\) reproduced bit for bit, 1 within tolerance, 1 differ, 0 missing; test_top1: largest deviation 0\.0200 over 2 stage\(s\) \(fit\[seed=2\]\)/);

    // A wider tolerance for that metric (or for all) lets it pass; --json says the same for scripts.
    expect((await runCli(['verify', '--tol', 'test_top1=0.03'], ws)).exitCode).toBe(0);
    const json = await runCli(['verify', '--json'], ws);
    const parsed = JSON.parse(json.stdout) as { stages: { id: string; verdict: string }[]; summary: { reproduced: number; withinTolerance: number; differs: number } };
    expect(parsed.summary).toMatchObject({ reproduced: 1, withinTolerance: 1, differs: 1 });
    expect(parsed.stages.map((s) => s.verdict)).toEqual(['reproduced', 'within-tolerance', 'differs']);
    expect((await runCli(['verify', '--tol', 'test_top1'], ws)).exitCode).toBe(2);
  });
});

describe('pipeline verify --rerun', () => {
  it('reruns in a scratch workspace: the workspace outputs and the locked run\'s cache entries stay as they were', async () => {
    const ws = await workspace({
      'pipeline.yaml': `
stages:
  stable:
    shell: true
    run: echo same > \${{ outputs.o }}
    outs: { o: out/stable.txt }
  noisy:
    shell: true
    run: cat \${{ stages.stable.outputs.o }} > \${{ outputs.o }} && head -c 16 /dev/urandom | od -An -tx1 >> \${{ outputs.o }}
    outs: { o: out/noisy.txt }
`,
    });
    expect((await runCli(['run'], ws)).exitCode).toBe(0);
    const before = await readFile(join(ws, 'out/noisy.txt'), 'utf8');

    const r = await runCli(['verify', '--rerun'], ws);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/stable\s+reproduced/);
    expect(r.stdout).toMatch(/noisy\s+differs\s+bytes differ: o \(out\/noisy\.txt\)/);
    expect(r.stderr).toMatch(/rerunning 2 stage\(s\) in .*\.vpt\/verify\//);
    expect(r.stderr).toMatch(/the rerun's outputs and logs are kept in /);

    // Nothing of the locked run was replaced: the same bytes in the workspace, still up to date,
    // and verify without --rerun still finds what the lock records.
    expect(await readFile(join(ws, 'out/noisy.txt'), 'utf8')).toBe(before);
    const again = await runCli(['run'], ws);
    expect(again.stdout).toMatch(/0 ran, 0 restored, 2 up to date/);
    const check = await runCli(['verify'], ws);
    expect(check.exitCode, check.stdout).toBe(0);
  });
});
