/**
 * `quadrants.json` of analysis.quadrants: each task placed by disparity and measured FID. Written
 * by analysis.quadrants, read by the report.
 */
import { err, ok, type Result } from '../util/result.js';
import { artifactError, fileInFolder, isRecord, parseArtifactObject, readArtifactText, writeArtifactJson, type ArtifactError } from './errors.js';

// 2: `fidStd` and `uncertain` on every row, `uncertain` on the table.
export const QUADRANTS_FORMAT = 'vpt.quadrants/2';

export type Disparity = 'low' | 'high';
export type Similarity = 'near' | 'far';

export interface QuadrantInput {
  readonly task: string;
  readonly fid: number;
  /** Std of the FID over reference subsamples (fid.json `fidStd`); absent or 0: not measured. */
  readonly fidStd?: number;
  readonly disparity: Disparity;
  /** What the suite intended, when it says (task.json `similarity`). */
  readonly intendedSimilarity?: Similarity;
  readonly group?: string;
}

export interface QuadrantRow extends QuadrantInput {
  readonly fidStd: number;
  readonly similarity: Similarity;
  /** e.g. `high-disparity/near`. */
  readonly quadrant: string;
  /** Measured similarity differs from the intended one. */
  readonly mismatch: boolean;
  /** The threshold lies within 2 std of the FID: another reference sample could place it on the other side. */
  readonly uncertain: boolean;
}

export interface QuadrantTable {
  readonly threshold: number;
  readonly thresholdRule: 'median' | 'given';
  readonly rows: readonly QuadrantRow[];
  readonly mismatches: readonly string[];
  /** Tasks whose placement is uncertain (row `uncertain`). */
  readonly uncertain: readonly string[];
}

export async function writeQuadrantsJson(path: string, table: QuadrantTable): Promise<void> {
  await writeArtifactJson(path, { format: QUADRANTS_FORMAT, ...table });
}

export function parseQuadrants(text: string, path: string): Result<QuadrantTable, ArtifactError> {
  const parsed = parseArtifactObject(text, path, QUADRANTS_FORMAT, 'the quadrants.json analysis.quadrants writes');
  if (!parsed.ok) return parsed;
  const raw = parsed.value;
  const bad = (what: string): Result<QuadrantTable, ArtifactError> => err(artifactError('bad-format', what, path));
  if (typeof raw['threshold'] !== 'number' || (raw['thresholdRule'] !== 'median' && raw['thresholdRule'] !== 'given')) return bad('threshold must be a number and thresholdRule median or given');
  if (!Array.isArray(raw['rows']) || !Array.isArray(raw['mismatches']) || !Array.isArray(raw['uncertain'])) return bad('rows, mismatches and uncertain must be arrays');
  for (const [i, r] of raw['rows'].entries()) {
    if (!isRecord(r) || typeof r['task'] !== 'string' || typeof r['fid'] !== 'number' || typeof r['quadrant'] !== 'string' || (r['disparity'] !== 'low' && r['disparity'] !== 'high') || (r['similarity'] !== 'near' && r['similarity'] !== 'far')) {
      return bad(`rows[${i}] must hold task, fid, disparity (low|high), similarity (near|far) and quadrant`);
    }
    if (typeof r['fidStd'] !== 'number' || !(r['fidStd'] >= 0) || typeof r['mismatch'] !== 'boolean' || typeof r['uncertain'] !== 'boolean') {
      return bad(`rows[${i}] must hold fidStd (a number >= 0), mismatch and uncertain (booleans)`);
    }
  }
  const { format: _format, ...table } = raw;
  return ok(table as unknown as QuadrantTable);
}

/** `quadrants.json` of a file or of an analysis.quadrants output folder. */
export async function readQuadrants(fileOrFolder: string): Promise<Result<QuadrantTable, ArtifactError>> {
  const file = await fileInFolder(fileOrFolder, 'quadrants.json');
  const text = await readArtifactText(file);
  return text.ok ? parseQuadrants(text.value, file) : text;
}
