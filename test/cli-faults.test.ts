/**
 * Fault tests with real processes: kill -9 of the coordinator mid-run, two runs on one workspace,
 * Ctrl-C. Each asserts that no result is lost or half-written.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processLiveness } from '../src/store/index.js';
import { runCli, startCli, workspace } from './helpers/cli.js';

const SLOW = `
stages:
  quick:
    shell: true
    run: echo quick > \${{ outputs.x }} && echo quick >> runs.log
    outs: { x: out/quick.txt }
  slow:
    shell: true
    run: echo $$ > slow.pid; echo partial > \${{ outputs.x }}; sleep 8; echo done >> \${{ outputs.x }}; echo slow >> runs.log
    outs: { x: out/slow.txt }
    needs: [quick]
`;

async function waitFor(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not reached in time');
}

const exists = (p: string) => stat(p).then(() => true, () => false);

describe('crash safety', () => {
  it('kill -9 of `pipeline run` mid-stage: nothing half-written, the finished stage is not rerun', async () => {
    const ws = await workspace({ 'pipeline.yaml': SLOW });
    const child = startCli(['run'], ws);
    await waitFor(() => exists(join(ws, 'slow.pid')));
    child.kill('SIGKILL');
    await child;
    // The stage's process notices its coordinator is gone and stops.
    const stagePid = Number(await readFile(join(ws, 'slow.pid'), 'utf8'));
    await waitFor(async () => processLiveness(stagePid) !== 'alive', 10_000);
    // The slow stage wrote only into its staging folder: nothing in the workspace.
    expect(await exists(join(ws, 'out/slow.txt'))).toBe(false);
    const lock = await readFile(join(ws, 'pipeline.lock'), 'utf8');
    expect(lock).toContain('quick');
    expect(lock).not.toMatch(/^\s+slow:/m);

    const rerun = await runCli(['run'], ws);
    expect(rerun.exitCode, rerun.stdout + rerun.stderr).toBe(0);
    expect((await readFile(join(ws, 'runs.log'), 'utf8')).trim().split('\n')).toEqual(['quick', 'slow']);
    expect(await readFile(join(ws, 'out/slow.txt'), 'utf8')).toBe('partial\ndone\n');
    // Staging folders of the killed run are cleaned up.
    expect(await readdir(join(ws, '.vpt', 'tmp'))).toEqual([]);
  }, 60_000);

  it('a second run refuses while the first holds the workspace, --wait waits for it', async () => {
    const ws = await workspace({ 'pipeline.yaml': SLOW });
    const first = startCli(['run'], ws);
    await waitFor(() => exists(join(ws, 'slow.pid')));
    const refused = await runCli(['run'], ws);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/pid \d+/);
    expect(refused.stderr).toMatch(/--wait/);
    const waiting = await runCli(['run', '--wait'], ws);
    expect(waiting.exitCode).toBe(0);
    expect(waiting.stdout).toMatch(/2 up to date/);
    expect((await first).exitCode).toBe(0);
  }, 60_000);

  it('Ctrl-C stops the running stage, exits 130, and leaves no output', async () => {
    const ws = await workspace({ 'pipeline.yaml': SLOW });
    const child = startCli(['run'], ws);
    await waitFor(() => exists(join(ws, 'slow.pid')));
    const stagePid = Number(await readFile(join(ws, 'slow.pid'), 'utf8'));
    child.kill('SIGINT');
    const result = await child;
    expect(result.exitCode).toBe(130);
    await waitFor(async () => processLiveness(stagePid) !== 'alive', 10_000);
    expect(await exists(join(ws, 'out/slow.txt'))).toBe(false);
  }, 60_000);
});
