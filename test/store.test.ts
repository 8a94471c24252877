import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256, Store, type ArtifactRef, type RunRecord, type StoreWarning } from '../src/store/index.js';
import { createRng } from '../src/util/rng.js';

let ws: string;
beforeEach(async () => {
  ws = await fs.mkdtemp(path.join(os.tmpdir(), 'vpt-store-'));
});
afterEach(async () => {
  await fs.rm(ws, { recursive: true, force: true });
});

/**
 * The stat cache ignores entries for files changed within the "racy" window before hashing
 * (default 2 s). Tests use a 100 ms window and wait it out after touching a file; utimes
 * cannot backdate a file here because it moves ctime to now.
 */
const RACY_MS = 100;
const FAST = { racyWindowMs: RACY_MS };
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, RACY_MS + 50));
}

function bytes(seed: number, n: number): Buffer {
  const rng = createRng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

/** A nested folder with an empty file, an executable, an empty subfolder and binary content. */
async function makeTree(root: string): Promise<void> {
  await fs.mkdir(path.join(root, 'a/b/c'), { recursive: true });
  await fs.mkdir(path.join(root, 'empty-dir/inner'), { recursive: true });
  await fs.writeFile(path.join(root, 'top.txt'), 'hello\n');
  await fs.writeFile(path.join(root, 'a/empty'), '');
  await fs.writeFile(path.join(root, 'a/b/run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await fs.writeFile(path.join(root, 'a/b/c/data.bin'), bytes(1, 100_000));
  await fs.writeFile(path.join(root, 'a/b/c/same.bin'), bytes(1, 100_000)); // duplicate content
}

async function listTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (dir: string, rel: string): Promise<void> => {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    if (entries.length === 0 && rel !== '') out[`${rel}/`] = 'dir';
    for (const e of entries) {
      const abs = path.join(dir, e.name);
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await visit(abs, r);
      else {
        const st = await fs.stat(abs);
        out[r] = `${sha256(await fs.readFile(abs))}:${(st.mode & 0o111) !== 0 ? 'x' : '-'}`;
      }
    }
  };
  await visit(root, '');
  return out;
}

async function countObjects(store: Store): Promise<number> {
  let n = 0;
  for (const shard of await fs.readdir(path.join(store.root, 'objects'))) n += (await fs.readdir(path.join(store.root, 'objects', shard))).length;
  return n;
}

describe('Store.open', () => {
  it('creates the .vpt layout', async () => {
    const store = await Store.open(ws);
    expect(store.root).toBe(path.join(ws, '.vpt'));
    for (const d of ['objects', 'runs', 'stages', 'tmp', 'logs', 'checkpoints', 'quarantine']) {
      expect((await fs.stat(path.join(ws, '.vpt', d))).isDirectory()).toBe(true);
    }
  });
});

describe('ingest / restore', () => {
  it('round-trips a single file', async () => {
    const store = await Store.open(ws);
    const src = path.join(ws, 'in.bin');
    const content = bytes(7, 3 * 1024 * 1024 + 17);
    await fs.writeFile(src, content);
    const r = await store.ingest(src);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toEqual({ kind: 'file', hash: sha256(content), size: content.length, files: 1 });
    // Copy mode leaves the source in place; the object is read-only.
    expect((await fs.readFile(src)).equals(content)).toBe(true);
    const objStat = await fs.stat(path.join(store.root, 'objects', r.value.hash.slice(0, 2), r.value.hash));
    expect(objStat.mode & 0o777).toBe(0o444);
    const dest = path.join(ws, 'out/deep/copy.bin');
    expect((await store.restore(r.value, dest)).ok).toBe(true);
    expect((await fs.readFile(dest)).equals(content)).toBe(true);
    // The restored copy is writable and independent of the store (no hardlink).
    expect((await fs.stat(dest)).ino).not.toBe(objStat.ino);
    await fs.appendFile(dest, 'edit');
    expect(await store.hasObject(r.value)).toBe(true);
    expect((await store.restore(r.value, path.join(ws, 'again.bin'))).ok).toBe(true);
    expect((await fs.readFile(path.join(ws, 'again.bin'))).equals(content)).toBe(true);
  });

  it('round-trips a file spanning several 8 MiB read chunks (double-buffered copy+hash)', async () => {
    const store = await Store.open(ws);
    const n = 2 * 8 * 1024 * 1024 + 12_345;
    const content = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) content[i] = (Math.imul(i, 2654435761) >>> 24) & 0xff;
    const src = path.join(ws, 'multi.bin');
    await fs.writeFile(src, content);
    const h = await store.hashPath(src);
    expect(h.ok && h.value.hash).toBe(sha256(content));
    const r = await store.ingest(src);
    expect(r.ok && r.value.hash).toBe(sha256(content));
    if (!r.ok) return;
    const obj = await fs.readFile(path.join(store.root, 'objects', r.value.hash.slice(0, 2), r.value.hash));
    expect(obj.equals(content)).toBe(true);
    const dest = path.join(ws, 'multi-restored.bin');
    expect((await store.restore(r.value, dest)).ok).toBe(true);
    expect((await fs.readFile(dest)).equals(content)).toBe(true);
  });

  it('round-trips nested folders with empty files, empty folders and the exec bit', async () => {
    const store = await Store.open(ws);
    const src = path.join(ws, 'tree');
    await makeTree(src);
    const before = await listTree(src);
    const r = await store.ingest(src);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.kind).toBe('dir');
    expect(r.value.files).toBe(5);
    expect(r.value.size).toBe(6 + 0 + 18 + 200_000);
    // hashPath of the same folder gives the same identity as ingest.
    const h = await store.hashPath(src);
    expect(h.ok && h.value).toEqual(r.value);
    const dest = path.join(ws, 'restored');
    expect((await store.restore(r.value, dest)).ok).toBe(true);
    expect(await listTree(dest)).toEqual(before);
    expect(before['a/b/run.sh']?.endsWith(':x')).toBe(true);
    expect(before['empty-dir/inner/']).toBe('dir');
    // Restoring over an existing, different folder replaces it entirely.
    await fs.writeFile(path.join(dest, 'stray.txt'), 'x');
    await fs.rm(path.join(dest, 'top.txt'));
    expect((await store.restore(r.value, dest)).ok).toBe(true);
    expect(await listTree(dest)).toEqual(before);
    // No temp leftovers.
    expect(await fs.readdir(path.join(store.root, 'tmp'))).toEqual([]);
  });

  it('deduplicates identical content across files and ingests', async () => {
    const store = await Store.open(ws);
    const src = path.join(ws, 'tree');
    await makeTree(src);
    const r1 = await store.ingest(src);
    const n1 = await countObjects(store);
    // 4 distinct contents (hello, empty, run.sh, data.bin==same.bin) + 1 manifest.
    expect(n1).toBe(5);
    await fs.writeFile(path.join(ws, 'copy-of-data.bin'), bytes(1, 100_000));
    const r2 = await store.ingest(path.join(ws, 'copy-of-data.bin'));
    const r3 = await store.ingest(src);
    expect(await countObjects(store)).toBe(5);
    expect(r3.ok && r1.ok && r3.value.hash === r1.value.hash).toBe(true);
    expect(r2.ok && r2.value.hash).toBe(sha256(bytes(1, 100_000)));
  });

  it('move-ingests a staging folder (source gone, content restorable)', async () => {
    const store = await Store.open(ws);
    const staging = await store.newStagingDir('train[task=dtd]');
    const src = path.join(staging, 'out');
    await makeTree(src);
    const before = await listTree(src);
    const r = await store.ingest(src, { move: true });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    await expect(fs.stat(src)).rejects.toThrow();
    const dest = path.join(ws, 'restored');
    expect((await store.restore(r.value, dest)).ok).toBe(true);
    expect(await listTree(dest)).toEqual(before);
  });

  it('move-ingest copies (never moves) symlinked and hard-linked files, so their targets stay intact', async () => {
    const store = await Store.open(ws);
    const target = path.join(ws, 'user-file.txt');
    await fs.writeFile(target, 'user data');
    const staging = await store.newStagingDir('s');
    const out = path.join(staging, 'out');
    await fs.mkdir(out);
    await fs.symlink(target, path.join(out, 'link.txt'));
    await fs.link(target, path.join(out, 'hard.txt'));
    const r = await store.ingest(out, { move: true });
    expect(r.ok && r.value.files).toBe(2);
    expect(await fs.readFile(target, 'utf8')).toBe('user data');
    expect((await fs.stat(target)).mode & 0o200).not.toBe(0); // still writable: not turned into an object
    const h = sha256('user data');
    const obj = await fs.lstat(path.join(store.root, 'objects', h.slice(0, 2), h));
    expect(obj.isFile()).toBe(true);
    expect(obj.ino).not.toBe((await fs.stat(target)).ino);
  });

  it('two stores ingesting the same tree at once both succeed with identical objects', async () => {
    const src = path.join(ws, 'tree');
    await makeTree(src);
    const [s1, s2] = await Promise.all([Store.open(ws), Store.open(ws)]);
    const [a, b] = await Promise.all([s1.ingest(src), s2.ingest(src)]);
    expect(a.ok && b.ok && a.value.hash === b.value.hash).toBe(true);
    expect((await s1.verifyObjects()).corrupt).toEqual([]);
    expect(await countObjects(s1)).toBe(5);
  });

  it('reports missing paths and missing objects as error values', async () => {
    const store = await Store.open(ws);
    const nf = await store.hashPath(path.join(ws, 'nope'));
    expect(!nf.ok && nf.error.reason).toBe('not-found');
    const ing = await store.ingest(path.join(ws, 'nope'));
    expect(!ing.ok && ing.error.reason).toBe('not-found');
    const ghost: ArtifactRef = { kind: 'file', hash: sha256('never stored'), size: 12, files: 1 };
    expect(await store.hasObject(ghost)).toBe(false);
    const r = await store.restore(ghost, path.join(ws, 'ghost'));
    expect(!r.ok && r.error.reason).toBe('missing');
    await expect(fs.stat(path.join(ws, 'ghost'))).rejects.toThrow();
    const ghostDir: ArtifactRef = { kind: 'dir', hash: sha256('nope'), size: 0, files: 0 };
    expect(await store.hasObject(ghostDir)).toBe(false);
  });

  it('refuses symlinked folders inside an output', async () => {
    const store = await Store.open(ws);
    await fs.mkdir(path.join(ws, 't/real'), { recursive: true });
    await fs.symlink(path.join(ws, 't/real'), path.join(ws, 't/link'));
    const r = await store.hashPath(path.join(ws, 't'));
    expect(!r.ok && r.error.reason).toBe('io');
  });
});

