import { mkdtemp, readdir, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadPipeline } from '../src/dsl/index.js';
import { defineKind, KindRegistry } from '../src/stages/index.js';

const kinds = new KindRegistry();
const past = new Date(Date.now() - 60_000);

async function pipelineFile(dir: string, greeting: string): Promise<string> {
  const file = join(dir, 'pipeline.yaml');
  await writeFile(file, `params: { greeting: ${greeting} }\nstages:\n  a:\n    run: echo \${{ params.greeting }}\n`);
  // Older than the racy window, so the expansion may be cached.
  await utimes(file, past, past);
  return file;
}

function command(p: Awaited<ReturnType<typeof loadPipeline>>): unknown {
  if (!p.ok) throw new Error(p.error.map((d) => d.message).join('\n'));
  const stage = p.value.stages[0];
  return stage?.type === 'command' ? stage.command : undefined;
}

describe('pipeline expansion cache', () => {
  let cacheDir: string;
  beforeEach(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'vpt-cache-'));
    process.env['VPT_CACHE_DIR'] = cacheDir;
  });

  it('stores an expansion and serves it while the files are unchanged', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vpt-ws-'));
    const file = await pipelineFile(dir, 'hello');
    expect(command(await loadPipeline(file, { kinds, cache: true }))).toEqual(['echo', 'hello']);
    expect(await readdir(cacheDir)).toHaveLength(1);
    expect(command(await loadPipeline(file, { kinds, cache: true }))).toEqual(['echo', 'hello']);
  });

  it('never serves a stale expansion: an edited file (even with its old mtime) or other --set values', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vpt-ws-'));
    const file = await pipelineFile(dir, 'hello');
    await loadPipeline(file, { kinds, cache: true });
    await pipelineFile(dir, 'bye__');
    expect(command(await loadPipeline(file, { kinds, cache: true }))).toEqual(['echo', 'bye__']);
    expect(command(await loadPipeline(file, { kinds, cache: true, set: ['greeting=other'] }))).toEqual(['echo', 'other']);
  });

  it('does not cache a file changed within the last two seconds, and survives a corrupt cache entry', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vpt-ws-'));
    const file = join(dir, 'pipeline.yaml');
    await writeFile(file, 'stages:\n  a:\n    run: echo fresh\n');
    await loadPipeline(file, { kinds, cache: true });
    expect(await readdir(cacheDir)).toHaveLength(0);
    await utimes(file, past, past);
    await loadPipeline(file, { kinds, cache: true });
    const [entry] = await readdir(cacheDir);
    await writeFile(join(cacheDir, entry as string), '{ not json');
    expect(command(await loadPipeline(file, { kinds, cache: true }))).toEqual(['echo', 'fresh']);
  });

  it('serves a pipeline of run: stages without loading the kinds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vpt-ws-'));
    const file = await pipelineFile(dir, 'hello');
    let loads = 0;
    const loader = async (): Promise<KindRegistry> => {
      loads++;
      return kinds;
    };
    expect(command(await loadPipeline(file, { kinds: loader, cache: true }))).toEqual(['echo', 'hello']);
    expect(loads).toBe(1);
    expect(command(await loadPipeline(file, { kinds: loader, cache: true }))).toEqual(['echo', 'hello']);
    expect(loads).toBe(1);
  });

  it('re-expands when a kind the pipeline uses changes its version, params schema or resources, not when another kind does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vpt-ws-'));
    const file = join(dir, 'pipeline.yaml');
    await writeFile(file, 'stages:\n  a:\n    uses: t.make\n    with: { n: 3 }\n');
    await utimes(file, past, past);
    const registry = (version: number, extra: Record<string, unknown> = {}, other = 1): KindRegistry => {
      const r = new KindRegistry();
      r.register(defineKind({ name: 't.make', version, description: 'test', paramsSchema: { type: 'object', ...extra }, outputs: () => ['out'], run: async () => ({}) }));
      r.register(defineKind({ name: 't.other', version: other, description: 'unused', paramsSchema: { type: 'object' }, outputs: () => [], run: async () => ({}) }));
      return r;
    };
    const memory = (p: Awaited<ReturnType<typeof loadPipeline>>): number | undefined => (p.ok ? p.value.stages[0]?.resources.memoryMiB : undefined);
    let loads = 0;
    const counting = (r: KindRegistry) => async (): Promise<KindRegistry> => {
      loads++;
      return r;
    };
    expect((await loadPipeline(file, { kinds: registry(1), cache: true })).ok).toBe(true);
    expect(await readdir(cacheDir)).toHaveLength(1);
    // Same kinds (another kind's version does not matter): served from the cache; a strict schema now rejects `n`.
    const strict = { additionalProperties: false };
    expect((await loadPipeline(file, { kinds: counting(registry(1, {}, 7)), cache: true })).ok).toBe(true);
    expect(loads).toBe(1);
    expect((await loadPipeline(file, { kinds: registry(1, strict), cache: true })).ok).toBe(false);
    expect((await loadPipeline(file, { kinds: registry(2), cache: true })).ok).toBe(true);
    const bigger = new KindRegistry();
    bigger.register(defineKind({ name: 't.make', version: 2, description: 'test', paramsSchema: { type: 'object' }, outputs: () => ['out'], resources: { memoryMiB: 4096 }, run: async () => ({}) }));
    expect(memory(await loadPipeline(file, { kinds: bigger, cache: true }))).toBe(4096);
    expect(memory(await loadPipeline(file, { kinds: registry(2), cache: true }))).not.toBe(4096);
  });

  it('keeps the 64 most recently written entries and removes the old temporary file of a killed writer', async () => {
    const old = new Date(Date.now() - 2 * 3_600_000);
    for (let i = 0; i < 70; i++) {
      const f = join(cacheDir, `${String(i).padStart(64, '0')}.json`);
      await writeFile(f, '{}');
      await utimes(f, old, old);
    }
    const staleTmp = join(cacheDir, 'x.json.123.tmp');
    await writeFile(staleTmp, '');
    await utimes(staleTmp, old, old);
    const dir = await mkdtemp(join(tmpdir(), 'vpt-ws-'));
    const file = await pipelineFile(dir, 'pruned');
    expect(command(await loadPipeline(file, { kinds, cache: true }))).toEqual(['echo', 'pruned']);
    const left = await readdir(cacheDir);
    expect(left).toHaveLength(64);
    expect(left).not.toContain('x.json.123.tmp');
    // The entry just written survives the pruning and is served.
    expect(command(await loadPipeline(file, { kinds, cache: true }))).toEqual(['echo', 'pruned']);
    expect(await readdir(cacheDir)).toEqual(left);
  });
});
