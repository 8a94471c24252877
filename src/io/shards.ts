/**
 * Task shards: the one data format between data stages and training/analysis stages, the same at
 * both scales (vtab-mini and vtab-full).
 *
 * A task is a folder:
 *   task.json               TaskMeta (class count, group, intended quadrant, image shape, normalisation, split sizes)
 *   <split>.safetensors     `images` [N,H,W,C] (U8 raw pixels, or F16/F32 already normalised) and `labels` [N] I32;
 *                           `__metadata__` = { task: JSON(TaskMeta), split, pixels: 'raw-uint8' | 'normalized' }
 * Splits: train800, val200, train800val200, test; data-size variants `size<N>-train` / `size<N>-val` /
 * `size<N>-trainval` (N train, N/4 val) and one-shot `oneshot-train` / `oneshot-val` / `oneshot-trainval`
 * (see `sizeVariantSplits`, `ONE_SHOT_SPLITS`; TaskMeta.variants lists what a task actually has).
 *
 * Large shards (a 224x224 VTAB test split is gigabytes) are written without holding the split in memory
 * (`createSplitWriter`) and read batch by batch (`openSplitReader`).
 */
import { createReadStream } from 'node:fs';
import { open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { float16BitsToFloat32, float32ToFloat16Bits, readSafetensors, readSafetensorsHeader, writeSafetensors, type NamedTensor } from './safetensors.js';
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
  /** Data-size and one-shot variants this task holds (split names); skipped ones are in `notes`. */
  readonly variants?: TaskVariants;
}

export interface VariantSplits {
  readonly train: string;
  readonly val: string;
  readonly trainval: string;
}

export interface TaskVariants {
  readonly sizes?: readonly (VariantSplits & { readonly size: number })[];
  readonly oneShot?: VariantSplits;
}

/** Split names of the data-size variant with `size` training images (and size/4 validation images). */
export function sizeVariantSplits(size: number): VariantSplits {
  return { train: `size${size}-train`, val: `size${size}-val`, trainval: `size${size}-trainval` };
}

export const ONE_SHOT_SPLITS: VariantSplits = { train: 'oneshot-train', val: 'oneshot-val', trainval: 'oneshot-trainval' };

/** How pixels are stored: raw uint8 (normalised on load, the default) or already normalised floats. */
export type PixelFormat = 'uint8' | 'float16' | 'float32';

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

/**
 * Writes one split shard. Raw uint8 pixels by default (normalisation is applied on load); `float16` /
 * `float32` store them already normalised with `meta.normalization`.
 */
export async function writeSplit(
  taskDir: string,
  split: string,
  meta: TaskMeta,
  images: Uint8Array,
  labels: Int32Array,
  options: { readonly pixels?: PixelFormat } = {},
): Promise<void> {
  const [h, w, c] = meta.imageShape;
  const format = options.pixels ?? 'uint8';
  await writeSafetensors(
    join(taskDir, `${split}.safetensors`),
    {
      images: { dtype: PIXEL_DTYPE[format], shape: [labels.length, h, w, c], data: encodePixels(images, meta, format) },
      labels: { dtype: 'I32', shape: [labels.length], data: labels },
    },
    { task: JSON.stringify(meta), split, pixels: format === 'uint8' ? 'raw-uint8' : 'normalized' },
  );
}

const PIXEL_DTYPE = { uint8: 'U8', float16: 'F16', float32: 'F32' } as const;
const PIXEL_BYTES = { uint8: 1, float16: 2, float32: 4 } as const;

/** Normalises raw HWC pixels (x/255 - mean)/std per channel, as float32. */
export function normalizeRaw(raw: Uint8Array, meta: Pick<TaskMeta, 'imageShape' | 'normalization'>): Float32Array {
  const channels = meta.imageShape[2];
  const out = new Float32Array(raw.length);
  for (let c = 0; c < channels; c++) {
    const mean = meta.normalization.mean[c] ?? 0;
    const std = meta.normalization.std[c] ?? 1;
    for (let i = c; i < raw.length; i += channels) out[i] = ((raw[i] as number) / 255 - mean) / std;
  }
  return out;
}

