/**
 * The package as a program uses it: built with the real build config into a copy of the package
 * folder, imported by its name through `exports`, and its `pipeline` bin run with `--version`.
 */
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
  files: string[];
  exports: Record<string, string | { types: string; default: string }>;
};
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vpt-package-'));
  for (const f of ['package.json', 'bin', 'schemas', 'pipelines']) await cp(join(root, f), join(dir, f), { recursive: true });
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'));
  // The real build, into the copy: the same tsconfig.build.json, only the output folder moved.
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  await execa(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')]);
  await execa(process.execPath, [join(root, 'scripts', 'code-hashes.mjs'), join(dir, 'dist')]);
}, 180_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function importByName(code: string): Promise<string> {
  const r = await execa(process.execPath, ['--input-type=module', '-e', code], { cwd: dir, reject: false });
  if (r.exitCode !== 0) throw new Error(r.stderr);
  return r.stdout;
}

describe('the package', () => {
  it('is built the way this test builds it, and knows its kinds\' code hashes without the sources', async () => {
    expect((pkg as unknown as { scripts: Record<string, string> }).scripts['build']).toBe('tsc -p tsconfig.build.json && node scripts/code-hashes.mjs');
    const out = await importByName(`
      import { builtinKinds } from 'vpt-pipeline';
      import { codeHashOf } from './dist/plan/code-hash.js';
      const vit = builtinKinds().get('train.vit');
      console.log(JSON.stringify({ module: vit.module.includes('/dist/'), code: codeHashOf(vit.module) ?? null }));
    `);
    const r = JSON.parse(out) as { module: boolean; code: string | null };
    expect(r.module).toBe(true);
    expect(r.code).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ships every file its exports and bin name', () => {
    for (const [entry, target] of Object.entries(pkg.exports)) {
      const paths = typeof target === 'string' ? [target] : [target.types, target.default];
      for (const p of paths) {
        expect(existsSync(join(dir, p)), `${entry} -> ${p}`).toBe(true);
        expect(pkg.files.some((f) => p.replace(/^\.\//, '').startsWith(`${f}/`) || p === './package.json'), `${p} is in "files"`).toBe(true);
      }
    }
    for (const p of Object.values(pkg.bin)) expect(pkg.files.some((f) => p.startsWith(`${f}/`))).toBe(true);
  });

  it('loads, validates, checks and plans a pipeline through its main entry point', async () => {
    const out = await importByName(`
      import { openPipeline, planPipeline, preflightAll, runPipeline, VERSION } from 'vpt-pipeline';
      const bad = await openPipeline('pipelines/vtab-mini.yaml', { set: ['train.epochs=zero'], cache: false });
      const opened = await openPipeline('pipelines/vtab-mini.yaml', { cache: false });
      if (!opened.ok) throw new Error('vtab-mini did not load');
      const plan = await planPipeline(opened.value, { targets: ['prep'] });
      const notReady = await preflightAll({ pipeline: opened.value.pipeline, kinds: opened.value.kinds });
      console.log(JSON.stringify({
        version: VERSION,
        badOk: bad.ok,
        stages: opened.value.pipeline.stages.length,
        prepAction: plan.ok ? plan.value.decisions.get('prep').action : plan.error.message,
        notReadyIsArray: Array.isArray(notReady),
        run: typeof runPipeline,
      }));
    `);
    const r = JSON.parse(out) as Record<string, unknown>;
    expect(r).toMatchObject({ version: pkg.version, badOk: false, prepAction: 'run', notReadyIsArray: true, run: 'function' });
    expect(r['stages']).toBeGreaterThan(50);
  });

  it('exposes the ML core and FID by name', async () => {
    const out = await importByName(`
      import { createViT, selectBackend, methodMode } from 'vpt-pipeline/ml';
      import { featureStats, frechetDistance } from 'vpt-pipeline/fid';
      import { defineKind } from 'vpt-pipeline/stages';
      const backend = await selectBackend('cpu');
      const a = new Float64Array([0, 1, 2, 3, 1, 0, 2, 2]);
      const b = new Float64Array([1, 1, 3, 3, 2, 0, 3, 2]); // a shifted by (1, 0)
      const sa = featureStats(a, 4, 2).value, sb = featureStats(b, 4, 2).value;
      const same = frechetDistance(sa, sa);
      const moved = frechetDistance(sa, sb);
      console.log(JSON.stringify({ backend: backend.ok && backend.value.backend, vit: typeof createViT, mode: typeof methodMode, kind: typeof defineKind, same: same.ok ? same.value.fid : null, moved: moved.ok ? moved.value.fid : null }));
    `);
    const r = JSON.parse(out) as { backend: string; vit: string; mode: string; kind: string; same: number; moved: number };
    expect(r).toMatchObject({ backend: 'cpu', vit: 'function', mode: 'function', kind: 'function' });
    expect(r.same).toBeCloseTo(0, 9);
    // The same covariance, the mean moved by (1, 0): FID = |mu_a - mu_b|^2 = 1.
    expect(r.moved).toBeCloseTo(1, 6);
  });

  it('runs its bin: --version prints the package version', async () => {
    const bin = join(dir, pkg.bin['pipeline'] as string);
    const r = await execa(bin, ['--version'], { cwd: dir, reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
    const help = await execa(bin, ['validate', 'pipelines/vtab-mini.yaml', '--no-data'], { cwd: dir, reject: false });
    expect(help.exitCode, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/vtab-mini\.yaml: valid/);
  });
});
