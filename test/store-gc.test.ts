import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256, Store, type ArtifactRef, type LockFile, type RunRecord } from '../src/store/index.js';

let ws: string;
beforeEach(async () => {
  ws = await fs.mkdtemp(path.join(os.tmpdir(), 'vpt-gc-'));
});
afterEach(async () => {
  await fs.rm(ws, { recursive: true, force: true });
});

async function listObjectHashes(store: Store): Promise<string[]> {
  const out: string[] = [];
  for (const shard of await fs.readdir(path.join(store.root, 'objects'))) out.push(...(await fs.readdir(path.join(store.root, 'objects', shard))));
  return out.sort();
}

/** Ingests `content` (a file) or a folder of `files`, and writes a run record for it, last used at `usedAt`. */
async function stageRun(store: Store, fp: string, out: string | Record<string, string>, usedAt: number): Promise<ArtifactRef> {
  const p = path.join(ws, 'work', fp);
  if (typeof out === 'string') {
    await fs.mkdir(path.dirname(p), { recursive: true });
    await fs.writeFile(p, out);
  } else {
    for (const [rel, c] of Object.entries(out)) {
      await fs.mkdir(path.dirname(path.join(p, rel)), { recursive: true });
      await fs.writeFile(path.join(p, rel), c);
    }
  }
  const r = await store.ingest(p);
  if (!r.ok) throw new Error(r.error.message);
  const rec: RunRecord = {
    fingerprint: fp,
    stageId: `stage-${fp}`,
    fingerprintInputs: {},
    outputs: { out: { path: `out/${fp}`, ref: r.value } },
    metrics: {},
    environment: {},
    notes: [],
    startedAt: new Date(usedAt).toISOString(),
    durationMs: 1,
    logFile: undefined,
  };
  await store.writeRunRecord(rec);
  const t = new Date(usedAt);
  await fs.utimes(path.join(store.root, 'runs', fp.slice(0, 2), `${fp}.json`), t, t);
  return r.value;
}

const NOW = Date.now();
const HOUR = 3_600_000;

