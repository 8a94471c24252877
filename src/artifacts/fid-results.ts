/**
 * `fid.json` of analysis.fid: the FID of each task against the reference set, with how it was
 * computed. Written by analysis.fid (one per task and a summary), read by analysis.quadrants.
 */
import { err, ok, type Result } from '../util/result.js';
import { artifactError, fileInFolder, isRecord, parseArtifactObject, readArtifactText, writeArtifactJson, type ArtifactError } from './errors.js';

// 2: `route`, `rule`, `repeats`, `fidStd`, `fids`; no `fallbackReason`.
export const FID_FORMAT = 'vpt.fid/2';

export interface FidRecord {
  readonly task: string;
  readonly group?: string;
  readonly disparity?: 'low' | 'high';
  readonly similarity?: 'near' | 'far';
  /** The mean of `fids` (the FID itself when `repeats` is 1). */
  readonly fid: number;
  /** Sample standard deviation of `fids` (0 when `repeats` is 1). */
  readonly fidStd: number;
  /** Reference subsamples the FID was computed against. */
  readonly repeats: number;
  /** The FID against each reference subsample, in repeat order. */
  readonly fids: readonly number[];
  /** |mu1 - mu2|^2, mean over repeats. */
  readonly meanTerm: number;
  /** Tr(S1) + Tr(S2) - 2 Tr((S1^1/2 S2 S1^1/2)^1/2), mean over repeats. */
  readonly covTerm: number;
  /** What was added to both covariance diagonals (0: none). */
  readonly offset: number;
  /** `exact`: pytorch-fid's number, no offset; `offset`: the eps variant (`offset` on both diagonals). */
  readonly rule: 'exact' | 'offset';
  /** The algorithm the numerics ran (several, joined with ", ", if the repeats differ). */
  readonly route: string;
  readonly images: number;
  /** Reference images per repeat. */
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

/** What is wrong with one task record, or undefined. */
function recordProblem(t: unknown): string | undefined {
  if (!isRecord(t)) return ' must be an object';
  const finite = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
  const count = (v: unknown, min: number): boolean => Number.isInteger(v) && (v as number) >= min;
  if (typeof t['task'] !== 'string') return '.task must be a string';
  for (const k of ['fid', 'meanTerm', 'covTerm'] as const) if (!finite(t[k])) return `.${k} must be a finite number`;
  for (const k of ['fidStd', 'offset'] as const) if (!finite(t[k]) || (t[k] as number) < 0) return `.${k} must be a number >= 0`;
  if (!count(t['repeats'], 1)) return '.repeats must be an integer >= 1';
  const fids = t['fids'];
  if (!Array.isArray(fids) || fids.length !== t['repeats'] || !fids.every(finite)) return '.fids must hold one finite number per repeat';
  if (t['rule'] !== 'exact' && t['rule'] !== 'offset') return '.rule must be exact or offset';
  if (typeof t['route'] !== 'string' || t['route'] === '') return '.route must be a non-empty string';
  for (const k of ['images', 'referenceImages', 'featureDim'] as const) if (!count(t[k], 1)) return `.${k} must be an integer >= 1`;
  if (typeof t['features'] !== 'string' || typeof t['split'] !== 'string') return '.features and .split must be strings';
  if (t['disparity'] !== undefined && t['disparity'] !== 'low' && t['disparity'] !== 'high') return '.disparity must be low or high';
  if (t['similarity'] !== undefined && t['similarity'] !== 'near' && t['similarity'] !== 'far') return '.similarity must be near or far';
  return undefined;
}

export function parseFidSummary(text: string, path: string): Result<FidSummary, ArtifactError> {
  const parsed = parseArtifactObject(text, path, FID_FORMAT, 'the fid.json summary analysis.fid writes');
  if (!parsed.ok) return parsed;
  const raw = parsed.value;
  const bad = (what: string): Result<FidSummary, ArtifactError> => err(artifactError('bad-format', what, path));
  if (typeof raw['reference'] !== 'string' || typeof raw['features'] !== 'string') return bad('reference and features must be strings');
  if (!Array.isArray(raw['tasks'])) return bad('tasks must be an array');
  for (const [i, t] of raw['tasks'].entries()) {
    const problem = recordProblem(t);
    if (problem) return bad(`tasks[${i}]${problem}`);
  }
  return ok(raw as unknown as FidSummary);
}

/** The summary `fid.json` of a file or of an analysis.fid output folder. */
export async function readFidSummary(fileOrFolder: string): Promise<Result<FidSummary, ArtifactError>> {
  const file = await fileInFolder(fileOrFolder, 'fid.json');
  const text = await readArtifactText(file);
  return text.ok ? parseFidSummary(text.value, file) : text;
}
