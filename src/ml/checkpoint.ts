/**
 * Model files and resumable training checkpoints, both safetensors.
 *
 * Model file: `param/<name>` F32 tensors; metadata `format=vpt-vit`, `config` (JSON ViTConfig) and
 * free-form extras.
 * Training checkpoint (`<checkpointDir>/train-state.safetensors`): the same params, optimizer slots
 * as `opt/<slot>/<name>`, and metadata holding the completed epoch, optimizer step, RNG state,
 * the metric history so far and a `runKey` (the run's settings) so a checkpoint of a different
 * run is never resumed. Written atomically (temp file + rename) after every epoch.
 */
import { join } from 'node:path';
import { readSafetensors, writeSafetensors, type NamedTensor } from '../io/safetensors.js';
import { err, ok, type Result } from '../util/result.js';
import type { ViTConfig } from './config.js';
import { paramsToNamed } from './params.js';
import type { ViT } from './vit.js';

export const MODEL_FORMAT = 'vpt-vit';

export type CheckpointError = { readonly reason: 'unreadable' | 'not-a-model' | 'bad-checkpoint'; readonly message: string; readonly path: string };

export async function saveModel(path: string, model: ViT, extra: Readonly<Record<string, string>> = {}): Promise<void> {
  await writeSafetensors(path, paramsToNamed(model, 'param/'), { ...extra, format: MODEL_FORMAT, config: JSON.stringify(model.config) });
}

export interface ModelFile {
  readonly config: ViTConfig;
  readonly values: Map<string, Float32Array>;
  readonly metadata: Readonly<Record<string, string>>;
}

export async function loadModelFile(path: string): Promise<Result<ModelFile, CheckpointError>> {
  let file;
  try {
    file = await readSafetensors(path);
  } catch (e) {
    return err({ reason: 'unreadable', message: `${path}: ${(e as Error).message}`, path });
  }
  if (!file.ok) return err({ reason: 'unreadable', message: file.error.message, path });
  const { tensors, metadata } = file.value;
  if (metadata['format'] !== MODEL_FORMAT || metadata['config'] === undefined) {
    return err({ reason: 'not-a-model', message: `${path}: not a ${MODEL_FORMAT} model file (metadata format=${String(metadata['format'])})`, path });
  }
  const values = new Map<string, Float32Array>();
  for (const [name, t] of tensors) {
    if (!name.startsWith('param/')) continue;
    if (t.dtype !== 'F32') return err({ reason: 'bad-checkpoint', message: `${path}: ${name} is ${t.dtype}, expected F32`, path });
    values.set(name.slice(6), t.data as Float32Array);
  }
  return ok({ config: JSON.parse(metadata['config']) as ViTConfig, values, metadata });
}

export const TRAIN_STATE_FILE = 'train-state.safetensors';

export interface TrainState {
  /** Epochs completed (the next epoch to run). */
  readonly epochsDone: number;
  readonly optimizerStep: number;
  readonly rngState: readonly [number, number, number, number];
  /** JSON of the per-epoch history so far. */
  readonly history: string;
  readonly runKey: string;
  /** Training phase for multi-phase methods (FT-then-PT). */
  readonly phase: string;
  readonly params: Map<string, Float32Array>;
  readonly optimizerSlots: Map<string, NamedTensor>;
}

export async function saveTrainState(dir: string, model: ViT, optimizerSlots: Record<string, NamedTensor>, s: Omit<TrainState, 'params' | 'optimizerSlots'>): Promise<void> {
  await writeSafetensors(join(dir, TRAIN_STATE_FILE), { ...paramsToNamed(model, 'param/'), ...optimizerSlots }, {
    format: 'vpt-train-state', epochsDone: String(s.epochsDone), optimizerStep: String(s.optimizerStep),
    rngState: JSON.stringify(s.rngState), history: s.history, runKey: s.runKey, phase: s.phase, config: JSON.stringify(model.config),
  });
}

/** The saved state, `undefined` if there is none; an error if the file exists but is unusable. */
export async function loadTrainState(dir: string): Promise<Result<TrainState | undefined, CheckpointError>> {
  const path = join(dir, TRAIN_STATE_FILE);
  let file;
  try {
    file = await readSafetensors(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return ok(undefined);
    return err({ reason: 'unreadable', message: `${path}: ${(e as Error).message}`, path });
  }
  if (!file.ok) return err({ reason: 'bad-checkpoint', message: file.error.message, path });
  const m = file.value.metadata;
  if (m['format'] !== 'vpt-train-state') return err({ reason: 'bad-checkpoint', message: `${path}: not a training checkpoint`, path });
  const params = new Map<string, Float32Array>();
  const optimizerSlots = new Map<string, NamedTensor>();
  for (const [name, t] of file.value.tensors) {
    if (name.startsWith('param/')) params.set(name.slice(6), t.data as Float32Array);
    else if (name.startsWith('opt/')) optimizerSlots.set(name.slice(4), t);
  }
  return ok({
    epochsDone: Number(m['epochsDone']), optimizerStep: Number(m['optimizerStep']),
    rngState: JSON.parse(m['rngState'] ?? '[0,0,0,1]') as [number, number, number, number],
    history: m['history'] ?? '[]', runKey: m['runKey'] ?? '', phase: m['phase'] ?? '', params, optimizerSlots,
  });
}