describe('corruption', () => {
  it('detects a flipped byte on restore, quarantines the object and never writes the destination', async () => {
    const warnings: StoreWarning[] = [];
    const store = await Store.open(ws, { onWarning: (w) => warnings.push(w) });
    const src = path.join(ws, 'f.bin');
    await fs.writeFile(src, bytes(3, 50_000));
    const r = await store.ingest(src);
    if (!r.ok) throw new Error('ingest failed');
    const obj = path.join(store.root, 'objects', r.value.hash.slice(0, 2), r.value.hash);
    await fs.chmod(obj, 0o644);
    const buf = await fs.readFile(obj);
    buf[1234] = (buf[1234] ?? 0) ^ 0xff;
    await fs.writeFile(obj, buf);
    const dest = path.join(ws, 'dest.bin');
    const res = await store.restore(r.value, dest);
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.error.reason).toBe('corrupt');
    expect(res.error.path?.startsWith(path.join(store.root, 'quarantine'))).toBe(true);
    await expect(fs.stat(dest)).rejects.toThrow();
    await expect(fs.stat(obj)).rejects.toThrow(); // moved out of objects/
    expect((await fs.readdir(path.join(store.root, 'quarantine'))).length).toBe(1);
    expect(warnings.map((w) => w.kind)).toEqual(['quarantined']);
    expect(await store.hasObject(r.value)).toBe(false);
    expect(await fs.readdir(path.join(store.root, 'tmp'))).toEqual([]);
    // Re-ingesting the good content heals the store.
    expect((await store.ingest(src)).ok).toBe(true);
    expect((await store.restore(r.value, dest)).ok).toBe(true);
  });

  it('a corrupt file inside a folder fails the whole restore and leaves the old destination intact', async () => {
    const store = await Store.open(ws);
    const src = path.join(ws, 'tree');
    await makeTree(src);
    const r = await store.ingest(src);
    if (!r.ok) throw new Error('ingest failed');
    const dest = path.join(ws, 'dest');
    await fs.mkdir(dest);
    await fs.writeFile(path.join(dest, 'old.txt'), 'old');
    const h = sha256('hello\n');
    const obj = path.join(store.root, 'objects', h.slice(0, 2), h);
    await fs.chmod(obj, 0o644);
    await fs.writeFile(obj, 'jello\n');
    const res = await store.restore(r.value, dest);
    expect(!res.ok && res.error.reason).toBe('corrupt');
    expect(await fs.readdir(dest)).toEqual(['old.txt']);
    expect(store.drainWarnings().map((w) => w.kind)).toEqual(['quarantined']);
  });

  it('verifyObjects finds and quarantines corrupt objects', async () => {
    const store = await Store.open(ws);
    await makeTree(path.join(ws, 'tree'));
    const r = await store.ingest(path.join(ws, 'tree'));
    expect(r.ok).toBe(true);
    const clean = await store.verifyObjects();
    expect(clean).toEqual({ checked: 5, corrupt: [] });
    const h = sha256('');
    const obj = path.join(store.root, 'objects', h.slice(0, 2), h);
    await fs.chmod(obj, 0o644);
    await fs.writeFile(obj, 'not empty');
    const v = await store.verifyObjects();
    expect(v.checked).toBe(5);
    expect(v.corrupt.map((c) => c.hash)).toEqual([h]);
    expect(v.corrupt[0]?.path.startsWith(path.join(store.root, 'quarantine'))).toBe(true);
  });
});

