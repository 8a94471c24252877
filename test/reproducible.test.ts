/**
 * A reviewer on another machine: the same small training pipeline, run in two workspaces at
 * different paths, one of them on a "different CPU" (os.cpus() patched in every process), with
 * whatever timing noise the machine has, writes byte-identical outputs and the same lock; the lock
 * of one verifies as all `reproduced` in the other. The machine facts are in the run record only.
 */
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, workspace } from './helpers/cli.js';
import { toyIdxData, toyTrainingPipeline } from './helpers/tiny-training.js';

describe('artifacts hold results, not circumstances', () => {
  it('two machines, two paths: the same bytes, the same lock, and verify says reproduced', async () => {
    const pipeline = toyTrainingPipeline(await toyIdxData());
    const a = await workspace({ 'pipeline.yaml': pipeline });
    const b = await workspace({ 'pipeline.yaml': pipeline });
    // Machine B: another CPU model and count, in the coordinator and every stage process.
    const patch = join(await mkdtemp(join(tmpdir(), 'vpt-cpu-')), 'fake-cpu.mjs');
    await writeFile(patch, "import os from 'node:os';\nimport { syncBuiltinESMExports } from 'node:module';\nconst fake = Array.from({ length: 64 }, () => ({ model: 'Fake EPYC 9999', speed: 1, times: { user: 0, nice: 0, sys: 0, idle: 0, irq: 0 } }));\nos.cpus = () => fake;\nsyncBuiltinESMExports();\n");
    const machineB = { NODE_OPTIONS: `--import ${patch}` };

    const ra = await runCli(['run', '--backend', 'cpu'], a);
    expect(ra.exitCode, ra.stdout + ra.stderr).toBe(0);
    const rb = await runCli(['run', '--backend', 'cpu'], b, machineB);
    expect(rb.exitCode, rb.stdout + rb.stderr).toBe(0);

    // The patch took: machine B's run record names its CPU (and that is where it stays).
    const show = await runCli(['show', 'fit', '--json'], b, machineB);
    expect(show.stdout).toContain('Fake EPYC 9999');
    const shown = JSON.parse(show.stdout) as { lastRun: { outputs: Record<string, { path: string }> } };
    const metricsB = await readFile(join(b, shown.lastRun.outputs['metrics']?.path as string), 'utf8');
    for (const leak of ['Fake EPYC', 'cpuModel', 'imgPerSec', 'skippedBackends', b, a]) expect(metricsB).not.toContain(leak);

    // Same fingerprints, same output hashes, same metrics: the whole lock, byte for byte.
    const lockA = await readFile(join(a, 'pipeline.lock'), 'utf8');
    expect(await readFile(join(b, 'pipeline.lock'), 'utf8')).toBe(lockA);

    // The reviewer's check: machine A's lock against machine B's workspace.
    await copyFile(join(a, 'pipeline.lock'), join(b, 'pipeline.lock'));
    const verify = await runCli(['verify'], b, machineB);
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/prep\s+reproduced/);
    expect(verify.stdout).toMatch(/fit\s+reproduced/);
  });
});
