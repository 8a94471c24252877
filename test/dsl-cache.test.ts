import { mkdtemp, readdir, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadPipeline } from '../src/dsl/index.js';
import { KindRegistry } from '../src/stages/index.js';

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
});