describe('stat cache', () => {
  it('never re-reads an unchanged file, and re-hashes after a change', async () => {
    const store = await Store.open(ws, FAST);
    const f = path.join(ws, 'big.bin');
    await fs.writeFile(f, bytes(5, 1_000_000));
    await settle();
    const first = await store.hashPath(f);
    expect(store.counters.filesHashed).toBe(1);
    expect(store.counters.bytesHashed).toBe(1_000_000);
    const second = await store.hashPath(f);
    expect(second).toEqual(first);
    expect(store.counters.filesHashed).toBe(1); // no read
    expect(store.counters.statCacheHits).toBe(1);
    // Any metadata change (here: chmod changes ctime) invalidates the entry.
    await fs.chmod(f, 0o600);
    await settle();
    const third = await store.hashPath(f);
    expect(third).toEqual(first);
    expect(store.counters.filesHashed).toBe(2);
  });

  it('persists across processes (a new Store instance reads state.json) and re-hashes changed content', async () => {
    const f = path.join(ws, 'x.bin');
    await fs.writeFile(f, 'version one');
    await settle();
    const s1 = await Store.open(ws, FAST);
    const a = await s1.hashPath(f);
    await s1.flushStatCache();
    const s2 = await Store.open(ws, FAST);
    const b = await s2.hashPath(f);
    expect(b).toEqual(a);
    expect(s2.counters.filesHashed).toBe(0);
    // Same size, content changed, mtime forced back to the old value: ctime still moves, so it is re-hashed.
    const old = await fs.stat(f);
    await fs.writeFile(f, 'version two');
    await fs.utimes(f, old.atime, old.mtime);
    await settle();
    const c = await s2.hashPath(f);
    expect(c.ok && c.value.hash).toBe(sha256('version two'));
    expect(s2.counters.filesHashed).toBe(1);
  });

  it('does not trust entries hashed within the (default 2 s) racy window', async () => {
    const store = await Store.open(ws);
    const f = path.join(ws, 'fresh.txt');
    await fs.writeFile(f, 'fresh');
    await store.hashPath(f);
    await store.hashPath(f);
    expect(store.counters.filesHashed).toBe(2);
    expect(store.counters.statCacheHits).toBe(0);
  });

  it('merges concurrent flushes instead of losing entries', async () => {
    const f1 = path.join(ws, 'one');
    const f2 = path.join(ws, 'two');
    await fs.writeFile(f1, '1');
    await fs.writeFile(f2, '2');
    await settle();
    const s1 = await Store.open(ws, FAST);
    const s2 = await Store.open(ws, FAST);
    await s1.hashPath(f1);
    await s2.hashPath(f2);
    await Promise.all([s1.flushStatCache(), s2.flushStatCache()]);
    const s3 = await Store.open(ws, FAST);
    await s3.hashPath(f1);
    await s3.hashPath(f2);
    expect(s3.counters.filesHashed).toBe(0);
    const state = JSON.parse(await fs.readFile(path.join(ws, '.vpt/state.json'), 'utf8')) as { entries: Record<string, unknown> };
    expect(Object.keys(state.entries).sort()).toEqual([f1, f2].sort());
  });

  it('gc prunes entries of files that no longer exist', async () => {
    const f = path.join(ws, 'gone');
    const g = path.join(ws, 'stays');
    await fs.writeFile(f, 'x');
    await fs.writeFile(g, 'y');
    const store = await Store.open(ws, FAST);
    await store.hashPath(f);
    await store.hashPath(g);
    await store.flushStatCache();
    await fs.rm(f);
    await store.gc({ graceMs: 0 });
    const state = JSON.parse(await fs.readFile(path.join(ws, '.vpt/state.json'), 'utf8')) as { entries: Record<string, unknown> };
    expect(Object.keys(state.entries)).toEqual([g]);
  });

  it('ignores a garbage state.json', async () => {
    await fs.mkdir(path.join(ws, '.vpt'), { recursive: true });
    await fs.writeFile(path.join(ws, '.vpt/state.json'), '{"version":1,"entries":{"/x":[1,2]');
    const store = await Store.open(ws);
    const f = path.join(ws, 'a');
    await fs.writeFile(f, 'a');
    const r = await store.hashPath(f);
    expect(r.ok && r.value.hash).toBe(sha256('a'));
  });
});

