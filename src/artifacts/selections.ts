/**
 * Two selections one stage makes for another: train.select's grid point (read by the final
 * train.vit runs through `hparams`), and analysis.select-images' test images (read by
 * analysis.attribution through `selection`).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { err, ok, type Result } from '../util/result.js';
import { artifactError, isRecord, type ArtifactError } from './errors.js';

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

export async function writeSelection(path: string, value: GridSelection | ImageSelection): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

async function readObject(path: string, format: string, what: string): Promise<Result<Record<string, unknown>, ArtifactError>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code !== undefined;
    return err(artifactError(missing ? 'unreadable' : 'bad-format', missing ? (e as Error).message : `not JSON: ${(e as Error).message}`, path));
  }
  if (!isRecord(raw)) return err(artifactError('bad-format', 'expected a JSON object', path));
  if (raw['format'] !== format) return err(artifactError('bad-format', `format ${JSON.stringify(raw['format'])}, expected "${format}" (${what})`, path));
  return ok(raw);
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
