/**
 * Garbage collection. Roots: the run records of the given fingerprints (all records when `keep`
 * is omitted) plus the lock file's stages, which are pinned. Then optional caps evict the
 * least-recently-used unpinned records (record mtime: written, or touched by `markUsed`).
 * Objects no kept record references are deleted, except those written within `graceMs`: a
 * concurrent `pipeline run` may have ingested them without having written its record yet.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { LockFile } from './lock-file.js';
import type { Manifest } from './manifest.js';
import type { RunRecord } from './run-record.js';
import type { Sha256 } from './sha256.js';
import { listObjects } from './object-list.js';

export interface GcOptions {
  /** Fingerprints whose run records (and their objects) are kept; omitted = every record is a root. */
  readonly keep?: readonly string[];
  /** The committed lock file: its stages' records and outputs are never removed or evicted. */
  readonly lock?: LockFile;
  /** Cap on the bytes of kept objects: evict least-recently-used records until under it. */
  readonly maxBytes?: number;
  /** Evict records not used for this long. */
  readonly maxAgeMs?: number;
  /** Objects younger than this are never deleted (default 10 minutes). */
  readonly graceMs?: number;
  readonly dryRun?: boolean;
  /** The clock, for tests (ms since epoch). */
  readonly now?: number;
}

export interface GcReport {
  readonly dryRun: boolean;
  readonly recordsKept: number;
  /** Fingerprints removed: not kept, unreadable, or evicted by a cap. */
  readonly recordsRemoved: readonly string[];
  /** Of those, the ones evicted by `maxBytes`/`maxAgeMs`, in eviction order. */
  readonly evicted: readonly string[];
  readonly objectsKept: number;
  readonly objectsRemoved: number;
  readonly bytesKept: number;
  readonly bytesFreed: number;
}

export interface GcContext {
  readonly root: string;
  objectPath(hash: Sha256): string;
  readManifest(hash: Sha256): Promise<Manifest | undefined>;
  readRunRecord(fp: string): Promise<RunRecord | undefined>;
}

interface RecordFile {
  readonly fp: string;
  readonly path: string;
  readonly lastUsed: number;
}

async function listRecords(runsDir: string): Promise<RecordFile[]> {
  const out: RecordFile[] = [];
  for (const shard of await fsp.readdir(runsDir).catch(() => [] as string[])) {
    const dir = path.join(runsDir, shard);
    for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
      if (!name.endsWith('.json')) continue;
      const p = path.join(dir, name);
      const st = await fsp.stat(p).catch(() => undefined);
      if (st?.isFile() === true) out.push({ fp: name.slice(0, -'.json'.length), path: p, lastUsed: st.mtimeMs });
    }
  }
  return out;
}

