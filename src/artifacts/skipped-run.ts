/**
 * What a training stage leaves when its data cannot hold the run (`train.vit` with
 * `ifSplitMissing: skip`, e.g. a data-size variant the task has too few images for): every declared
 * output is written, each a small document in this one format saying which run was skipped and why,
 * so the stage is cached like any other and a reader can tell "no result" from "a result".
 */
import { err, ok, type Result } from '../util/result.js';
import { artifactError, isRecord, writeArtifactJson, type ArtifactError } from './errors.js';

export const SKIPPED_RUN_FORMAT = 'vpt.skipped-run/1';

export interface SkippedRun {
  readonly format: typeof SKIPPED_RUN_FORMAT;
  readonly task: string;
  readonly method: string;
  readonly seed: number;
  readonly trainSplit: string;
  /** The data stage's note for the missing split, or that the split is not in task.json. */
  readonly reason: string;
}

export const writeSkippedRun: (path: string, run: SkippedRun) => Promise<void> = writeArtifactJson;

/** The skipped-run document in `text`, `undefined` when `text` is some other artifact (or not JSON). */
export function parseSkippedRun(text: string, path: string): Result<SkippedRun | undefined, ArtifactError> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return ok(undefined);
  }
  if (!isRecord(raw) || raw['format'] !== SKIPPED_RUN_FORMAT) return ok(undefined);
  for (const key of ['task', 'method', 'trainSplit', 'reason'] as const) {
    if (typeof raw[key] !== 'string') return err(artifactError('bad-format', `${key} must be a string (a skipped run)`, path));
  }
  if (typeof raw['seed'] !== 'number') return err(artifactError('bad-format', 'seed must be a number (a skipped run)', path));
  return ok(raw as unknown as SkippedRun);
}
