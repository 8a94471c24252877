/**
 * Hashing throughput of the store vs `sha256sum`, on the same 1 GiB file in the same run.
 *
 *   node --import tsx bench/hash.ts [--gib 1] [--append]
 *
 * Rounds alternate (sha256sum, hashPath, sha256sum, ...) so machine load hits both alike; each
 * hashPath round uses a fresh workspace (empty stat cache), so it really reads the file. Then a
 * NEW process opens the last round's workspace and hashes the file again: the persisted stat
 * cache must answer without reading (filesHashed = 0, milliseconds). The file is read once
 * before timing, so every round reads from the page cache.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Store } from '../src/store/index.js';
import { machineLine } from './machine.js';

const run = promisify(execFile);
const HERE = fileURLToPath(import.meta.url);

async function child(ws: string, file: string): Promise<void> {
  const t0 = performance.now();
  const store = await Store.open(ws);
  const r = await store.hashPath(file);
  const ms = performance.now() - t0;
  process.stdout.write(`${JSON.stringify({ ms, hash: r.ok ? r.value.hash : undefined, ...store.counters })}\n`);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child' && args[1] !== undefined && args[2] !== undefined) return child(args[1], args[2]);
  const gib = Number(args[args.indexOf('--gib') + 1] ?? 1) || 1;
  const append = args.includes('--append');
  const rounds = 3;
  const load = os.loadavg().map((x) => x.toFixed(1)).join(' ');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vpt-bench-hash-'));
  try {
    const file = path.join(dir, 'big.bin');
    const bytes = gib * 2 ** 30;
    const block = randomBytes(8 * 2 ** 20);
    const fh = await fs.open(file, 'w');
    for (let off = 0; off < bytes; off += block.length) {
      block.writeUInt32LE(off / block.length, 0); // every block differs
      await fh.write(block, 0, Math.min(block.length, bytes - off));
    }
    await fh.close();
    await run('sh', ['-c', `cat '${file}' > /dev/null`]);

    const sums: number[] = [];
    const ours: number[] = [];
    let lastWs = '';
    let theirHash = '';
    let ourHash = '';
    for (let i = 0; i < rounds; i++) {
      let t0 = performance.now();
      const out = await run('sha256sum', [file]);
      sums.push(performance.now() - t0);
      theirHash = out.stdout.split(' ')[0] ?? '';
      lastWs = path.join(dir, `ws${i}`);
      const store = await Store.open(lastWs);
      t0 = performance.now();
      const r = await store.hashPath(file);
      ours.push(performance.now() - t0);
      if (!r.ok) throw new Error(r.error.message);
      if (store.counters.bytesHashed !== bytes) throw new Error(`round ${i} did not read the whole file`);
      ourHash = r.value.hash;
      await store.flushStatCache();
    }
    if (ourHash !== theirHash) throw new Error(`hash mismatch: ${ourHash} vs ${theirHash}`);

    const t0 = performance.now();
    const second = await run(process.execPath, ['--import', 'tsx', HERE, '--child', lastWs, file], { cwd: path.dirname(HERE) });
    const procMs = performance.now() - t0;
    const c = JSON.parse(second.stdout) as { ms: number; hash: string; filesHashed: number; bytesHashed: number; statCacheHits: number };
    if (c.hash !== theirHash) throw new Error('second-process hash differs');

    const mibs = (ms: number): number => bytes / 2 ** 20 / (ms / 1000);
    const lines = [
      `hash: ${gib} GiB file, page-cached, ${rounds} alternating rounds; sha256sum (${execFileSync('sha256sum', ['--version']).toString().split('\n')[0]}) best ${sums.reduce((a, b) => Math.min(a, b)).toFixed(0)} ms / median ${median(sums).toFixed(0)} ms (${mibs(median(sums)).toFixed(0)} MiB/s)`,
      `hash: Store.hashPath (node crypto/OpenSSL, 8 MiB double-buffered reads) best ${ours.reduce((a, b) => Math.min(a, b)).toFixed(0)} ms / median ${median(ours).toFixed(0)} ms (${mibs(median(ours)).toFixed(0)} MiB/s)`,
      `hash: throughput ratio hashPath/sha256sum: best ${(Math.min(...sums) / Math.min(...ours)).toFixed(2)}, median ${(median(sums) / median(ours)).toFixed(2)} (>= 0.80 required); per round sha256sum [${sums.map((x) => x.toFixed(0)).join(', ')}] ms, hashPath [${ours.map((x) => x.toFixed(0)).join(', ')}] ms`,
      `hash: second hashPath in a NEW process (persisted stat cache): ${c.ms.toFixed(1)} ms inside the process (Store.open + hashPath), ${procMs.toFixed(0)} ms for the whole process incl. node+tsx startup; filesHashed ${c.filesHashed}, bytesHashed ${c.bytesHashed}, statCacheHits ${c.statCacheHits}`,
    ];
    const date = execFileSync('date').toString().trim();
    const block2 = [
      '',
      '## Store hashing (bench/hash.ts)',
      '',
      `- command: \`node --import tsx bench/hash.ts${append ? ' --append' : ''}\``,
      `- date: ${date}`,
      ...lines.map((l) => `- ${l}`),
      `- machine: nproc ${execFileSync('nproc').toString().trim()}, ${machineLine()}; load average at start ${load}; backend: n/a (CPU, OpenSSL via node:crypto)`,
      '',
    ].join('\n');
    process.stdout.write(block2);
    if (append) await fs.appendFile(path.join(path.dirname(HERE), 'RESULTS.md'), block2);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

await main();
