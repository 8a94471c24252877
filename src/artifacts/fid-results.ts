/**
 * `fid.json` of analysis.fid: the FID of each task against the reference set, with how it was
 * computed. Written by analysis.fid (one per task and a summary), read by analysis.quadrants.
 */
import { err, ok, type Result } from '../util/result.js';
import { artifactError, fileInFolder, isRecord, parseArtifactObject, readArtifactText, writeArtifactJson, type ArtifactError } from './errors.js';

export const FID_FORMAT = 'vpt.fid/1';

export interface FidRecord {
  readonly task: string;
  readonly group?: string;
  readonly disparity?: 'low' | 'high';
  readonly similarity?: 'near' | 'far';
  readonly fid: number;
  readonly meanTerm: number;
  readonly covTerm: number;
  /** What was added to both covariance diagonals (0: none). */
  readonly offset: number;
  readonly fallbackReason?: string;
  readonly images: number;
  readonly referenceImages: number;
  readonly featureDim: number;
  readonly features: string;
  readonly split: string;
}

export interface FidSummary {
  readonly format: typeof FID_FORMAT;
  readonly reference: string;
  readonly features: string;
  readonly tasks: readonly FidRecord[];
}

export const writeFidJson: (path: string, value: FidSummary | (FidRecord & { readonly format: typeof FID_FORMAT })) => Promise<void> = writeArtifactJson;

export function parseFidSummary(text: string, path: string): Result<FidSummary, ArtifactError> {
  const parsed = parseArtifactObject(text, path, FID_FORMAT, 'the fid.json summary analysis.fid writes');
  if (!parsed.ok) return parsed;
  const raw = parsed.value;
  const bad = (what: string): Result<FidSummary, ArtifactError> => err(artifactError('bad-format', what, path));
  if (typeof raw['reference'] !== 'string' || typeof raw['features'] !== 'string') return bad('reference and features must be strings');
  if (!Array.isArray(raw['tasks'])) return bad('tasks must be an array');
  for (const [i, t] of raw['tasks'].entries()) {
    if (!isRecord(t) || typeof t['task'] !== 'string' || typeof t['fid'] !== 'number' || typeof t['offset'] !== 'number' || typeof t['images'] !== 'number') {
      return bad(`tasks[${i}] must hold task, fid, offset and images`);
    }
    if (t['disparity'] !== undefined && t['disparity'] !== 'low' && t['disparity'] !== 'high') return bad(`tasks[${i}].disparity must be low or high`);
  }
  return ok(raw as unknown as FidSummary);
}

/** The summary `fid.json` of a file or of an analysis.fid output folder. */
export async function readFidSummary(fileOrFolder: string): Promise<Result<FidSummary, ArtifactError>> {
  const file = await fileInFolder(fileOrFolder, 'fid.json');
  const text = await readArtifactText(file);
  return text.ok ? parseFidSummary(text.value, file) : text;
}
