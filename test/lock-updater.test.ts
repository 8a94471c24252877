import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Pipeline, Stage } from '../src/dsl/model.js';
import { LockUpdater } from '../src/exec/lock-updater.js';
import { parseLockFile, sha256, type RunRecord } from '../src/store/index.js';

const location = { start: { file: 'p.yaml', offset: 0, line: 1, column: 1 }, end: { file: 'p.yaml', offset: 0, line: 1, column: 1 } };

function stage(i: number): Stage {
  return {
    type: 'command', id: `s${i}`, template: `s${i}`, matrix: {}, needs: [], inputs: [], outputs: { o: `out/${i}` }, env: {},
    resources: { cpu: 1, gpu: 0, memoryMiB: 0 }, retries: 0, timeoutSeconds: undefined, location, command: ['echo', String(i)], shell: false,
  };
}

function record(i: number, metric = i): RunRecord {
  const hash = sha256(String(i));
  return {
    fingerprint: sha256(`fp${i}`), stageId: `s${i}`,
    fingerprintInputs: { schema: 1, task: { type: 'command', command: ['echo', String(i)], shell: false }, params: {}, inputs: {}, env: {}, outputs: { o: `out/${i}` } },
    outputs: { o: { path: `out/${i}`, ref: { kind: 'file', hash, size: 2, files: 1 } } },
    metrics: { m: metric }, environment: {}, notes: [], startedAt: '2026-01-01T00:00:00.000Z', durationMs: 1, logFile: undefined,
  };
}

describe('LockUpdater', () => {
  it('coalesces concurrent updates into few writes and loses none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vpt-lock-'));
    const path = join(dir, 'pipeline.lock');
    const stages = Array.from({ length: 300 }, (_, i) => stage(i));
    const pipeline: Pipeline = { name: 'p', file: join(dir, 'p.yaml'), workspace: dir, params: {}, stages };
    const lock = await LockUpdater.open(path, pipeline);
    await Promise.all(stages.map((s, i) => lock.record(s, record(i))));
    const parsed = parseLockFile(await readFile(path, 'utf8'), path);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) {
      expect(Object.keys(parsed.value.stages)).toHaveLength(300);
      expect(parsed.value.stages['s299']?.metrics).toEqual({ m: 299 });
    }
  });

  it('does not rewrite the file for an unchanged entry, and does for a changed one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vpt-lock-'));
    const path = join(dir, 'pipeline.lock');
    const pipeline: Pipeline = { name: 'p', file: join(dir, 'p.yaml'), workspace: dir, params: {}, stages: [stage(1)] };
    await (await LockUpdater.open(path, pipeline)).record(stage(1), record(1));
    const before = (await stat(path)).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    const reopened = await LockUpdater.open(path, pipeline);
    await reopened.record(stage(1), record(1));
    expect((await stat(path)).mtimeMs).toBe(before);
    await reopened.record(stage(1), record(1, 0.5));
    expect(await readFile(path, 'utf8')).toContain('m: 0.5');
  });
});