export async function collectGarbage(ctx: GcContext, opts: GcOptions): Promise<GcReport> {
  const now = opts.now ?? Date.now();
  const graceMs = opts.graceMs ?? 10 * 60_000;
  const dryRun = opts.dryRun === true;

  const manifestCache = new Map<Sha256, Manifest | undefined>();
  const expand = async (hash: Sha256, kind: 'file' | 'dir'): Promise<Sha256[]> => {
    if (kind === 'file') return [hash];
    if (!manifestCache.has(hash)) manifestCache.set(hash, await ctx.readManifest(hash));
    const m = manifestCache.get(hash);
    return [hash, ...(m === undefined ? [] : Object.values(m.files).map((e) => e.hash))];
  };

  const pinnedFps = new Set(Object.values(opts.lock?.stages ?? {}).map((s) => s.fingerprint));
  const pinnedHashes = new Set<Sha256>();
  for (const s of Object.values(opts.lock?.stages ?? {})) {
    // A lock output may be a file or a folder manifest: try both readings.
    for (const o of Object.values(s.outs)) {
      const asDir = await expand(o.hash, 'dir');
      for (const h of asDir) pinnedHashes.add(h);
    }
  }

  const records = await listRecords(path.join(ctx.root, 'runs'));
  const keepSet = opts.keep === undefined ? undefined : new Set([...opts.keep, ...pinnedFps]);
  const removed: string[] = [];
  const removedPaths: string[] = [];
  const kept: { rec: RecordFile; hashes: Sha256[]; pinned: boolean }[] = [];
  for (const rec of records) {
    if (keepSet !== undefined && !keepSet.has(rec.fp)) {
      removed.push(rec.fp);
      removedPaths.push(rec.path);
      continue;
    }
    const rr = await ctx.readRunRecord(rec.fp);
    if (rr === undefined) {
      removed.push(rec.fp);
      removedPaths.push(rec.path);
      continue;
    }
    const hashes = new Set<Sha256>();
    for (const o of Object.values(rr.outputs)) for (const h of await expand(o.ref.hash, o.ref.kind)) hashes.add(h);
    kept.push({ rec, hashes: [...hashes], pinned: pinnedFps.has(rec.fp) });
  }

  const objects = await listObjects(path.join(ctx.root, 'objects'));
  const info = new Map<Sha256, { size: number; mtimeMs: number }>();
  for (const o of objects) {
    const st = await fsp.stat(o.path).catch(() => undefined);
    if (st !== undefined) info.set(o.hash, { size: st.size, mtimeMs: st.mtimeMs });
  }

  const refcount = new Map<Sha256, number>();
  let total = 0;
  const addRef = (h: Sha256): void => {
    const n = refcount.get(h) ?? 0;
    if (n === 0) total += info.get(h)?.size ?? 0;
    refcount.set(h, n + 1);
  };
  const dropRef = (h: Sha256): void => {
    const n = refcount.get(h) ?? 0;
    if (n === 1) total -= info.get(h)?.size ?? 0;
    refcount.set(h, Math.max(0, n - 1));
  };
  for (const h of pinnedHashes) addRef(h);
  for (const k of kept) for (const h of k.hashes) addRef(h);

  // Least recently used first; ties broken by fingerprint so the order is deterministic.
  const evictable = kept.filter((k) => !k.pinned).sort((a, b) => a.rec.lastUsed - b.rec.lastUsed || (a.rec.fp < b.rec.fp ? -1 : 1));
  const evicted: string[] = [];
  const evict = (k: (typeof kept)[number]): void => {
    for (const h of k.hashes) dropRef(h);
    evicted.push(k.rec.fp);
    removed.push(k.rec.fp);
    removedPaths.push(k.rec.path);
  };
  let i = 0;
  if (opts.maxAgeMs !== undefined) {
    const cutoff = now - opts.maxAgeMs;
    for (; i < evictable.length; i++) {
      const k = evictable[i];
      if (k === undefined || k.rec.lastUsed >= cutoff) break;
      evict(k);
    }
  }
  if (opts.maxBytes !== undefined) {
    for (; i < evictable.length && total > opts.maxBytes; i++) {
      const k = evictable[i];
      if (k !== undefined) evict(k);
    }
  }

  let objectsRemoved = 0;
  let objectsKept = 0;
  let bytesFreed = 0;
  let bytesKept = 0;
  const doomed: string[] = [];
  for (const o of objects) {
    const inf = info.get(o.hash);
    if (inf === undefined) continue;
    if ((refcount.get(o.hash) ?? 0) > 0 || now - inf.mtimeMs < graceMs) {
      objectsKept++;
      bytesKept += inf.size;
    } else {
      objectsRemoved++;
      bytesFreed += inf.size;
      doomed.push(o.path);
    }
  }
  if (!dryRun) {
    // Records first: a reader never finds a record whose objects were already deleted by us.
    for (const p of removedPaths) await fsp.rm(p, { force: true });
    for (const p of doomed) await fsp.rm(p, { force: true });
  }
  return {
    dryRun,
    recordsKept: kept.length - evicted.length,
    recordsRemoved: removed,
    evicted,
    objectsKept,
    objectsRemoved,
    bytesKept,
    bytesFreed,
  };
}
