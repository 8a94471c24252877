/**
 * Per-image test predictions of a training run (`predictions` output of train.vit), read by
 * analysis.select-images to find where FT fails and VPT succeeds.
 */
import { err, ok, type Result } from '../util/result.js';
import { artifactError, isRecord, parseArtifactObject, readArtifactText, writeArtifactJson, type ArtifactError } from './errors.js';

export const PREDICTIONS_FORMAT = 'vpt.predictions/1';

export interface PredictionItem {
  readonly index: number;
  readonly label: number;
  readonly predicted: number;
  readonly correct: boolean;
}

export interface PredictionsFile {
  readonly format: typeof PREDICTIONS_FORMAT;
  readonly task: string;
  readonly method: string;
  readonly seed: number;
  readonly split: string;
  readonly top1: number;
  readonly items: readonly PredictionItem[];
}

export const writePredictions: (path: string, value: PredictionsFile) => Promise<void> = writeArtifactJson;

export function parsePredictionsFile(text: string, path: string): Result<PredictionsFile, ArtifactError> {
  const parsed = parseArtifactObject(text, path, PREDICTIONS_FORMAT, 'the predictions train.vit writes');
  if (!parsed.ok) return parsed;
  const raw = parsed.value;
  const bad = (what: string): Result<PredictionsFile, ArtifactError> => err(artifactError('bad-format', what, path));
  if (typeof raw['task'] !== 'string' || typeof raw['method'] !== 'string' || typeof raw['split'] !== 'string' || typeof raw['seed'] !== 'number' || typeof raw['top1'] !== 'number') {
    return bad('task, method and split must be strings, seed and top1 numbers');
  }
  if (!Array.isArray(raw['items'])) return bad('items must be an array');
  for (const [i, r] of raw['items'].entries()) {
    if (!isRecord(r) || !Number.isInteger(r['index']) || !Number.isInteger(r['label']) || !Number.isInteger(r['predicted']) || typeof r['correct'] !== 'boolean') {
      return bad(`items[${i}] must hold integer index, label and predicted, and boolean correct`);
    }
    if (r['correct'] !== (r['label'] === r['predicted'])) return bad(`items[${i}]: correct=${String(r['correct'])} but label ${String(r['label'])} vs predicted ${String(r['predicted'])}`);
  }
  return ok(raw as unknown as PredictionsFile);
}

export async function readPredictionsFile(path: string): Promise<Result<PredictionsFile, ArtifactError>> {
  const text = await readArtifactText(path);
  return text.ok ? parsePredictionsFile(text.value, path) : text;
}