describe('gc', () => {
  it('keeps objects referenced by kept records (and the lock), removes the rest', async () => {
    const store = await Store.open(ws);
    const a = await stageRun(store, 'fpaaa', { 'x.txt': 'shared', 'y.txt': 'only-a' }, NOW - 3 * HOUR);
    const b = await stageRun(store, 'fpbbb', 'only-b', NOW - 2 * HOUR);
    const c = await stageRun(store, 'fpccc', { 'z.txt': 'shared', 'w.txt': 'only-c' }, NOW - HOUR);
    // An orphan object (e.g. from a crashed run) with no record at all.
    await fs.writeFile(path.join(ws, 'orphan'), 'orphan');
    const orphan = await store.ingest(path.join(ws, 'orphan'));
    expect(orphan.ok).toBe(true);
    const lock: LockFile = { version: 1, pipeline: 'p', stages: { b: { fingerprint: 'fpbbb', kind: 'command', params: null, deps: {}, outs: { out: { path: 'out/b', hash: b.hash, size: b.size } }, metrics: {} } } };
    const before = await listObjectHashes(store);
    const report = await store.gc({ keep: ['fpaaa'], lock, graceMs: 0, now: Date.now() });
    expect(report.dryRun).toBe(false);
    expect(report.recordsRemoved).toEqual(['fpccc']);
    expect(report.recordsKept).toBe(2);
    const after = await listObjectHashes(store);
    const expectKept = [a.hash, sha256('shared'), sha256('only-a'), b.hash].sort();
    expect(after).toEqual(expectKept);
    expect(report.objectsRemoved).toBe(before.length - after.length);
    expect(before).toContain(c.hash);
    expect(report.bytesFreed).toBeGreaterThan(0);
    expect(await store.hasObject(a)).toBe(true);
    expect(await store.hasObject(b)).toBe(true);
    expect(await store.hasObject(c)).toBe(false);
    expect(await store.readRunRecord('fpccc')).toBeUndefined();
    expect(await store.readRunRecord('fpaaa')).toBeDefined();
  });

  it('dryRun reports the same but changes nothing', async () => {
    const store = await Store.open(ws);
    await stageRun(store, 'fpaaa', 'a', NOW - HOUR);
    await stageRun(store, 'fpbbb', 'b', NOW - HOUR);
    const before = await listObjectHashes(store);
    const dry = await store.gc({ keep: ['fpaaa'], graceMs: 0, dryRun: true, now: Date.now() });
    expect(dry.dryRun).toBe(true);
    expect(dry.recordsRemoved).toEqual(['fpbbb']);
    expect(dry.objectsRemoved).toBe(1);
    expect(await listObjectHashes(store)).toEqual(before);
    expect(await store.readRunRecord('fpbbb')).toBeDefined();
    const real = await store.gc({ keep: ['fpaaa'], graceMs: 0, now: Date.now() });
    expect({ ...real, dryRun: true }).toEqual(dry);
  });

  it('a size cap evicts least-recently-used records first, never the lock-pinned ones', async () => {
    const store = await Store.open(ws);
    const old = await stageRun(store, 'fpold', 'x'.repeat(1000), NOW - 5 * HOUR);
    const mid = await stageRun(store, 'fpmid', 'y'.repeat(1000), NOW - 3 * HOUR);
    const pinned = await stageRun(store, 'fppin', 'p'.repeat(1000), NOW - 10 * HOUR);
    const recent = await stageRun(store, 'fpnew', 'z'.repeat(1000), NOW - HOUR);
    const lock: LockFile = { version: 1, pipeline: 'p', stages: { pin: { fingerprint: 'fppin', kind: 'command', params: null, deps: {}, outs: { out: { path: 'o', hash: pinned.hash, size: 1000 } }, metrics: {} } } };
    // markUsed refreshes 'fpmid' so it is now the most recent: 'fpold' then 'fpnew' go first.
    await store.markUsed('fpmid');
    const report = await store.gc({ lock, maxBytes: 2000, graceMs: 0, now: Date.now() });
    expect(report.evicted).toEqual(['fpold', 'fpnew']);
    expect(report.bytesKept).toBe(2000);
    expect(await store.hasObject(old)).toBe(false);
    expect(await store.hasObject(recent)).toBe(false);
    expect(await store.hasObject(mid)).toBe(true);
    expect(await store.hasObject(pinned)).toBe(true);
  });

  it('an age cap evicts records unused for longer than maxAgeMs', async () => {
    const store = await Store.open(ws);
    await stageRun(store, 'fpold', 'old', NOW - 48 * HOUR);
    const fresh = await stageRun(store, 'fpnew', 'new', NOW - HOUR);
    const report = await store.gc({ maxAgeMs: 24 * HOUR, graceMs: 0, now: Date.now() });
    expect(report.evicted).toEqual(['fpold']);
    expect(await store.hasObject(fresh)).toBe(true);
    expect(await listObjectHashes(store)).toEqual([fresh.hash]);
  });

  it('without keep, every record is a root; recently written objects survive the grace period', async () => {
    const store = await Store.open(ws);
    const a = await stageRun(store, 'fpaaa', 'a', NOW);
    await fs.writeFile(path.join(ws, 'in-flight'), 'being ingested by a concurrent run');
    const inflight = await store.ingest(path.join(ws, 'in-flight'));
    if (!inflight.ok) throw new Error('ingest failed');
    const report = await store.gc({});
    expect(report.recordsRemoved).toEqual([]);
    expect(report.objectsRemoved).toBe(0);
    expect(await store.hasObject(inflight.value)).toBe(true);
    // Past the grace period, the unreferenced object goes.
    const later = await store.gc({ now: Date.now() + HOUR });
    expect(later.objectsRemoved).toBe(1);
    expect(await store.hasObject(inflight.value)).toBe(false);
    expect(await store.hasObject(a)).toBe(true);
  });

  it('drops unreadable records', async () => {
    const store = await Store.open(ws);
    await stageRun(store, 'fpbad', 'bad', NOW);
    await fs.writeFile(path.join(store.root, 'runs', 'fp', 'fpbad.json'), '{"trunc');
    const report = await store.gc({ graceMs: 0 });
    expect(report.recordsRemoved).toEqual(['fpbad']);
    expect(report.objectsRemoved).toBe(1);
  });
});
