/**
 * A built-in kind's fingerprint holds a hash of its code: its module and every project module it
 * imports. An edit there reruns its stages and says so; an edit anywhere else does not.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Stage } from '../src/dsl/model.js';
import { closureHash, codeHashOf, computeCodeHashes, describeReason, explainChange, fingerprintDoc, fingerprintOf } from '../src/plan/index.js';
import { builtinKinds } from '../src/stages/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

async function tree(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vpt-code-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return join(dir, 'src');
}

describe('code hashes', () => {
  it('change with the kind module and what it imports (static, re-exported, dynamic), not with other modules or type-only imports', async () => {
    const src = await tree({
      'src/stages/fam/kind.ts': [
        "import { defineKind } from '../kind.js';",
        "import type { Shape } from './types.js';",
        "export { helper } from './helper.js';",
        "export const k = defineKind({ name: 'fam.k', async run() { const { train } = await import('../../ml/train.js'); return train(); } });",
      ].join('\n'),
      'src/stages/kind.ts': 'export function defineKind<P>(k: P): P { return k; }\n',
      'src/stages/fam/types.ts': 'export interface Shape { n: number }\n',
      'src/stages/fam/helper.ts': 'export const helper = 1;\n',
      'src/ml/train.ts': "import { layer } from './layers.js';\nexport function train() { return layer(); }\n",
      'src/ml/layers.ts': 'export function layer() { return {}; }\n',
      'src/ml/unrelated.ts': 'export const x = 1;\n',
    });
    const before = computeCodeHashes(src);
    expect(Object.keys(before)).toEqual(['stages/fam/kind']);
    const edit = async (file: string, text: string): Promise<string | undefined> => {
      const path = join(src, file);
      const old = await readFile(path, 'utf8');
      await writeFile(path, text);
      const hash = computeCodeHashes(src)['stages/fam/kind'];
      await writeFile(path, old);
      return hash;
    };
    const h = before['stages/fam/kind'];
    expect(await edit('ml/layers.ts', 'export function layer() { return { changed: true }; }\n')).not.toBe(h);
    expect(await edit('stages/fam/helper.ts', 'export const helper = 2;\n')).not.toBe(h);
    expect(await edit('ml/unrelated.ts', 'export const x = 2;\n')).toBe(h);
    expect(await edit('stages/fam/types.ts', 'export interface Shape { n: string }\n')).toBe(h);
    expect(computeCodeHashes(src)['stages/fam/kind']).toBe(h);
  });

  it('train.vit covers the training loop in src/ml, and the hash from the sources is the one the build writes', async () => {
    const vit = builtinKinds().get('train.vit');
    expect(vit?.module).toBeDefined();
    const files: string[] = [];
    const entry = fileURLToPath(vit?.module as string);
    closureHash(join(root, 'src'), entry, (f) => {
      files.push(f.slice(root.length + 1));
      return readFileSync(f, 'utf8');
    });
    expect(files).toContain('src/ml/train.ts');
    expect(files).toContain('src/stages/train/runVit.ts');
    expect(files).not.toContain('src/cli/main.ts');
    expect(codeHashOf(vit?.module as string)).toBe(computeCodeHashes(join(root, 'src'))['stages/train/vit']);
  });

  it('is part of the fingerprint, and a change is explained as "code of <kind> changed"', () => {
    const stage = { id: 't', template: 't', type: 'builtin', uses: 'train.vit', with: { lr: 1 }, matrix: {}, needs: [], inputs: [], outputs: { m: 'out/m' }, env: {}, resources: { cpu: 1, gpu: 0, memoryMiB: 1 }, retries: 0, timeoutSeconds: undefined, location: {} } as unknown as Stage;
    const a = fingerprintDoc(stage, 1, new Map(), 'a'.repeat(64));
    const b = fingerprintDoc(stage, 1, new Map(), 'b'.repeat(64));
    expect(fingerprintOf(a)).not.toBe(fingerprintOf(b));
    expect(explainChange(a, b).map(describeReason)).toEqual(['code of train.vit changed']);
    // A kind outside the project (no code hash) keeps the document it had.
    expect(fingerprintDoc(stage, 1, new Map()).task).not.toHaveProperty('code');
  });
});
