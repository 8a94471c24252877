/**
 * Two selections one stage makes for another: train.select's grid point (read by the final
 * train.vit runs through `hparams`), and analysis.select-images' test images (read by
 * analysis.attribution through `selection`).
 */
import { err, ok, type Result } from '../util/result.js';
import { artifactError, isRecord, parseArtifactObject, readArtifactText, writeArtifactJson, type ArtifactError } from './errors.js';

export const GRID_SELECTION_FORMAT = 'vpt.grid-selection/1';
export const IMAGE_SELECTION_FORMAT = 'vpt.image-selection/1';

export interface GridCandidate {
  readonly path: string;
  readonly baseLr: number;
  readonly weightDecay: number;
  readonly val_top1: number;
}

export interface GridSelection {
  readonly format: typeof GRID_SELECTION_FORMAT;
  readonly baseLr: number;
  readonly weightDecay: number;
  readonly val_top1: number;
  /** The winner's metrics.json. */
  readonly source: string;
  readonly candidates: readonly GridCandidate[];
}

export interface SelectedImage {
  readonly index: number;
  readonly label: number;
  readonly ftPredicted: number;
  readonly vptPredicted: number;
}

export interface ImageSelection {
  readonly format: typeof IMAGE_SELECTION_FORMAT;
  readonly ft: string;
  readonly vpt: string;
  readonly total: number;
  readonly ftFailsVptSucceeds: readonly SelectedImage[];
  readonly vptFailsFtSucceeds: readonly SelectedImage[];
}

export const writeSelection: (path: string, value: GridSelection | ImageSelection) => Promise<void> = writeArtifactJson;

async function readObject(path: string, format: string, what: string): Promise<Result<Record<string, unknown>, ArtifactError>> {
  const text = await readArtifactText(path);
  return text.ok ? parseArtifactObject(text.value, path, format, what) : text;
}

export async function readGridSelection(path: string): Promise<Result<GridSelection, ArtifactError>> {
  const raw = await readObject(path, GRID_SELECTION_FORMAT, 'the best grid point train.select writes');
  if (!raw.ok) return raw;
  const v = raw.value;
  if (typeof v['baseLr'] !== 'number' || typeof v['weightDecay'] !== 'number' || typeof v['val_top1'] !== 'number') {
    return err(artifactError('bad-format', 'baseLr, weightDecay and val_top1 must be numbers', path));
  }
  return ok(v as unknown as GridSelection);
}

export async function readImageSelection(path: string): Promise<Result<ImageSelection, ArtifactError>> {
  const raw = await readObject(path, IMAGE_SELECTION_FORMAT, 'the images analysis.select-images writes');
  if (!raw.ok) return raw;
  for (const key of ['ftFailsVptSucceeds', 'vptFailsFtSucceeds'] as const) {
    const list = raw.value[key];
    if (!Array.isArray(list) || !list.every((r) => isRecord(r) && Number.isInteger(r['index']))) {
      return err(artifactError('bad-format', `${key} must be an array of { index, ... }`, path));
    }
  }
  return ok(raw.value as unknown as ImageSelection);
}
