/** `data.idx`: a gzipped IDX pair per side (e.g. Fashion-MNIST from Debian's dataset-fashion-mnist) to one task. */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { defineKind, type StageContext, type StageRunResult } from '../kind.js';
import type { PixelFormat, TaskGroup, TaskMeta } from '../../io/shards.js';
import { err, ok, type Result } from '../../util/result.js';
import { dataError, DataStageError, type DataError } from './errors.js';
import { checkIdxFiles, FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, FASHION_MNIST_FILES, INSTALL_HINT } from './fashion-mnist.js';
import { readIdxPair, type IdxDataset } from './idx.js';
import { newCanvas, pasteItem, toBytes } from './mini/raster.js';
import { groupSchema, pixelFormatSchema, resolvePath, sizesSchema } from './params.js';
import { checkSizes, drawTrainVal, permutation, planVariants } from './splits.js';
import { IMAGENET_NORMALIZATION } from './tasks.js';
import { sha256File, writeMemoryTask, type MemorySplit } from './write-task.js';

export interface IdxParams {
  /** Folder holding the files (default: Debian's Fashion-MNIST folder). */
  readonly dir?: string;
  readonly trainImages?: string;
  readonly trainLabels?: string;
  readonly testImages?: string;
  readonly testLabels?: string;
  /** Task folder name. */
  readonly name?: string;
  readonly numClasses?: number;
  readonly classNames?: readonly string[];
  readonly group?: TaskGroup;
  /** Square output side; default the files' own size (28 for Fashion-MNIST). */
  readonly imageSize?: number;
  readonly channels?: 1 | 3;
  readonly normalization?: 'imagenet' | 'dataset';
  /** Test images kept (seeded subset); default all. */
  readonly testSize?: number;
  readonly sizes?: readonly number[];
  readonly oneShot?: boolean;
  readonly pixels?: PixelFormat;
  readonly seed?: number;
}

/** Resizes (bilinear, 2x2 supersampled) and replicates channels for one grayscale image. */
function prepare(ds: IdxDataset, i: number, size: number, channels: 1 | 3): Uint8Array {
  const px = ds.height * ds.width;
  let gray = ds.images.subarray(i * px, (i + 1) * px);
  if (size !== ds.width || size !== ds.height) {
    const c = newCanvas(size);
    pasteItem(c, gray, ds.width, { cx: size / 2, cy: size / 2, size, angle: 0 });
    gray = toBytes(c);
  } else {
    gray = Uint8Array.from(gray);
  }
  if (channels === 1) return gray;
  const rgb = new Uint8Array(gray.length * 3);
  for (let k = 0; k < gray.length; k++) rgb[3 * k] = rgb[3 * k + 1] = rgb[3 * k + 2] = gray[k] as number;
  return rgb;
}

