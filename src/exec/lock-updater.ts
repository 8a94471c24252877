/**
 * Keeps `pipeline.lock` in step with the run: each finished stage updates its entry and the file
 * is rewritten atomically, so a run killed half-way leaves a lock that describes exactly the
 * stages that finished. Stages no longer in the pipeline are dropped.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pipeline, Stage } from '../dsl/model.js';
import type { FingerprintDoc } from '../plan/fingerprint.js';
import { canonicallyEqual, parseLockFile, sha256, writeLockFile, type LockFile, type LockStage, type RunRecord, type Sha256 } from '../store/index.js';

export class LockUpdater {
  readonly #path: string;
  readonly #pipeline: string;
  readonly #stages = new Map<string, LockStage>();
  #inflight: Promise<void> = Promise.resolve();
  /** A write queued behind the one in flight; every change made before it starts is in it. */
  #queued: Promise<void> | undefined;
  /** Something differs from the file as read (an entry changed, or a stage left the pipeline). */
  #dirty = false;

  private constructor(path: string, pipeline: string) {
    this.#path = path;
    this.#pipeline = pipeline;
  }

  /** `cacheDir`: where a parsed copy of the lock is kept (the store's folder); optional. */
  static async open(path: string, pipeline: Pipeline, cacheDir?: string): Promise<LockUpdater> {
    const updater = new LockUpdater(path, pipeline.name);
    const ids = new Set(pipeline.stages.map((s) => s.id));
    const existing = await readLockCached(path, cacheDir);
    if (existing) {
      for (const [id, entry] of Object.entries(existing.stages)) {
        if (ids.has(id)) updater.#stages.set(id, entry);
        else updater.#dirty = true;
      }
    }
    return updater;
  }

  /**
   * Records a finished stage; resolves once a lock file holding it is on disk. An unchanged entry
   * (a fresh stage) writes nothing, and changes that arrive while a write is in flight share the
   * next one, so a run of n stages costs O(n) renders, not O(n^2).
   */
  record(stage: Stage, record: RunRecord): Promise<void> {
    const entry = lockEntry(stage, record);
    const previous = this.#stages.get(stage.id);
    if (previous !== undefined && canonicallyEqual(previous, entry)) return Promise.resolve();
    this.#stages.set(stage.id, entry);
    this.#dirty = true;
    return this.flush();
  }

  /** Writes the current state (after the write in flight, if any), if it differs from the file. */
  flush(): Promise<void> {
    if (!this.#dirty) return this.#inflight;
    if (this.#queued) return this.#queued;
    const queued = this.#inflight
      .catch(() => undefined)
      .then(() => {
        this.#queued = undefined;
        this.#dirty = false;
        this.#inflight = writeLockFile(this.#path, this.snapshot());
        return this.#inflight;
      });
    this.#queued = queued;
    return queued;
  }

  snapshot(): LockFile {
    const stages = Object.fromEntries([...this.#stages].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return { version: 1, pipeline: this.#pipeline, stages };
  }
}

/**
 * The lock parsed, via a JSON copy keyed by the sha256 of its text: YAML parsing of a
 * thousand-stage lock costs a quarter of a second, a JSON parse a few milliseconds.
 */
async function readLockCached(path: string, cacheDir: string | undefined): Promise<LockFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  const key = sha256(text);
  const cacheFile = cacheDir === undefined ? undefined : join(cacheDir, `lock-${sha256(path).slice(0, 16)}.json`);
  if (cacheFile) {
    try {
      const cached = JSON.parse(await readFile(cacheFile, 'utf8')) as { key?: string; lock?: LockFile };
      if (cached.key === key && cached.lock) return cached.lock;
    } catch {
      // No copy yet, or an unreadable one: parse the YAML.
    }
  }
  const parsed = parseLockFile(text, path);
  if (!parsed.ok) return undefined;
  if (cacheFile) {
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ key, lock: parsed.value }))
      .then(() => rename(tmp, cacheFile))
      .catch(() => undefined);
  }
  return parsed.value;
}

export function lockEntry(stage: Stage, record: RunRecord): LockStage {
  const doc = record.fingerprintInputs as FingerprintDoc;
  const outs: Record<string, { path: string; hash: Sha256; size: number }> = {};
  for (const [name, output] of Object.entries(record.outputs)) outs[name] = { path: output.path, hash: output.ref.hash, size: output.ref.size };
  const deps = Object.fromEntries(Object.entries(doc.inputs ?? {})) as Record<string, Sha256>;
  return stage.type === 'builtin'
    ? { fingerprint: record.fingerprint, kind: `${stage.uses}@${doc.task.type === 'builtin' ? doc.task.version : 0}`, params: stage.with, deps, outs, metrics: record.metrics }
    : {
        fingerprint: record.fingerprint,
        kind: 'command',
        command: typeof stage.command === 'string' ? stage.command : stage.command.join(' '),
        params: stage.paramsUsed ?? {},
        deps,
        outs,
        metrics: record.metrics,
      };
}