function encodePixels(raw: Uint8Array, meta: Pick<TaskMeta, 'imageShape' | 'normalization'>, format: PixelFormat): Uint8Array | Float32Array | Uint16Array {
  if (format === 'uint8') return raw;
  const normalized = normalizeRaw(raw, meta);
  return format === 'float32' ? normalized : float32ToFloat16Bits(normalized);
}

/**
 * Streams a split to disk image by image: pixels go to a temporary sibling as they come, and `finish`
 * (once the final TaskMeta, with its source hashes, is known) writes header + pixels + labels and renames
 * the result into place. Nothing named `<split>.safetensors` exists until `finish` succeeds.
 */
export interface SplitWriter {
  readonly split: string;
  readonly count: number;
  append(image: Uint8Array, label: number): Promise<void>;
  finish(meta: TaskMeta): Promise<void>;
  /** Removes the temporary files (after a failure). */
  abort(): Promise<void>;
}

export async function createSplitWriter(
  taskDir: string,
  split: string,
  shape: { readonly imageShape: readonly [number, number, number]; readonly normalization: TaskMeta['normalization'] },
  options: { readonly pixels?: PixelFormat } = {},
): Promise<SplitWriter> {
  const format = options.pixels ?? 'uint8';
  const [h, w, c] = shape.imageShape;
  const imageBytes = h * w * c;
  const path = join(taskDir, `${split}.safetensors`);
  const pixelTmp = `${path}.pixels-${process.pid}`;
  const finalTmp = `${path}.tmp-${process.pid}`;
  const pixelHandle: FileHandle = await open(pixelTmp, 'w');
  const labels: number[] = [];
  let closed = false;
  // Small images are batched so the file is not written 150 bytes at a time.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const chunk = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await pixelHandle.write(chunk, 0, chunk.length);
  };
  const cleanup = async (): Promise<void> => {
    if (!closed) { closed = true; await pixelHandle.close(); }
    await rm(pixelTmp, { force: true });
    await rm(finalTmp, { force: true });
  };
  return {
    split,
    get count() { return labels.length; },
    async append(image, label) {
      if (image.length !== imageBytes) throw new RangeError(`${path}: image has ${image.length} bytes, shape ${h}x${w}x${c} needs ${imageBytes}`);
      const encoded = encodePixels(image, shape, format);
      const bytes = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
      pending.push(format === 'uint8' ? Buffer.from(bytes) : bytes);
      pendingBytes += bytes.length;
      labels.push(label);
      if (pendingBytes >= 1 << 22) await flush();
    },
    async finish(meta) {
      try {
        await flush();
        closed = true;
        await pixelHandle.close();
        const n = labels.length;
        const pixelLength = n * imageBytes * PIXEL_BYTES[format];
        const header: Record<string, unknown> = {
          __metadata__: { pixels: format === 'uint8' ? 'raw-uint8' : 'normalized', split, task: JSON.stringify(meta) },
          images: { dtype: PIXEL_DTYPE[format], shape: [n, h, w, c], data_offsets: [0, pixelLength] },
          labels: { dtype: 'I32', shape: [n], data_offsets: [pixelLength, pixelLength + 4 * n] },
        };
        // Same layout as encodeSafetensors: sorted keys, header padded so data starts 8-byte aligned.
        let json = JSON.stringify(header);
        json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
        const headerBytes = Buffer.from(json, 'utf8');
        const lengthBytes = Buffer.alloc(8);
        lengthBytes.writeBigUInt64LE(BigInt(headerBytes.length));
        const out = await open(finalTmp, 'w');
        try {
          await out.write(lengthBytes);
          await out.write(headerBytes);
          for await (const chunk of createReadStream(pixelTmp, { highWaterMark: 1 << 22 })) await out.write(chunk as Buffer);
          const labelArray = Int32Array.from(labels);
          await out.write(Buffer.from(labelArray.buffer, labelArray.byteOffset, labelArray.byteLength));
        } finally {
          await out.close();
        }
        await rename(finalTmp, path);
        await rm(pixelTmp, { force: true });
      } catch (e) {
        await cleanup();
        throw e;
      }
    },
    abort: cleanup,
  };
}

