/**
 * Keeps `pipeline.lock` in step with the run: each finished stage updates its entry and the file
 * is rewritten atomically, so a run killed half-way leaves a lock that describes exactly the
 * stages that finished. Stages no longer in the pipeline are dropped.
 */
import { readFile } from 'node:fs/promises';
import type { Pipeline, Stage } from '../dsl/model.js';
import type { FingerprintDoc } from '../plan/fingerprint.js';
import { parseLockFile, writeLockFile, type LockFile, type LockStage, type RunRecord, type Sha256 } from '../store/index.js';

export class LockUpdater {
  readonly #path: string;
  readonly #pipeline: string;
  readonly #stages = new Map<string, LockStage>();
  #writing: Promise<void> = Promise.resolve();

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

  record(stage: Stage, record: RunRecord): Promise<void> {
    this.#stages.set(stage.id, lockEntry(stage, record));
    return this.flush();
  }

  flush(): Promise<void> {
    const snapshot = this.snapshot();
    this.#writing = this.#writing.then(() => writeLockFile(this.#path, snapshot));
    return this.#writing;
  }

  snapshot(): LockFile {
    const stages = Object.fromEntries([...this.#stages].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return { version: 1, pipeline: this.#pipeline, stages };
  }
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
