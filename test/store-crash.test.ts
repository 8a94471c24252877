/**
 * Crash safety with real processes: a child is SIGKILLed while ingesting or restoring a large
 * folder, at several moments; the store and the destination must never be partial.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store, type ArtifactRef } from '../src/store/index.js';
import { createRng } from '../src/util/rng.js';

const CHILD = fileURLToPath(new URL('./store-child.ts', import.meta.url));
const FILES = 48;
const FILE_BYTES = 512 * 1024;

let ws: string;
let src: string;

function startChild(args: string[]): { proc: ChildProcess; lines: string[]; waitFor: (prefix: string) => Promise<string>; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: path.dirname(CHILD), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { prefix: string; resolve: (l: string) => void }[] = [];
  let buf = '';
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of waiters.filter((x) => line.startsWith(x.prefix))) w.resolve(line);
    }
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const waitFor = (prefix: string): Promise<string> => {
    const seen = lines.find((l) => l.startsWith(prefix));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      waiters.push({ prefix, resolve });
      void exited.then(() => setTimeout(() => reject(new Error(`child exited before "${prefix}": ${lines.join('|')} ${stderr}`)), 50));
    });
  };
  return { proc, lines, waitFor, exited };
}

async function treeDigest(root: string): Promise<string | undefined> {
  try {
    await fs.stat(root);
  } catch {
    return undefined;
  }
  const h = createHash('sha256');
  const visit = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await fs.readdir(dir)).sort()) {
      const abs = path.join(dir, name);
      const st = await fs.stat(abs);
      if (st.isDirectory()) await visit(abs, `${rel}${name}/`);
      else h.update(`${rel}${name}:${createHash('sha256').update(await fs.readFile(abs)).digest('hex')}\n`);
    }
  };
  await visit(root, '');
  return h.digest('hex');
}

/** Every object in the store hashes to its own name: no partial object was ever renamed in. */
async function assertObjectsIntact(store: Store): Promise<number> {
  const v = await store.verifyObjects({ quarantine: false });
  expect(v.corrupt).toEqual([]);
  return v.checked;
}

beforeAll(async () => {
  ws = await fs.mkdtemp(path.join(os.tmpdir(), 'vpt-crash-'));
  src = path.join(ws, 'big');
  const rng = createRng(99);
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(src, `part-${i % 4}`);
    await fs.mkdir(dir, { recursive: true });
    const b = Buffer.alloc(FILE_BYTES);
    for (let j = 0; j < FILE_BYTES; j += 4) b.writeUInt32LE(rng.int(2 ** 32), j);
    await fs.writeFile(path.join(dir, `f${i}.bin`), b);
  }
});

afterAll(async () => {
  await fs.rm(ws, { recursive: true, force: true });
});

const DELAYS_MS = [0, 15, 40, 80, 160, 320];

describe('SIGKILL mid-operation', () => {
  it('ingest: never leaves a partial object; a later ingest completes', async () => {
    let interrupted = 0;
    for (const delay of DELAYS_MS) {
      const child = startChild(['ingest', ws, src]);
      await child.waitFor('ready');
      await new Promise((r) => setTimeout(r, delay));
      child.proc.kill('SIGKILL');
      await child.exited;
      if (!child.lines.some((l) => l.startsWith('done'))) interrupted++;
      const store = await Store.open(ws);
      await assertObjectsIntact(store);
    }
    // The test means something only if some kills really landed mid-ingest.
    expect(interrupted).toBeGreaterThan(0);
    const store = await Store.open(ws);
    expect(await store.cleanTmp()).toBeGreaterThanOrEqual(0);
    expect(await fs.readdir(path.join(store.root, 'tmp'))).toEqual([]);
    const r = await store.ingest(src);
    expect(r.ok && r.value.files).toBe(FILES);
    expect(await assertObjectsIntact(store)).toBe(FILES + 1);
  });

  it('restore: the destination is the old tree, the new tree, or absent - never partial', async () => {
    const store = await Store.open(ws);
    const r = await store.ingest(src);
    if (!r.ok) throw new Error(r.error.message);
    const ref: ArtifactRef = r.value;
    const want = await treeDigest(src);
    const dest = path.join(ws, 'dest');
    let interrupted = 0;
    for (const delay of DELAYS_MS) {
      // An old, different tree in place each time.
      await fs.rm(dest, { recursive: true, force: true });
      await fs.mkdir(path.join(dest, 'old'), { recursive: true });
      await fs.writeFile(path.join(dest, 'old/file.txt'), `old ${delay}`);
      const old = await treeDigest(dest);
      const child = startChild(['restore', ws, JSON.stringify(ref), dest]);
      await child.waitFor('ready');
      await new Promise((res) => setTimeout(res, delay));
      child.proc.kill('SIGKILL');
      await child.exited;
      if (!child.lines.some((l) => l.startsWith('done'))) interrupted++;
      const got = await treeDigest(dest);
      expect([old, want, undefined]).toContain(got);
    }
    expect(interrupted).toBeGreaterThan(0);
    await store.cleanTmp();
    expect(await fs.readdir(path.join(store.root, 'tmp'))).toEqual([]);
    expect((await store.restore(ref, dest)).ok).toBe(true);
    expect(await treeDigest(dest)).toBe(want);
  });
});
