/**
 * Task shards: the one data format between data stages and training/analysis stages, the same at
 * both scales (vtab-mini and vtab-full).
 *
 * A task is a folder:
 *   task.json               TaskMeta (class count, group, intended quadrant, image shape, normalisation, split sizes)
 *   <split>.safetensors     `images` [N,H,W,C] (U8 raw pixels, or F16/F32 already normalised) and `labels` [N] I32;
 *                           `__metadata__` = { task: JSON(TaskMeta), split, pixels: 'raw-uint8' | 'normalized' }
 * Splits: train800, val200, train800val200, test (and data-size / one-shot variants, named by the data stage).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { float16BitsToFloat32, readSafetensors, writeSafetensors, type NamedTensor } from './safetensors.js';
import { err, ok, type Result } from '../util/result.js';

export type TaskGroup = 'natural' | 'specialized' | 'structured';

export interface TaskMeta {
  readonly name: string;
  readonly group: TaskGroup;
  /** Natural/Specialized = low disparity (classification like pretraining), Structured = high. */
  readonly disparity: 'low' | 'high';
  /** Intended data similarity to the pretraining data, where the suite designs it (mini); measured by FID. */
  readonly similarity?: 'near' | 'far';
  readonly numClasses: number;
  readonly classNames?: readonly string[];
  /** [H, W, C] */
  readonly imageShape: readonly [number, number, number];
  /** Per-channel, applied as (x/255 - mean) / std. */
  readonly normalization: { readonly mean: readonly number[]; readonly std: readonly number[] };
  readonly splits: Readonly<Record<string, number>>;
  /** Free-form provenance: source paths and hashes, preprocessing, seed. */
  readonly source?: Readonly<Record<string, unknown>>;
  readonly notes?: readonly string[];
}

export interface SplitData {
  readonly meta: TaskMeta;
  readonly split: string;
  readonly count: number;
  /** Normalised NHWC float32. */
  readonly images: Float32Array;
  readonly labels: Int32Array;
}

export type ShardError = { readonly reason: 'missing' | 'bad-shard'; readonly message: string; readonly path: string };

export async function readTaskMeta(taskDir: string): Promise<Result<TaskMeta, ShardError>> {
  const path = join(taskDir, 'task.json');
  try {
    return ok(JSON.parse(await readFile(path, 'utf8')) as TaskMeta);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return err({ reason: code === 'ENOENT' ? 'missing' : 'bad-shard', message: `${path}: ${(e as Error).message}`, path });
  }
}

/** Loads a whole split into memory, normalised. */
export async function loadSplit(taskDir: string, split: string): Promise<Result<SplitData, ShardError>> {
  const path = join(taskDir, `${split}.safetensors`);
  let file;
  try {
    file = await readSafetensors(path);
  } catch (e) {
    return err({ reason: 'missing', message: `${path}: ${(e as Error).message}`, path });
  }
  if (!file.ok) return err({ reason: 'bad-shard', message: file.error.message, path });
  const images = file.value.tensors.get('images');
  const labels = file.value.tensors.get('labels');
  const metaText = file.value.metadata['task'];
  if (!images || !labels || labels.dtype !== 'I32' || metaText === undefined) {
    return err({ reason: 'bad-shard', message: `${path}: needs tensors images and labels (I32) and a task header`, path });
  }
  const meta = JSON.parse(metaText) as TaskMeta;
  const count = labels.shape[0] ?? 0;
  return ok({ meta, split, count, images: normalizePixels(images, meta), labels: labels.data as Int32Array });
}

function normalizePixels(images: NamedTensor, meta: TaskMeta): Float32Array {
  if (images.dtype === 'F32') return images.data as Float32Array;
  if (images.dtype === 'F16') return float16BitsToFloat32(images.data as Uint16Array);
  const raw = images.data as Uint8Array;
  const channels = meta.imageShape[2];
  const scale = meta.normalization.std.map((s) => 1 / (255 * s));
  const shift = meta.normalization.mean.map((m, c) => -m / (meta.normalization.std[c] as number));
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const c = i % channels;
    out[i] = (raw[i] as number) * (scale[c] as number) + (shift[c] as number);
  }
  return out;
}

/** Writes one split shard with raw uint8 pixels (normalisation is applied on load). */
export async function writeSplit(taskDir: string, split: string, meta: TaskMeta, images: Uint8Array, labels: Int32Array): Promise<void> {
  const [h, w, c] = meta.imageShape;
  await writeSafetensors(
    join(taskDir, `${split}.safetensors`),
    {
      images: { dtype: 'U8', shape: [labels.length, h, w, c], data: images },
      labels: { dtype: 'I32', shape: [labels.length], data: labels },
    },
    { task: JSON.stringify(meta), split, pixels: 'raw-uint8' },
  );
}
