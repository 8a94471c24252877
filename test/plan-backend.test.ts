/**
 * Defaults that change results and depend on the backend (train.vit's `workers`: 2 shards on wasm,
 * 1 on tfjs-node) are filled in before fingerprinting: two backends never share a key for
 * different work, and the stage gets exactly the params its key was made from.
 */
import { describe, expect, it } from 'vitest';
import { openPipeline } from '../src/open.js';
import { planPipeline, type Decision } from '../src/plan/index.js';
import { runCli, workspace } from './helpers/cli.js';

const yaml = (workers: string): string => `
stages:
  fit:
    uses: train.vit
    with: { data: tasks/toy, method: ft, model: vit-mini, epochs: 1${workers} }
`;

async function planned(text: string, backend: string): Promise<Extract<Decision, { action: 'run' }>> {
  const ws = await workspace({ 'pipeline.yaml': text });
  const opened = await openPipeline(`${ws}/pipeline.yaml`, { cache: false });
  if (!opened.ok) throw new Error(JSON.stringify(opened.error));
  const plan = await planPipeline({ ...opened.value, backend }, {});
  if (!plan.ok) throw new Error(plan.error.message);
  return plan.value.decisions.get('fit') as Extract<Decision, { action: 'run' }>;
}

describe('backend-dependent defaults', () => {
  it('are resolved into the fingerprinted params: workers 2 on wasm and cpu, 1 on tfjs-node', async () => {
    const wasm = await planned(yaml(''), 'wasm');
    const cpu = await planned(yaml(''), 'cpu');
    const node = await planned(yaml(''), 'tensorflow');
    const params = (d: Extract<Decision, { action: 'run' }>): Record<string, unknown> => (d.doc.task.type === 'builtin' ? d.doc.task.params : {}) as Record<string, unknown>;
    expect(params(wasm)['workers']).toBe(2);
    expect(params(cpu)['workers']).toBe(2);
    expect(params(node)['workers']).toBe(1);
    expect(node.fingerprint).not.toBe(wasm.fingerprint);
    expect(cpu.fingerprint).toBe(wasm.fingerprint);
  });

  it('an explicit value is kept, and the key is then the same on every backend', async () => {
    const wasm = await planned(yaml(', workers: 1'), 'wasm');
    const node = await planned(yaml(', workers: 1'), 'tensorflow');
    expect(node.fingerprint).toBe(wasm.fingerprint);
  });

  it('`run --dry-run` and `status` plan with --backend, as the run itself does', async () => {
    const ws = await workspace({ 'pipeline.yaml': yaml('') });
    const fingerprints = async (args: string[]): Promise<unknown> => {
      // VPT_BACKEND says tfjs-node; the option must win over it, as in `run`.
      const r = await runCli([...args, 'pipeline.yaml', '--json'], ws, { VPT_BACKEND: 'tensorflow' });
      expect(r.stderr).toBe('');
      const parsed = JSON.parse(r.stdout) as Array<{ id: string; fingerprint?: string }>;
      return parsed.find((d) => d.id === 'fit')?.fingerprint;
    };
    const wasm = (await planned(yaml(''), 'wasm')).fingerprint;
    const node = (await planned(yaml(''), 'tensorflow')).fingerprint;
    expect(await fingerprints(['run', '--dry-run', '--backend', 'wasm'])).toBe(wasm);
    expect(await fingerprints(['status', '--backend', 'wasm'])).toBe(wasm);
    expect(await fingerprints(['status'])).toBe(node);
  });
});
