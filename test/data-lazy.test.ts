import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('data kinds are light to plan', () => {
  it('importing the kind registry and reading every data kind\'s metadata does not load sharp', () => {
    // A fresh process: vitest itself may have sharp loaded from other test files.
    const script = `
      const { builtinKinds } = await import('./src/stages/index.ts');
      const names = builtinKinds().names().filter((n) => n.startsWith('data.'));
      for (const n of names) { const k = builtinKinds().get(n); k.outputs({}); JSON.stringify(k.paramsSchema); }
      // sharp's native addon and libvips show up among the process's shared objects once loaded
      const loaded = process.report.getReport().sharedObjects.filter((p) => /sharp|vips/.test(p));
      console.log(JSON.stringify({ names, loaded }));
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8' });
    const { names, loaded } = JSON.parse(out.trim().split('\n').pop()!) as { names: string[]; loaded: string[] };
    expect(names).toEqual(['data.idx', 'data.imagefolder', 'data.mini-vtab', 'data.vtab1k']);
    expect(loaded).toEqual([]);
  });
});