function record(fp: string, outputs: RunRecord['outputs'] = {}): RunRecord {
  return {
    fingerprint: fp,
    stageId: 'train[task=dtd,method=vpt-deep]',
    fingerprintInputs: { kind: 'train.vit@1', params: { lr: 0.01 } },
    outputs,
    metrics: { acc: 0.75, loss: Number.NaN },
    environment: { node: '20', cpu: 2, ci: false },
    notes: ['a note'],
    startedAt: '2024-01-01T00:00:00.000Z',
    durationMs: 1234,
    logFile: undefined,
  };
}

describe('run records', () => {
  it('writes and reads a record (NaN metrics survive as NaN)', async () => {
    const store = await Store.open(ws);
    const fp = sha256('fp1');
    await store.writeRunRecord(record(fp));
    const back = await store.readRunRecord(fp);
    expect(back?.stageId).toBe('train[task=dtd,method=vpt-deep]');
    expect(back?.metrics.acc).toBe(0.75);
    expect(Number.isNaN(back?.metrics.loss)).toBe(true);
    expect(back?.logFile).toBeUndefined();
    expect(await fs.stat(path.join(store.root, 'runs', fp.slice(0, 2), `${fp}.json`))).toBeTruthy();
  });

  it('a latest pointer written while the lazy listing is taken is still found', async () => {
    const store = await Store.open(ws);
    await store.indexRecords();
    const fp = sha256('latest');
    const pending = store.setLatest('a', fp);
    // A miss for another stage lists stages/ now, while the write above is in flight.
    expect(await store.getLatest('b')).toBeUndefined();
    await pending;
    expect(await store.getLatest('a')).toBe(fp);
  });

  it('reads a truncated record as missing, with a warning', async () => {
    const store = await Store.open(ws);
    const fp = sha256('fp2');
    await store.writeRunRecord(record(fp));
    const p = path.join(store.root, 'runs', fp.slice(0, 2), `${fp}.json`);
    const text = await fs.readFile(p, 'utf8');
    await fs.writeFile(p, text.slice(0, Math.floor(text.length / 2)));
    expect(await store.readRunRecord(fp)).toBeUndefined();
    const w = store.drainWarnings();
    expect(w).toHaveLength(1);
    expect(w[0]?.kind).toBe('corrupt-run-record');
    // Valid JSON of the wrong shape is also rejected.
    await fs.writeFile(p, JSON.stringify({ fingerprint: fp }));
    expect(await store.readRunRecord(fp)).toBeUndefined();
    // Absent: undefined, no warning.
    expect(await store.readRunRecord(sha256('absent'))).toBeUndefined();
    expect(store.drainWarnings()).toHaveLength(1);
  });

  it('rejects fingerprints that are not safe file names', async () => {
    const store = await Store.open(ws);
    await expect(store.writeRunRecord(record('../../etc'))).rejects.toThrow(/invalid fingerprint/);
    expect(await store.readRunRecord('../x')).toBeUndefined();
  });

  it('latest fingerprint per stage id, including ids with [ ] = ,', async () => {
    const store = await Store.open(ws);
    const a = 'train[task=dtd,method=vpt-deep]';
    const b = 'train[task=dtd,method=vpt_deep]';
    await store.setLatest(a, 'fp-a');
    await store.setLatest(b, 'fp-b');
    expect(await store.getLatest(a)).toBe('fp-a');
    expect(await store.getLatest(b)).toBe('fp-b');
    expect(await store.getLatest('never')).toBeUndefined();
    await store.setLatest(a, 'fp-a2');
    expect(await store.getLatest(a)).toBe('fp-a2');
  });

  it('makes log paths and checkpoint dirs safe', async () => {
    const store = await Store.open(ws);
    const lp = store.logPath('train[task=dtd,method=vpt-deep]', '2024-01-01T00:00:00Z');
    expect(lp.startsWith(path.join(store.root, 'logs'))).toBe(true);
    expect(path.relative(path.join(store.root, 'logs'), lp).split(path.sep)).toHaveLength(2);
    expect(/[[\]=,:]/.test(path.basename(path.dirname(lp)))).toBe(false);
    expect((await fs.stat(path.dirname(lp))).isDirectory()).toBe(true);
    expect(store.logPath('prep', 'r1')).toBe(path.join(store.root, 'logs/prep/r1.log'));
    const cp = store.checkpointDir(sha256('fp'));
    expect((await fs.stat(cp)).isDirectory()).toBe(true);
    expect(() => store.checkpointDir('../oops')).toThrow();
  });
});

describe('staging dirs', () => {
  it('cleanTmp removes leftovers of dead processes only', async () => {
    const store = await Store.open(ws);
    const mine = await store.newStagingDir('train[x=1]');
    const host = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);
    const dead = path.join(store.root, 'tmp', `train.999999999-1-${host}.0123456789ab`);
    await fs.mkdir(dead);
    await fs.writeFile(path.join(dead, 'partial'), 'x');
    // Same dead-looking pid, but created on another machine sharing this workspace: not ours to judge.
    const otherHost = path.join(store.root, 'tmp', 'train.999999999-1-00000000.0123456789ab');
    await fs.mkdir(otherHost);
    const unrelated = path.join(store.root, 'tmp', 'README');
    await fs.writeFile(unrelated, 'keep');
    expect(await store.cleanTmp()).toBe(1);
    expect((await fs.stat(mine)).isDirectory()).toBe(true);
    await expect(fs.stat(dead)).rejects.toThrow();
    expect((await fs.stat(otherHost)).isDirectory()).toBe(true);
    expect(await fs.readFile(unrelated, 'utf8')).toBe('keep');
  });
});
