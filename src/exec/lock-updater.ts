/**
 * Keeps `pipeline.lock` in step with the run: each finished stage updates its entry and the file
 * is rewritten atomically, so a run killed half-way leaves a lock that describes exactly the
 * stages that finished. Stages no longer in the pipeline are dropped.
 */
import { readFile } from 'node:fs/promises';
import type { Pipeline, Stage } from '../dsl/model.js';
import type { FingerprintDoc } from '../plan/fingerprint.js';
import { parseLockFile, tryCanonicalJson, writeLockFile, type LockFile, type LockStage, type RunRecord, type Sha256 } from '../store/index.js';

export class LockUpdater {
  readonly #path: string;
  readonly #pipeline: string;
  readonly #stages = new Map<string, LockStage>();
  #inflight: Promise<void> = Promise.resolve();
  /** A write queued behind the one in flight; every change made before it starts is in it. */
  #queued: Promise<void> | undefined;

  private constructor(path: string, pipeline: string) {
    this.#path = path;
    this.#pipeline = pipeline;
  }

  static async open(path: string, pipeline: Pipeline): Promise<LockUpdater> {
    const updater = new LockUpdater(path, pipeline.name);
    const ids = new Set(pipeline.stages.map((s) => s.id));
    try {
      const parsed = parseLockFile(await readFile(path, 'utf8'), path);
      if (parsed.ok) for (const [id, entry] of Object.entries(parsed.value.stages)) if (ids.has(id)) updater.#stages.set(id, entry);
    } catch {
      // No lock yet.
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
    if (previous !== undefined && sameEntry(previous, entry)) return Promise.resolve();
    this.#stages.set(stage.id, entry);
    return this.flush();
  }

  /** Writes the current state (after the write in flight, if any). */
  flush(): Promise<void> {
    if (this.#queued) return this.#queued;
    const queued = this.#inflight
      .catch(() => undefined)
      .then(() => {
        this.#queued = undefined;
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

function sameEntry(a: LockStage, b: LockStage): boolean {
  const [x, y] = [tryCanonicalJson(a), tryCanonicalJson(b)];
  return x.ok && y.ok && x.value === y.value;
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
