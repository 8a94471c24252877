/**
 * `attribution.json` of analysis.attribution: which test images were explained, with GradCAM and
 * Integrated Gradients, and how complete IG was. Read by the report (the attribution table).
 */
import { err, ok, type Result } from '../util/result.js';
import { artifactError, fileInFolder, isRecord, parseArtifactObject, readArtifactText, writeArtifactJson, type ArtifactError } from './errors.js';

export const ATTRIBUTION_FORMAT = 'vpt.attribution/1';

export interface AttributionSummary {
  readonly format: typeof ATTRIBUTION_FORMAT;
  readonly task: string;
  readonly split: string;
  readonly model: string;
  readonly igSteps: number;
  readonly igRule: string;
  readonly igOutput: string;
  /** Over the images with an IG map; null when IG did not run. */
  readonly completeness: { readonly maxRelativeError: number; readonly meanRelativeError: number } | null;
  /** One record per explained image (index, label, prediction, map statistics, file names). */
  readonly images: readonly object[];
  readonly [detail: string]: unknown;
}

export const writeAttribution: (path: string, value: AttributionSummary) => Promise<void> = writeArtifactJson;

/** `attribution.json` of a file or of an analysis.attribution output folder. */
export async function readAttribution(fileOrFolder: string): Promise<Result<AttributionSummary, ArtifactError>> {
  const file = await fileInFolder(fileOrFolder, 'attribution.json');
  const text = await readArtifactText(file);
  if (!text.ok) return text;
  const parsed = parseArtifactObject(text.value, file, ATTRIBUTION_FORMAT, 'the attribution.json analysis.attribution writes');
  if (!parsed.ok) return parsed;
  const raw = parsed.value;
  const bad = (what: string): Result<AttributionSummary, ArtifactError> => err(artifactError('bad-format', what, file));
  if (typeof raw['task'] !== 'string' || typeof raw['igSteps'] !== 'number' || typeof raw['igRule'] !== 'string' || !Array.isArray(raw['images'])) {
    return bad('task, igSteps, igRule and images must be present');
  }
  const c = raw['completeness'];
  if (c !== null && !(isRecord(c) && typeof c['maxRelativeError'] === 'number' && typeof c['meanRelativeError'] === 'number')) {
    return bad('completeness must be null or hold maxRelativeError and meanRelativeError');
  }
  return ok(raw as unknown as AttributionSummary);
}