export async function buildIdxTask(p: IdxParams, dir: string, outDir: string, seed: number): Promise<Result<{ meta: TaskMeta; notes: string[] }, DataError>> {
  const files = {
    trainImages: join(dir, p.trainImages ?? FASHION_MNIST_FILES.train.images),
    trainLabels: join(dir, p.trainLabels ?? FASHION_MNIST_FILES.train.labels),
    testImages: join(dir, p.testImages ?? FASHION_MNIST_FILES.test.images),
    testLabels: join(dir, p.testLabels ?? FASHION_MNIST_FILES.test.labels),
  };
  const isFashion = p.trainImages === undefined && p.testImages === undefined;
  for (const f of Object.values(files)) {
    const exists = await access(f).then(() => true, () => false);
    if (!exists) {
      return err(dataError(isFashion ? 'missing-package' : 'missing-file',
        isFashion ? `Fashion-MNIST file is missing; install it with \`${INSTALL_HINT}\`` : 'IDX file is missing', f));
    }
  }
  const train = await readIdxPair(files.trainImages, files.trainLabels);
  if (!train.ok) return train;
  const test = await readIdxPair(files.testImages, files.testLabels);
  if (!test.ok) return test;
  if (train.value.channels !== 1 || test.value.channels !== 1) return err(dataError('bad-idx', 'only single-channel IDX images are supported', files.trainImages));
  let maxLabel = 0;
  for (const l of train.value.labels) maxLabel = Math.max(maxLabel, l);
  const numClasses = p.numClasses ?? (isFashion ? 10 : maxLabel + 1);
  for (const [ds, file] of [[train.value, files.trainLabels], [test.value, files.testLabels]] as const) {
    const bad = ds.labels.findIndex((l) => l >= numClasses);
    if (bad >= 0) return err(dataError('label-out-of-range', `label ${ds.labels[bad]} of item ${bad} is outside [0, ${numClasses - 1}]`, file));
  }
  const size = p.imageSize ?? train.value.width;
  const channels = p.channels ?? 1;
  const drawn = drawTrainVal(train.value.count, 800, seed, 'train800');
  if (!drawn) return err(dataError('bad-params', `needs at least 1000 training images for train800 + val200, the file has ${train.value.count}`, files.trainImages));
  const img = (ds: IdxDataset, idx: readonly number[]): MemorySplit => ({ images: idx.map((i) => prepare(ds, i, size, channels)), labels: idx.map((i) => ds.labels[i] as number) });
  const testIdx = p.testSize === undefined || p.testSize >= test.value.count
    ? Array.from({ length: test.value.count }, (_, i) => i)
    : permutation(test.value.count, seed, 'test').slice(0, p.testSize).sort((a, b) => a - b);
  const splits = new Map<string, MemorySplit>([
    ['train800', img(train.value, drawn.train)],
    ['val200', img(train.value, drawn.val)],
    ['train800val200', img(train.value, [...drawn.train, ...drawn.val])],
    ['test', img(test.value, testIdx)],
  ]);
  const plan = planVariants(train.value.labels, numClasses, { sizes: p.sizes ?? [], oneShot: p.oneShot ?? false, seed });
  for (const [name, idx] of plan.splits) splits.set(name, img(train.value, idx));
  let normalization: TaskMeta['normalization'];
  if ((p.normalization ?? (channels === 3 ? 'imagenet' : 'dataset')) === 'imagenet') {
    normalization = channels === 3
      ? { mean: [...IMAGENET_NORMALIZATION.mean], std: [...IMAGENET_NORMALIZATION.std] }
      : { mean: [0.449], std: [0.226] }; // channel averages of the ImageNet values
  } else {
    const t = splits.get('train800') as MemorySplit;
    let sum = 0, sq = 0, n = 0;
    for (const im of t.images) for (const v of im) { sum += v / 255; sq += (v / 255) ** 2; n++; }
    const mean = Math.round((sum / n) * 1e6) / 1e6;
    const std = Math.round(Math.sqrt(Math.max(sq / n - (sum / n) ** 2, 1e-12)) * 1e6) / 1e6;
    normalization = { mean: Array(channels).fill(mean), std: Array(channels).fill(std) };
  }
  const name = p.name ?? (isFashion ? 'fashion_mnist' : 'idx');
  const digests: Record<string, string> = {};
  for (const [k, f] of Object.entries(files)) digests[k] = await sha256File(f);
  const group = p.group ?? 'natural';
  const written = await writeMemoryTask(join(outDir, name), {
    name, group, disparity: group === 'structured' ? 'high' : 'low', numClasses,
    ...(p.classNames ? { classNames: p.classNames } : isFashion ? { classNames: [...FASHION_MNIST_CLASSES] } : {}),
    imageShape: [size, size, channels], normalization,
    source: { format: 'idx', files: Object.fromEntries(Object.entries(files).map(([k, f]) => [k, { path: f, sha256: digests[k] }])), preprocessing: { resize: size === train.value.width ? 'none' : `bilinear ${size}x${size}`, channels, scale: '1/255' }, seed },
    ...(plan.notes.length > 0 ? { notes: plan.notes } : {}),
    ...(Object.keys(plan.variants).length > 0 ? { variants: plan.variants } : {}),
  }, splits, p.pixels ?? 'uint8');
  if (!written.ok) return written;
  return ok({ meta: written.value, notes: plan.notes.map((n) => `${name}: ${n}`) });
}

export const idxKind = defineKind<IdxParams>({
  name: 'data.idx',
  module: import.meta.url,
  version: 1,
  description: 'Gzipped IDX image/label files (default: Fashion-MNIST from Debian dataset-fashion-mnist) to one task with VTAB-style splits',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      dir: { type: 'string', default: FASHION_MNIST_DIR },
      trainImages: { type: 'string' }, trainLabels: { type: 'string' }, testImages: { type: 'string' }, testLabels: { type: 'string' },
      name: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$' },
      numClasses: { type: 'integer', minimum: 2 },
      classNames: { type: 'array', items: { type: 'string' } },
      group: groupSchema,
      imageSize: { type: 'integer', minimum: 8, maximum: 1024 },
      channels: { enum: [1, 3], default: 1 },
      normalization: { enum: ['imagenet', 'dataset'] },
      testSize: { type: 'integer', minimum: 1 },
      sizes: sizesSchema,
      oneShot: { type: 'boolean', default: false },
      pixels: pixelFormatSchema,
      seed: { type: 'integer' },
    },
  },
  outputs: () => ['tasks'],
  resources: { cpu: 1, memoryMiB: 1024 },
  check: (p, env) =>
    checkIdxFiles(
      p.dir === undefined ? FASHION_MNIST_DIR : resolvePath(env, p.dir),
      [p.trainImages ?? FASHION_MNIST_FILES.train.images, p.trainLabels ?? FASHION_MNIST_FILES.train.labels, p.testImages ?? FASHION_MNIST_FILES.test.images, p.testLabels ?? FASHION_MNIST_FILES.test.labels],
      // The same test as the run's: Fashion-MNIST's own file names.
      p.trainImages === undefined && p.testImages === undefined,
    ),
  async run(ctx: StageContext<IdxParams>): Promise<StageRunResult> {
    const bad = checkSizes(ctx.params.sizes ?? []);
    if (bad) throw new DataStageError(dataError('bad-params', bad));
    const dir = ctx.params.dir === undefined ? FASHION_MNIST_DIR : resolvePath(ctx, ctx.params.dir);
    const built = await buildIdxTask(ctx.params, dir, ctx.outputs['tasks'] as string, ctx.seed);
    if (!built.ok) throw new DataStageError(built.error);
    return {
      metrics: { images: Object.values(built.value.meta.splits).reduce((a, b) => a + b, 0) },
      ...(built.value.notes.length > 0 ? { notes: built.value.notes } : {}),
    };
  },
});
