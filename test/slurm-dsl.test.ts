/**
 * The DSL's `slurm:` settings: pipeline top level and `defaults` merged under each stage's own,
 * reserved sbatch flags refused with their position, bad shapes caught by the schema, and none
 * of it in the fingerprint (where a stage runs does not change its result).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostics, loadPipeline, type Pipeline } from '../src/dsl/index.js';
import { fingerprintDoc } from '../src/plan/fingerprint.js';
import { testKinds } from './fixtures/dsl/kinds.js';

async function load(text: string): Promise<Awaited<ReturnType<typeof loadPipeline>>> {
  const root = mkdtempSync(join(tmpdir(), 'vpt-slurm-dsl-'));
  writeFileSync(join(root, 'pipeline.yaml'), text);
  return loadPipeline(join(root, 'pipeline.yaml'), { kinds: testKinds() });
}

async function loadOk(text: string): Promise<Pipeline> {
  const r = await load(text);
  if (!r.ok) throw new Error(formatDiagnostics(r.error, { color: false }));
  return r.value;
}

describe('slurm: settings in the DSL', () => {
  it('merges top level < defaults < stage; extra flags accumulate; matrix cells share them', async () => {
    const p = await loadOk(`
slurm: { partition: cpu, account: proj, extra_args: [--exclusive] }
defaults:
  slurm: { qos: low }
stages:
  a:
    run: echo a
  b:
    matrix: { n: [1, 2] }
    run: echo b
    slurm: { partition: gpu, extra_args: ["--constraint=a100"] }
`);
    const byId = new Map(p.stages.map((s) => [s.id, s]));
    expect(byId.get('a')?.slurm).toEqual({ partition: 'cpu', account: 'proj', qos: 'low', extraArgs: ['--exclusive'] });
    for (const id of ['b[n=1]', 'b[n=2]']) {
      expect(byId.get(id)?.slurm).toEqual({ partition: 'gpu', account: 'proj', qos: 'low', extraArgs: ['--exclusive', '--constraint=a100'] });
    }
  });

  it('stages without slurm settings have none', async () => {
    const p = await loadOk('stages:\n  a:\n    run: echo a\n');
    expect(p.stages[0]?.slurm).toBeUndefined();
  });

  it('refuses flags the executor sets, at their position', async () => {
    const r = await load(`
stages:
  a:
    run: echo a
    slurm:
      extra_args: ["--mem-per-cpu=1G", "--output=/tmp/x.log", -J]
`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const messages = r.error.map((d) => `${d.location?.start.line}: ${d.message}`);
    expect(messages).toEqual(expect.arrayContaining([expect.stringMatching(/^6: .*`--output` is set by the Slurm executor/), expect.stringMatching(/^6: .*`-J` is set by the Slurm executor/)]));
    expect(messages.some((m) => m.includes('--mem-per-cpu'))).toBe(false);
  });

  it('the schema catches unknown keys, empty names and non-flag extra args', async () => {
    for (const bad of ['slurm: { partiton: cpu }', 'slurm: { partition: "" }', 'slurm: { extra_args: [exclusive] }', 'slurm: cpu']) {
      const r = await load(`${bad}\nstages:\n  a:\n    run: echo a\n`);
      expect(r.ok, bad).toBe(false);
    }
  });

  it('does not change the fingerprint', async () => {
    const plain = await loadOk('stages:\n  a:\n    run: echo a\n');
    const placed = await loadOk('slurm: { partition: gpu }\nstages:\n  a:\n    run: echo a\n    slurm: { qos: high }\n');
    const doc = (p: Pipeline) => fingerprintDoc(p.stages[0] as Pipeline['stages'][number], undefined, new Map());
    expect(doc(placed)).toEqual(doc(plain));
  });
});
