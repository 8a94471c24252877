/**
 * The stat cache: path -> (dev, ino, size, mtimeNs, ctimeNs) -> sha256, persisted in
 * `.vpt/state.json` so an unchanged file is never read again, even by another process.
 *
 * "Racy" entries (git's term): a file modified within the timestamp granularity of the moment
 * we hashed it could change again without its stat changing. So an entry only counts as a hit
 * when the file's mtime/ctime are at least RACY_NS older than the moment hashing began; a racy
 * entry is simply re-hashed next time (and then recorded with a later timestamp).
 */
import type { BigIntStats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { errnoCode, tempName, writeFileAtomic } from './fs-atomic.js';
import { processLiveness, selfStartTicks } from './proc.js';
import { isSha256, type Sha256 } from './sha256.js';

/** 2 s covers the coarsest timestamps in common use (FAT); ext4/xfs are far finer. */
export const RACY_NS = 2_000_000_000n;

interface Entry {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly hash: Sha256;
  /** Wall clock (ns) just before the file was opened for hashing. */
  readonly recordedAtNs: bigint;
}

type Row = [string, string, string, string, string, string, string];

function toRow(e: Entry): Row {
  return [String(e.dev), String(e.ino), String(e.size), String(e.mtimeNs), String(e.ctimeNs), e.hash, String(e.recordedAtNs)];
}

function fromRow(row: unknown): Entry | undefined {
  if (!Array.isArray(row) || row.length !== 7 || !row.every((x) => typeof x === 'string')) return undefined;
  const [dev, ino, size, mtimeNs, ctimeNs, hash, recordedAtNs] = row as Row;
  if (!isSha256(hash)) return undefined;
  try {
    return { dev: BigInt(dev), ino: BigInt(ino), size: BigInt(size), mtimeNs: BigInt(mtimeNs), ctimeNs: BigInt(ctimeNs), hash, recordedAtNs: BigInt(recordedAtNs) };
  } catch {
    return undefined;
  }
}

export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

export class StatCache {
  private readonly entries = new Map<string, Entry>();
  /** Entries recorded by this process since the last flush (merged over the on-disk file). */
  private readonly dirtyEntries = new Map<string, Entry>();

  private constructor(
    readonly file: string,
    private readonly tmpDir: string,
    private readonly racyNs: bigint,
  ) {}

  /** A missing or unreadable state file is an empty cache (it is only an accelerator). */
  static async load(file: string, tmpDir: string, racyNs: bigint = RACY_NS): Promise<StatCache> {
    const c = new StatCache(file, tmpDir, racyNs);
    for (const [k, e] of await readEntries(file)) c.entries.set(k, e);
    return c;
  }

  get dirty(): number {
    return this.dirtyEntries.size;
  }

  get size(): number {
    return this.entries.size;
  }

  lookup(absPath: string, st: BigIntStats): Sha256 | undefined {
    const e = this.entries.get(absPath);
    if (e === undefined) return undefined;
    if (e.dev !== st.dev || e.ino !== st.ino || e.size !== st.size || e.mtimeNs !== st.mtimeNs || e.ctimeNs !== st.ctimeNs) return undefined;
    const newest = st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs;
    if (e.recordedAtNs - newest < this.racyNs) return undefined;
    return e.hash;
  }

  /** `startedAtNs`: wall clock taken before the file was opened; `st`: its stat, identical before and after reading. */
  record(absPath: string, st: BigIntStats, hash: Sha256, startedAtNs: bigint): void {
    const e: Entry = { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, hash, recordedAtNs: startedAtNs };
    this.entries.set(absPath, e);
    this.dirtyEntries.set(absPath, e);
  }

  /**
   * Merge-on-write under a short-lived lock file: re-read what other processes flushed, overlay
   * our entries (last writer wins per entry), write atomically. Without the lock two flushes could
   * each miss the other's entries; if the lock cannot be had in time we write anyway (a lost
   * entry only costs a re-hash).
   */
  async flush(): Promise<void> {
    if (this.dirtyEntries.size === 0) return;
    const release = await takeFlushLock(`${this.file}.lock`, this.tmpDir);
    try {
      const merged = await readEntries(this.file);
      for (const [k, e] of this.dirtyEntries) merged.set(k, e);
      await writeEntries(this.file, this.tmpDir, merged);
      for (const [k, e] of merged) this.entries.set(k, e);
      this.dirtyEntries.clear();
    } finally {
      await release();
    }
  }

  /** Drop entries (here and on disk) whose file is gone or is now another inode. Returns how many. */
  async prune(): Promise<number> {
    const release = await takeFlushLock(`${this.file}.lock`, this.tmpDir);
    try {
      const merged = await readEntries(this.file);
      for (const [k, e] of this.dirtyEntries) merged.set(k, e);
      let dropped = 0;
      for (const [k, e] of merged) {
        const st = await fsp.stat(k, { bigint: true }).catch(() => undefined);
        if (st === undefined || st.ino !== e.ino || st.dev !== e.dev) {
          merged.delete(k);
          this.entries.delete(k);
          dropped++;
        }
      }
      await writeEntries(this.file, this.tmpDir, merged);
      this.dirtyEntries.clear();
      return dropped;
    } finally {
      await release();
    }
  }
}

async function writeEntries(file: string, tmpDir: string, entries: ReadonlyMap<string, Entry>): Promise<void> {
  const rows: Record<string, Row> = {};
  for (const k of [...entries.keys()].sort()) {
    const e = entries.get(k);
    if (e !== undefined) rows[k] = toRow(e);
  }
  await writeFileAtomic(file, JSON.stringify({ version: 1, entries: rows }), { tmpDir });
}

async function readEntries(file: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    return out;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return out;
  }
  if (typeof doc !== 'object' || doc === null || (doc as { version?: unknown }).version !== 1) return out;
  const entries = (doc as { entries?: unknown }).entries;
  if (typeof entries !== 'object' || entries === null) return out;
  for (const [k, row] of Object.entries(entries)) {
    const e = fromRow(row);
    if (e !== undefined) out.set(k, e);
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function takeFlushLock(lockPath: string, tmpDir: string): Promise<() => Promise<void>> {
  const tmp = path.join(tmpDir, tempName('statelock'));
  const me = JSON.stringify({ pid: process.pid, startTicks: selfStartTicks(), hostname: os.hostname() });
  await fsp.writeFile(tmp, me);
  const noop = async (): Promise<void> => {};
  try {
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      try {
        await fsp.link(tmp, lockPath);
        return async () => {
          await fsp.rm(lockPath, { force: true });
        };
      } catch (e) {
        if (errnoCode(e) !== 'EEXIST') return noop;
      }
      // Held: by a live process (wait), or left by a dead one (remove it).
      try {
        const holder = JSON.parse(await fsp.readFile(lockPath, 'utf8')) as { pid?: unknown; startTicks?: unknown; hostname?: unknown };
        const sameHost = holder.hostname === os.hostname();
        if (sameHost && typeof holder.pid === 'number' && processLiveness(holder.pid, typeof holder.startTicks === 'string' ? holder.startTicks : undefined) !== 'alive') {
          await fsp.rm(lockPath, { force: true });
          continue;
        }
      } catch {
        // Vanished or unreadable between link and read: retry.
      }
      await sleep(10);
    }
    return noop;
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}
