/** The lock file as a stage reads it (the report lists its fingerprints): through the store's own parser. */
import { parseLockFile } from '../store/lock-file.js';
import { err, ok, type Result } from '../util/result.js';
import { readArtifactText, type ArtifactError } from './errors.js';

export interface LockedStage {
  readonly id: string;
  readonly fingerprint: string;
}

export function parseLockStages(text: string, path: string): Result<LockedStage[], ArtifactError> {
  const parsed = parseLockFile(text, path);
  if (!parsed.ok) {
    // The store's message names the file already; the place goes with it.
    const where = parsed.error.line !== undefined ? ` (line ${parsed.error.line}, column ${parsed.error.column ?? 1})` : '';
    return err({ reason: 'bad-format', message: `${parsed.error.message}${where}`, path });
  }
  return ok(Object.entries(parsed.value.stages).map(([id, stage]) => ({ id, fingerprint: stage.fingerprint })));
}

export async function readLockStages(path: string): Promise<Result<LockedStage[], ArtifactError>> {
  const text = await readArtifactText(path);
  return text.ok ? parseLockStages(text.value, path) : text;
}
