// After tsc: writes <out>/code-hashes.json, each built-in kind's code hash over the TypeScript
// sources (src/plan/code-hash.ts says why), so a built package has them without its sources.
//   node scripts/code-hashes.mjs [outDir=dist]
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..');
const out = resolve(process.argv[2] ?? join(root, 'dist'));
const { computeCodeHashes, CODE_HASHES_FILE } = await import(pathToFileURL(join(out, 'plan', 'code-hash.js')).href);
writeFileSync(join(out, CODE_HASHES_FILE), `${JSON.stringify(computeCodeHashes(join(root, 'src')), null, 2)}\n`);