export interface SplitBatch {
  /** Index of the first image of the batch within the split. */
  readonly start: number;
  readonly count: number;
  /** Normalised NHWC float32. */
  readonly images: Float32Array;
  readonly labels: Int32Array;
}

/** Batch-by-batch access to a split too large to load whole. */
export interface SplitReader {
  readonly meta: TaskMeta;
  readonly split: string;
  readonly count: number;
  readonly labels: Int32Array;
  /** Reads `count` images from `start` (clipped to the split's end). */
  read(start: number, count: number): Promise<SplitBatch>;
  batches(batchSize: number): AsyncGenerator<SplitBatch>;
  close(): Promise<void>;
}

export async function openSplitReader(taskDir: string, split: string): Promise<Result<SplitReader, ShardError>> {
  const path = join(taskDir, `${split}.safetensors`);
  let head;
  try {
    head = await readSafetensorsHeader(path);
  } catch (e) {
    return err({ reason: 'missing', message: `${path}: ${(e as Error).message}`, path });
  }
  if (!head.ok) return err({ reason: 'bad-shard', message: head.error.message, path });
  const images = head.value.header['images'] as { dtype?: string; shape?: number[]; data_offsets?: [number, number] } | undefined;
  const labelsEntry = head.value.header['labels'] as { dtype?: string; shape?: number[]; data_offsets?: [number, number] } | undefined;
  const metaText = head.value.metadata['task'];
  if (!images?.shape || !images.data_offsets || !labelsEntry?.data_offsets || labelsEntry.dtype !== 'I32' || metaText === undefined
    || (images.dtype !== 'U8' && images.dtype !== 'F16' && images.dtype !== 'F32')) {
    return err({ reason: 'bad-shard', message: `${path}: needs tensors images (U8/F16/F32) and labels (I32) and a task header`, path });
  }
  const meta = JSON.parse(metaText) as TaskMeta;
  const dtype = images.dtype;
  const bytesPer = dtype === 'U8' ? 1 : dtype === 'F16' ? 2 : 4;
  const count = images.shape[0] ?? 0;
  const perImage = images.shape.slice(1).reduce((a, b) => a * b, 1);
  const dataStart = head.value.dataStart;
  const fh = await open(path, 'r');
  const { size } = await fh.stat();
  const [labelBegin, labelEnd] = labelsEntry.data_offsets;
  if (dataStart + labelEnd > size || dataStart + images.data_offsets[1] > size || labelEnd - labelBegin !== 4 * count) {
    await fh.close();
    return err({ reason: 'bad-shard', message: `${path}: tensor data runs past the end of the file (truncated?)`, path });
  }
  const labelBuf = Buffer.alloc(labelEnd - labelBegin);
  await fh.read(labelBuf, 0, labelBuf.length, dataStart + labelBegin);
  const labels = new Int32Array(labelBuf.buffer.slice(labelBuf.byteOffset, labelBuf.byteOffset + labelBuf.length));
  const imageBegin = dataStart + images.data_offsets[0];
  const read = async (start: number, want: number): Promise<SplitBatch> => {
    const from = Math.max(0, Math.min(start, count));
    const n = Math.max(0, Math.min(want, count - from));
    const buf = new Uint8Array(n * perImage * bytesPer);
    if (buf.length > 0) await fh.read(buf, 0, buf.length, imageBegin + from * perImage * bytesPer);
    const tensor: NamedTensor = { dtype, shape: [n, ...images.shape!.slice(1)], data: dtype === 'U8' ? buf : dtype === 'F16' ? new Uint16Array(buf.buffer) : new Float32Array(buf.buffer) };
    return { start: from, count: n, images: normalizePixels(tensor, meta), labels: labels.slice(from, from + n) };
  };
  return ok({
    meta,
    split,
    count,
    labels,
    read,
    async *batches(batchSize) {
      for (let s = 0; s < count; s += batchSize) yield await read(s, batchSize);
    },
    close: () => fh.close(),
  });
}
