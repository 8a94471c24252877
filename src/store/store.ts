/**
 * The content-addressed store under `<workspace>/.vpt/`.
 *
 *   objects/<h[0:2]>/<h>   file contents and folder manifests, by sha256, read-only (0444)
 *   runs/<fp[0:2]>/<fp>.json   run records          stages/<slug>.json   latest fingerprint per stage
 *   tmp/   staging dirs and temp files (named with the creating pid, see fs-atomic.ts)
 *   logs/<slug>/<runId>.log   checkpoints/<fp>/   quarantine/   state.json (stat cache)
 *
 * Every write lands in tmp/ (same filesystem) and is renamed into place, so a `kill -9` at any
 * moment leaves old or new state. Objects are verified on every restore.
 */
import { constants as fsc, mkdirSync, readdirSync, readFileSync, statSync, type BigIntStats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { err, ok, type Result } from '../util/result.js';
import { errnoCode, errorMessage, hostTag, limiter, parseTempName, tempName, writeFileAtomic } from './fs-atomic.js';
import { collectGarbage, type GcOptions, type GcReport } from './gc.js';
import { parseManifest, renderManifest, walk, type Manifest, type ManifestEntry } from './manifest.js';
import { processLiveness } from './proc.js';
import { isValidFingerprint, reviveRunRecord, runRecordProblem, stageSlug, type ArtifactRef, type RunRecord } from './run-record.js';
import { listObjects } from './object-list.js';
import { hashHandle, sha256, type Sha256 } from './sha256.js';
import { nowNs, StatCache } from './stat-cache.js';

export type StoreError = {
  readonly reason: 'missing' | 'corrupt' | 'io' | 'not-found';
  readonly message: string;
  readonly path?: string;
};

/** Things worth telling the user that are not failures of the call that met them. */
export type StoreWarning =
  | { readonly kind: 'corrupt-run-record'; readonly path: string; readonly message: string }
  | { readonly kind: 'quarantined'; readonly hash: Sha256; readonly path: string; readonly message: string };

export interface StoreOptions {
  /** Called for every warning; without it warnings queue up for `drainWarnings()`. */
  readonly onWarning?: (w: StoreWarning) => void;
  /** Files hashed/copied at once inside a folder (bounded: I/O overlaps, memory stays small). */
  readonly concurrency?: number;
  /**
   * Stat-cache entries for files changed less than this long before they were hashed are not
   * trusted (timestamp granularity; see stat-cache.ts). Default 2000; tests lower it.
   */
  readonly racyWindowMs?: number;
}

/** Counters for tests and `--verbose`: they prove the stat cache saves reads. */
export interface StoreCounters {
  filesHashed: number;
  bytesHashed: number;
  statCacheHits: number;
}

interface FileInfo {
  readonly hash: Sha256;
  readonly size: number;
  readonly exec: boolean;
}

const SUBDIRS = ['objects', 'runs', 'stages', 'tmp', 'logs', 'checkpoints', 'quarantine'] as const;

const isExec = (mode: number | bigint): boolean => (Number(mode) & 0o111) !== 0;

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function ioError(e: unknown, p: string): StoreError {
  const code = errnoCode(e);
  if (code === 'ENOENT' || code === 'ENOTDIR') return { reason: 'not-found', message: `no such file or folder: ${p}`, path: p };
  return { reason: 'io', message: `${errorMessage(e)}`, path: p };
}

function sameStat(a: BigIntStats, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

export class Store {
  readonly root: string;
  readonly counters: StoreCounters = { filesHashed: 0, bytesHashed: 0, statCacheHits: 0 };
  private readonly warnings: StoreWarning[] = [];
  private readonly limit: <T>(task: () => Promise<T>) => Promise<T>;
  private readonly shardsMade = new Set<string>();
  private lastFlush = Date.now();
  private reflink: boolean | undefined;
  /** After `indexRecords` and a first miss: which run records and latest pointers exist, so misses cost no open(). */
  private recordIndex: Set<string> | undefined;
  private latestIndex: Set<string> | undefined;
  private indexWanted = false;

  private constructor(
    readonly workspace: string,
    private readonly statCache: StatCache,
    private readonly opts: StoreOptions,
  ) {
    this.root = path.join(workspace, '.vpt');
    this.limit = limiter(Math.max(1, opts.concurrency ?? Math.max(4, os.availableParallelism() * 2)));
  }

  static async open(workspace: string, opts: StoreOptions = {}): Promise<Store> {
    const ws = path.resolve(workspace);
    const root = path.join(ws, '.vpt');
    for (const d of SUBDIRS) await fsp.mkdir(path.join(root, d), { recursive: true });
    const cache = await StatCache.load(path.join(root, 'state.json'), path.join(root, 'tmp'), BigInt(Math.round((opts.racyWindowMs ?? 2000) * 1e6)));
    return new Store(ws, cache, opts);
  }

  private dir(name: (typeof SUBDIRS)[number]): string {
    return path.join(this.root, name);
  }

  objectPath(hash: Sha256): string {
    return path.join(this.root, 'objects', hash.slice(0, 2), hash);
  }

  private warn(w: StoreWarning): void {
    if (this.opts.onWarning !== undefined) this.opts.onWarning(w);
    else this.warnings.push(w);
  }

  /** Warnings queued since the last call (only when no `onWarning` hook was given). */
  drainWarnings(): StoreWarning[] {
    return this.warnings.splice(0);
  }

  // ---------------------------------------------------------------- hashing

  async hashPath(absPath: string): Promise<Result<ArtifactRef, StoreError>> {
    const before = this.counters.filesHashed;
    const r = await this.hashOrIngest(absPath, undefined);
    await this.maybeFlush(before);
    return r;
  }

  async flushStatCache(): Promise<void> {
    await this.statCache.flush();
    this.lastFlush = Date.now();
  }

  /**
   * Persist the stat cache after calls that really read files, at most every 2 s: writing the
   * cache costs far less than the reading it saves, and callers that never flush still benefit.
   */
  private async maybeFlush(filesHashedBefore: number): Promise<void> {
    if (this.counters.filesHashed === filesHashedBefore || this.statCache.dirty === 0) return;
    if (Date.now() - this.lastFlush < 2_000) return;
    try {
      await this.flushStatCache();
    } catch {
      // Only an accelerator: a failed flush costs a re-hash later.
    }
  }

  /** Hash one file, through the stat cache. */
  private async hashFile(abs: string, st: BigIntStats): Promise<Result<FileInfo, StoreError>> {
    const exec = isExec(st.mode);
    const cached = this.statCache.lookup(abs, st);
    if (cached !== undefined) {
      this.counters.statCacheHits++;
      return ok({ hash: cached, size: Number(st.size), exec });
    }
    const startedAt = nowNs();
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(abs, 'r');
      const st1 = await fh.stat({ bigint: true });
      const { hash, bytes } = await hashHandle(fh, undefined, Number(st1.size));
      const st2 = await fh.stat({ bigint: true });
      this.counters.filesHashed++;
      this.counters.bytesHashed += bytes;
      // Changed while we read it: the hash is of some mix, do not remember it.
      if (sameStat(st1, st2) && BigInt(bytes) === st2.size) this.statCache.record(abs, st2, hash, startedAt);
      return ok({ hash, size: bytes, exec: isExec(st2.mode) });
    } catch (e) {
      return err(ioError(e, abs));
    } finally {
      await fh?.close();
    }
  }

  /** Shared walk for hashPath (ingest undefined) and ingest. */
  private async hashOrIngest(absPath: string, move: boolean | undefined): Promise<Result<ArtifactRef, StoreError>> {
    const abs = path.resolve(absPath);
    let st: BigIntStats;
    try {
      // Synchronous on purpose: a stat is a few microseconds, a promise round trip through the
      // thread pool many times that, and a planner checking a thousand fresh outputs waits for each.
      st = statSync(abs, { bigint: true });
    } catch (e) {
      return err(ioError(e, abs));
    }
    if (st.isFile()) {
      const r = move === undefined ? await this.hashFile(abs, st) : await this.ingestFile(abs, st, move);
      if (!r.ok) return r;
      return ok({ kind: 'file', hash: r.value.hash, size: r.value.size, files: 1 });
    }
    if (!st.isDirectory()) return err({ reason: 'io', message: 'not a regular file or folder', path: abs });
    let w;
    try {
      w = await walk(abs);
    } catch (e) {
      return err(ioError(e, abs));
    }
    if (!w.ok) return err({ reason: 'io', message: w.error.message, path: w.error.path });
    const results = await Promise.all(
      w.value.files.map((f) =>
        this.limit(async (): Promise<Result<FileInfo, StoreError>> => {
          let fst: BigIntStats;
          try {
            fst = statSync(f.abs, { bigint: true });
          } catch (e) {
            return err(ioError(e, f.abs));
          }
          return move === undefined ? this.hashFile(f.abs, fst) : this.ingestFile(f.abs, fst, move);
        }),
      ),
    );
    const files = new Map<string, ManifestEntry>();
    let size = 0;
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      const f = w.value.files[i];
      if (r === undefined || f === undefined) continue;
      if (!r.ok) return r;
      files.set(f.rel, r.value);
      size += r.value.size;
    }
    const text = renderManifest(files, w.value.emptyDirs);
    const hash = sha256(text);
    if (move !== undefined) {
      const placed = await this.putBytes(hash, text);
      if (!placed.ok) return placed;
      if (move) await fsp.rm(abs, { recursive: true, force: true });
    }
    return ok({ kind: 'dir', hash, size, files: files.size });
  }

  // ---------------------------------------------------------------- ingest

  async ingest(absPath: string, opts: { move?: boolean } = {}): Promise<Result<ArtifactRef, StoreError>> {
    const before = this.counters.filesHashed;
    const r = await this.hashOrIngest(absPath, opts.move === true);
    await this.maybeFlush(before);
    return r;
  }

  private async ensureShard(hash: Sha256): Promise<void> {
    const shard = hash.slice(0, 2);
    if (this.shardsMade.has(shard)) return;
    await fsp.mkdir(path.join(this.root, 'objects', shard), { recursive: true });
    this.shardsMade.add(shard);
  }

  /** Marks an object recently written, so a concurrent `gc` (grace period) leaves it alone. */
  private async touchObject(p: string): Promise<void> {
    const now = new Date();
    await fsp.utimes(p, now, now).catch(() => undefined);
  }

  private async objectHasSize(hash: Sha256, size: number): Promise<boolean> {
    try {
      const st = await fsp.stat(this.objectPath(hash));
      return st.isFile() && st.size === size;
    } catch {
      return false;
    }
  }

  private async ingestFile(abs: string, st: BigIntStats, move: boolean): Promise<Result<FileInfo, StoreError>> {
    const exec = isExec(st.mode);
    const size = Number(st.size);
    const cached = this.statCache.lookup(abs, st);
    if (cached !== undefined && (await this.objectHasSize(cached, size))) {
      this.counters.statCacheHits++;
      await this.touchObject(this.objectPath(cached));
      if (move) await fsp.rm(abs, { force: true });
      return ok({ hash: cached, size, exec });
    }
    // Moving is only safe for a file nobody else links to: a hard link elsewhere (say, into the
    // workspace) would share the inode with the store, and an edit there would corrupt the object.
    // A symlink is copied too (renaming it would put the link, not the content, in the store).
    if (move && st.nlink === 1n && (await fsp.lstat(abs).then((l) => l.isFile(), () => false))) {
      const moved = await this.moveIn(abs, exec);
      if (moved !== 'exdev') return moved;
    }
    const copied = await this.copyIn(abs, exec);
    if (copied.ok && move) await fsp.rm(abs, { force: true });
    return copied;
  }

  private async moveIn(abs: string, exec: boolean): Promise<Result<FileInfo, StoreError> | 'exdev'> {
    let fh: fsp.FileHandle | undefined;
    let info: FileInfo;
    try {
      fh = await fsp.open(abs, 'r');
      const { hash, bytes } = await hashHandle(fh, undefined, Number((await fh.stat()).size));
      this.counters.filesHashed++;
      this.counters.bytesHashed += bytes;
      await fh.chmod(0o444);
      await fh.sync();
      info = { hash, size: bytes, exec };
    } catch (e) {
      return err(ioError(e, abs));
    } finally {
      await fh?.close();
    }
    try {
      await this.ensureShard(info.hash);
      const dest = this.objectPath(info.hash);
      await fsp.rename(abs, dest);
      await this.touchObject(dest);
      return ok(info);
    } catch (e) {
      if (errnoCode(e) === 'EXDEV') return 'exdev';
      return err(ioError(e, abs));
    }
  }

  private async copyIn(abs: string, exec: boolean): Promise<Result<FileInfo, StoreError>> {
    const tmp = path.join(this.dir('tmp'), tempName('obj'));
    const startedAt = nowNs();
    let src: fsp.FileHandle | undefined;
    let dst: fsp.FileHandle | undefined;
    let info: FileInfo;
    try {
      src = await fsp.open(abs, 'r');
      const st1 = await src.stat({ bigint: true });
      dst = await fsp.open(tmp, 'wx', 0o644);
      // Hash what we copy, not what the stat cache says: an object's name must match its bytes.
      const { hash, bytes } = await hashHandle(src, dst, Number(st1.size));
      const st2 = await src.stat({ bigint: true });
      this.counters.filesHashed++;
      this.counters.bytesHashed += bytes;
      await dst.chmod(0o444);
      await dst.sync();
      if (sameStat(st1, st2) && BigInt(bytes) === st2.size) this.statCache.record(abs, st2, hash, startedAt);
      info = { hash, size: bytes, exec };
    } catch (e) {
      await dst?.close();
      dst = undefined;
      await fsp.rm(tmp, { force: true });
      return err(ioError(e, abs));
    } finally {
      await src?.close();
      await dst?.close();
    }
    try {
      await this.ensureShard(info.hash);
      // Rename-over is idempotent for content-addressed names (and heals a damaged copy).
      await fsp.rename(tmp, this.objectPath(info.hash));
      return ok(info);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      return err(ioError(e, this.objectPath(info.hash)));
    }
  }

  /** Store a small object (a manifest) from memory. */
  private async putBytes(hash: Sha256, data: string): Promise<Result<void, StoreError>> {
    const dest = this.objectPath(hash);
    try {
      await this.ensureShard(hash);
      if (await this.objectHasSize(hash, Buffer.byteLength(data))) {
        await this.touchObject(dest);
        return ok(undefined);
      }
      await writeFileAtomic(dest, data, { tmpDir: this.dir('tmp'), mode: 0o444 });
      return ok(undefined);
    } catch (e) {
      return err(ioError(e, dest));
    }
  }

  // ---------------------------------------------------------------- restore

  async hasObject(ref: ArtifactRef): Promise<boolean> {
    if (ref.kind === 'file') return this.objectHasSize(ref.hash, ref.size);
    const m = await this.readManifest(ref.hash, false);
    if (!m.ok) return false;
    const checks = await Promise.all(Object.values(m.value.files).map((e) => this.objectHasSize(e.hash, e.size)));
    return checks.every(Boolean);
  }

  /** Moves a bad object out of the way so it is never served again. */
  private async quarantine(hash: Sha256, why: string): Promise<string> {
    const q = path.join(this.dir('quarantine'), `${hash}.${Date.now()}`);
    try {
      await fsp.rename(this.objectPath(hash), q);
    } catch {
      // Already gone (another process quarantined or replaced it).
    }
    this.warn({ kind: 'quarantined', hash, path: q, message: why });
    return q;
  }

  private async readManifest(hash: Sha256, quarantineBad: boolean): Promise<Result<Manifest, StoreError>> {
    const p = this.objectPath(hash);
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(p);
    } catch (e) {
      const code = errnoCode(e);
      return err({ reason: code === 'ENOENT' ? 'missing' : 'io', message: `folder manifest ${hash}: ${errorMessage(e)}`, path: p });
    }
    const parsed = sha256(bytes) === hash ? parseManifest(bytes.toString('utf8')) : err('content does not match its hash');
    if (!parsed.ok) {
      const q = quarantineBad ? await this.quarantine(hash, parsed.error) : p;
      return err({ reason: 'corrupt', message: `folder manifest ${hash}: ${parsed.error}`, path: q });
    }
    return parsed;
  }

  /**
   * Copy object `hash` to `tmpPath` (which must not exist) and verify it. Reflink when the
   * filesystem can (then the clone is hashed: a metadata-only copy plus one read); otherwise a
   * plain copy that hashes while copying. Never a hardlink: the workspace copy must be editable.
   */
  private async copyOut(hash: Sha256, size: number, tmpPath: string, mode: number): Promise<Result<void, StoreError>> {
    const obj = this.objectPath(hash);
    let src: fsp.FileHandle;
    try {
      src = await fsp.open(obj, 'r');
    } catch (e) {
      const code = errnoCode(e);
      return err({ reason: code === 'ENOENT' ? 'missing' : 'io', message: `object ${hash}: ${errorMessage(e)}`, path: obj });
    }
    let got: Sha256;
    let dst: fsp.FileHandle | undefined;
    try {
      let cloned = false;
      if (this.reflink !== false) {
        try {
          await fsp.copyFile(obj, tmpPath, fsc.COPYFILE_FICLONE_FORCE);
          cloned = true;
          this.reflink = true;
        } catch {
          this.reflink = false;
          await fsp.rm(tmpPath, { force: true });
        }
      }
      if (cloned) {
        // The clone carries the object's 0444 mode: make it ours before opening it.
        await fsp.chmod(tmpPath, 0o600);
        dst = await fsp.open(tmpPath, 'r+');
        got = (await hashHandle(dst, undefined, size)).hash;
      } else {
        dst = await fsp.open(tmpPath, 'wx', 0o600);
        got = (await hashHandle(src, dst, size)).hash;
      }
      await dst.chmod(mode);
      await dst.sync();
    } catch (e) {
      await dst?.close();
      dst = undefined;
      await fsp.rm(tmpPath, { force: true });
      return err(ioError(e, tmpPath));
    } finally {
      await src.close();
      await dst?.close();
    }
    if (got !== hash) {
      await fsp.rm(tmpPath, { force: true });
      const q = await this.quarantine(hash, `content hashes to ${got}`);
      return err({ reason: 'corrupt', message: `object ${hash} is corrupt (content hashes to ${got}); quarantined`, path: q });
    }
    return ok(undefined);
  }

  /** A temp path from which a rename onto `dest` is atomic: tmp/ when on the same filesystem, else a hidden sibling. */
  private async tempFor(dest: string, label: string): Promise<string> {
    const parent = path.dirname(dest);
    const [a, b] = await Promise.all([fsp.stat(parent), fsp.stat(this.dir('tmp'))]);
    if (a.dev === b.dev) return path.join(this.dir('tmp'), tempName(label));
    return path.join(parent, `.${tempName(label)}`);
  }

  /**
   * Rename `tmp` onto `dest`. Files and absent/empty targets: one atomic rename. An existing
   * folder cannot be swapped in one step without renameat2(RENAME_EXCHANGE), which Node lacks:
   * rename old aside, rename new in, remove old. A kill between the two renames leaves `dest`
   * absent (never partial): the output reads as missing and is restored again next run.
   */
  private async place(tmp: string, dest: string): Promise<void> {
    try {
      await fsp.rename(tmp, dest);
      return;
    } catch (e) {
      const code = errnoCode(e);
      if (code !== 'EISDIR' && code !== 'ENOTDIR' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    }
    const aside = await this.tempFor(dest, 'old');
    await fsp.rename(dest, aside);
    await fsp.rename(tmp, dest);
    await fsp.rm(aside, { recursive: true, force: true });
  }

  async restore(ref: ArtifactRef, destAbs: string): Promise<Result<void, StoreError>> {
    const dest = path.resolve(destAbs);
    try {
      await fsp.mkdir(path.dirname(dest), { recursive: true });
    } catch (e) {
      return err(ioError(e, path.dirname(dest)));
    }
    let tmp: string;
    try {
      tmp = await this.tempFor(dest, 'restore');
    } catch (e) {
      return err(ioError(e, dest));
    }
    if (ref.kind === 'file') {
      const r = await this.copyOut(ref.hash, ref.size, tmp, 0o644);
      if (!r.ok) return r;
    } else {
      const r = await this.buildDir(ref, tmp);
      if (!r.ok) {
        await fsp.rm(tmp, { recursive: true, force: true });
        return r;
      }
    }
    try {
      await this.place(tmp, dest);
      return ok(undefined);
    } catch (e) {
      await fsp.rm(tmp, { recursive: true, force: true });
      return err(ioError(e, dest));
    }
  }

  private async buildDir(ref: ArtifactRef, tmp: string): Promise<Result<void, StoreError>> {
    const m = await this.readManifest(ref.hash, true);
    if (!m.ok) return m;
    try {
      await fsp.mkdir(tmp, { mode: 0o755 });
      const made = new Set<string>();
      for (const d of m.value.dirs ?? []) await fsp.mkdir(path.join(tmp, d), { recursive: true });
      for (const rel of Object.keys(m.value.files)) {
        const parent = path.posix.dirname(rel);
        if (parent !== '.' && !made.has(parent)) {
          await fsp.mkdir(path.join(tmp, parent), { recursive: true });
          made.add(parent);
        }
      }
    } catch (e) {
      return err(ioError(e, tmp));
    }
    let failure: StoreError | undefined;
    await Promise.all(
      Object.entries(m.value.files).map(([rel, e]) =>
        this.limit(async () => {
          if (failure !== undefined) return;
          const r = await this.copyOut(e.hash, e.size, path.join(tmp, rel), e.exec ? 0o755 : 0o644);
          if (!r.ok) failure ??= r.error;
        }),
      ),
    );
    return failure === undefined ? ok(undefined) : err(failure);
  }

  // ---------------------------------------------------------------- records

  private recordPath(fp: string): string {
    return path.join(this.dir('runs'), fp.slice(0, 2), `${fp}.json`);
  }

  async writeRunRecord(rec: RunRecord): Promise<void> {
    if (!isValidFingerprint(rec.fingerprint)) throw new Error(`invalid fingerprint for a file name: ${JSON.stringify(rec.fingerprint)}`);
    const p = this.recordPath(rec.fingerprint);
    await fsp.mkdir(path.dirname(p), { recursive: true });
    // NaN/Infinity metrics are written as null (JSON) and read back as NaN.
    await writeFileAtomic(p, `${JSON.stringify(rec, null, 2)}\n`, { tmpDir: this.dir('tmp'), syncDir: true });
    this.recordIndex?.add(rec.fingerprint);
  }

  /**
   * Asks for a listing of which run records and latest pointers exist, so that planning thousands
   * of new stages does not try to open thousands of missing files. The listing (a few hundred
   * readdir calls) is made at the first lookup that misses: a rerun that finds every record never
   * pays for it. Records written by this Store afterwards are added; ones another process writes
   * meanwhile are not seen (a planner's snapshot is taken at one moment anyway).
   */
  async indexRecords(): Promise<void> {
    this.indexWanted = true;
  }

  private listRecords(): void {
    const records = new Set<string>();
    const runs = this.dir('runs');
    for (const shard of readdirOrEmpty(runs)) {
      for (const name of readdirOrEmpty(path.join(runs, shard))) {
        if (name.endsWith('.json')) records.add(name.slice(0, -'.json'.length));
      }
    }
    this.recordIndex = records;
    this.latestIndex = new Set(readdirOrEmpty(this.dir('stages')));
  }

  /** undefined when absent; also when unreadable or invalid, with a `corrupt-run-record` warning. */
  async readRunRecord(fingerprint: string): Promise<RunRecord | undefined> {
    if (!isValidFingerprint(fingerprint)) return undefined;
    if (this.recordIndex && !this.recordIndex.has(fingerprint)) return undefined;
    const p = this.recordPath(fingerprint);
    let text: string;
    try {
      // A record is a few KB: read synchronously (one open/read/close, ~20 us) instead of four
      // thread-pool round trips; the planner reads one per fresh stage, mostly one after another.
      text = readFileSync(p, 'utf8');
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') this.warn({ kind: 'corrupt-run-record', path: p, message: errorMessage(e) });
      else if (this.indexWanted && this.recordIndex === undefined) this.listRecords();
      return undefined;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      this.warn({ kind: 'corrupt-run-record', path: p, message: `unparsable: ${errorMessage(e)}` });
      return undefined;
    }
    const problem = runRecordProblem(doc) ?? ((doc as { fingerprint: string }).fingerprint !== fingerprint ? 'fingerprint does not match file name' : undefined);
    if (problem !== undefined) {
      this.warn({ kind: 'corrupt-run-record', path: p, message: problem });
      return undefined;
    }
    return reviveRunRecord(doc as Record<string, unknown>);
  }

  /** Record a cache hit: `gc`'s size/age caps evict least-recently-used records first. */
  async markUsed(fingerprint: string): Promise<void> {
    if (!isValidFingerprint(fingerprint)) return;
    const now = new Date();
    await fsp.utimes(this.recordPath(fingerprint), now, now).catch(() => undefined);
  }

  async setLatest(stageId: string, fingerprint: string): Promise<void> {
    const p = path.join(this.dir('stages'), `${stageSlug(stageId)}.json`);
    await writeFileAtomic(p, `${JSON.stringify({ stageId, fingerprint, updatedAt: new Date().toISOString() })}\n`, { tmpDir: this.dir('tmp') });
    // After the write: a listing taken while it was in flight may have missed the file.
    this.latestIndex?.add(`${stageSlug(stageId)}.json`);
  }

  async getLatest(stageId: string): Promise<string | undefined> {
    if (this.latestIndex && !this.latestIndex.has(`${stageSlug(stageId)}.json`)) return undefined;
    let text: string;
    try {
      text = await fsp.readFile(path.join(this.dir('stages'), `${stageSlug(stageId)}.json`), 'utf8');
    } catch {
      if (this.indexWanted && this.latestIndex === undefined) this.listRecords();
      return undefined;
    }
    try {
      const doc = JSON.parse(text) as { stageId?: unknown; fingerprint?: unknown };
      return doc.stageId === stageId && typeof doc.fingerprint === 'string' ? doc.fingerprint : undefined;
    } catch {
      return undefined;
    }
  }

  // ---------------------------------------------------------------- scratch space

  async newStagingDir(label: string): Promise<string> {
    const p = path.join(this.dir('tmp'), tempName(label));
    await fsp.mkdir(p, { recursive: true });
    return p;
  }

  /** Removes entries of tmp/ whose creating process on this host is gone (dead, zombie, or pid reused). Returns how many. */
  async cleanTmp(): Promise<number> {
    let removed = 0;
    let names: string[];
    try {
      names = await fsp.readdir(this.dir('tmp'));
    } catch {
      return 0;
    }
    for (const name of names) {
      const o = parseTempName(name);
      // Another host's pids mean nothing here: leave its entries alone.
      if (o === undefined || o.host !== hostTag() || processLiveness(o.pid, o.startTicks) === 'alive') continue;
      await fsp.rm(path.join(this.dir('tmp'), name), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  /** `.vpt/logs/<slug>/<runId>.log`; creates the folder. */
  logPath(stageId: string, runId: string): string {
    const dir = path.join(this.dir('logs'), stageSlug(stageId));
    mkdirSync(dir, { recursive: true });
    return path.join(dir, `${stageSlug(runId)}.log`);
  }

  /** `.vpt/checkpoints/<fingerprint>/`; creates it. */
  checkpointDir(fingerprint: string): string {
    if (!isValidFingerprint(fingerprint)) throw new Error(`invalid fingerprint for a folder name: ${JSON.stringify(fingerprint)}`);
    const dir = path.join(this.dir('checkpoints'), fingerprint);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  // ---------------------------------------------------------------- maintenance

  async gc(opts: GcOptions): Promise<GcReport> {
    this.recordIndex = undefined;
    // Forget stat-cache entries of files that no longer exist (the cache would otherwise only grow).
    if (opts.dryRun !== true) await this.statCache.prune().catch(() => undefined);
    return collectGarbage(
      {
        root: this.root,
        objectPath: (h) => this.objectPath(h),
        readManifest: async (h) => {
          const m = await this.readManifest(h, false);
          return m.ok ? m.value : undefined;
        },
        readRunRecord: (fp) => this.readRunRecord(fp),
      },
      opts,
    );
  }

  /** Re-hash every object; corrupt ones are quarantined (unless `quarantine: false`) and listed. */
  async verifyObjects(opts: { quarantine?: boolean } = {}): Promise<{ checked: number; corrupt: { hash: Sha256; path: string }[] }> {
    const objects = await listObjects(this.dir('objects'));
    const corrupt: { hash: Sha256; path: string }[] = [];
    let checked = 0;
    await Promise.all(
      objects.map((o) =>
        this.limit(async () => {
          let got: Sha256 | undefined;
          let fh: fsp.FileHandle | undefined;
          try {
            fh = await fsp.open(o.path, 'r');
            got = (await hashHandle(fh)).hash;
          } catch {
            got = undefined;
          } finally {
            await fh?.close();
          }
          checked++;
          if (got === o.hash) return;
          const p = opts.quarantine === false ? o.path : await this.quarantine(o.hash, got === undefined ? 'unreadable' : `content hashes to ${got}`);
          corrupt.push({ hash: o.hash, path: p });
        }),
      ),
    );
    corrupt.sort((a, b) => (a.hash < b.hash ? -1 : 1));
    return { checked, corrupt };
  }
}
