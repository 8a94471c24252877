/**
 * `npm run bench`: every benchmark in turn, each appending its figures (command, date, backend,
 * machine, and the peer measured in the same run) to bench/RESULTS.md. Takes 30-60 minutes on
 * 2 cores; run one directly for a single figure. Pass names to run a subset:
 *   npm run bench -- engine hash
 */
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BENCHES: Record<string, { file: string; args: string[]; needs?: string }> = {
  engine: { file: 'engine.ts', args: ['--append'], needs: 'build' },
  dsl: { file: 'dsl-expand.ts', args: ['--append'] },
  hash: { file: 'hash.ts', args: ['--append'] },
  data: { file: 'data.ts', args: ['--append'] },
  // 20 steps: the first steps of a 2-worker run are slow (worker warm-up), so 6 under-report it.
  train: { file: 'train-compare.ts', args: ['--rounds', '3', '--steps', '20', '--workers', '1,2', '--append'] },
  'train-vitb': { file: 'train-compare.ts', args: ['--rounds', '1', '--steps', '20', '--vitb', '--append'] },
  analysis: { file: 'analysis.ts', args: ['--append'] },
  slurm: { file: 'slurm.ts', args: ['--append'], needs: 'slurm' },
};

const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(BENCHES);
let failed = 0;
for (const name of chosen) {
  const bench = BENCHES[name];
  if (!bench) {
    console.error(`unknown benchmark '${name}' (known: ${Object.keys(BENCHES).join(', ')})`);
    process.exit(2);
  }
  if (bench.needs === 'build') spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (bench.needs === 'slurm') spawnSync(join(root, 'scripts', 'local-slurm.sh'), [], { cwd: root, stdio: 'inherit' });
  console.error(`\n=== bench ${name}: node --import tsx bench/${bench.file} ${bench.args.join(' ')}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join('bench', bench.file), ...bench.args], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.error(`bench ${name} failed with exit ${r.status}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
