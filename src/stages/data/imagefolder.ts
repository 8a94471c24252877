/** `data.imagefolder`: one sub-folder per class (optionally a separate test tree) to one task. */
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { defineKind, type StageContext, type StageRunResult } from '../kind.js';
import type { PixelFormat, TaskGroup } from '../../io/shards.js';
import { err, ok, type Result } from '../../util/result.js';
import type { DecodePool, ResizeKernel } from './decode.js';
import { dataError, DataStageError, type DataError } from './errors.js';
import { groupSchema, pixelFormatSchema, resolvePath, sizesSchema } from './params.js';
import { checkSizes, drawTrainVal, permutation, planVariants } from './splits.js';
import { IMAGENET_NORMALIZATION } from './tasks.js';
import { writeFileTask, type FileItem } from './write-task.js';

export interface ImageFolderParams {
  /** Folder with one sub-folder of images per class (class index = sorted folder order). */
  readonly root: string;
  /** Optional test tree with the same class folders; without it `testSize` images are held out of `root`. */
  readonly test?: string;
  readonly name: string;
  readonly group?: TaskGroup;
  readonly imageSize?: number;
  readonly channels?: 1 | 3;
  /** Held-out test images when there is no `test` tree. */
  readonly testSize?: number;
  /** Training images of the main split (val = trainSize/4); names the splits train<N>, val<N/4>, train<N>val<N/4>. */
  readonly trainSize?: number;
  readonly sizes?: readonly number[];
  readonly oneShot?: boolean;
  readonly pixels?: PixelFormat;
  readonly workers?: number;
  readonly kernel?: ResizeKernel;
  readonly seed?: number;
}

export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif']);

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Lists `root/<class>/<image>` in a stable order; classes given fixes the class order (for a test tree). */
export async function listImageFolder(root: string, classes?: readonly string[]): Promise<Result<{ classes: string[]; items: FileItem[] }, DataError>> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (e) {
    return err(dataError('bad-layout', `cannot list the image folder: ${(e as Error).message}`, root));
  }
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort(byName);
  if (dirs.length === 0) return err(dataError('bad-layout', 'expected one sub-folder per class, found none', root));
  const order = classes ? [...classes] : dirs;
  const items: FileItem[] = [];
  for (const d of dirs) {
    const label = order.indexOf(d);
    if (label < 0) return err(dataError('bad-layout', `class folder "${d}" is not one of the training classes (${order.join(', ')})`, join(root, d)));
    const files = (await readdir(join(root, d), { withFileTypes: true }))
      .filter((e) => e.isFile() && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase())).map((e) => e.name).sort(byName);
    if (files.length === 0) return err(dataError('bad-layout', 'class folder holds no images', join(root, d)));
    for (const f of files) items.push({ file: join(root, d, f), label });
  }
  return ok({ classes: order, items });
}

export async function buildImageFolderTask(p: ImageFolderParams, root: string, testRoot: string | undefined, outDir: string, seed: number, decoder: DecodePool, signal?: AbortSignal): Promise<Result<{ notes: string[]; images: number }, DataError>> {
  const listed = await listImageFolder(root);
  if (!listed.ok) return listed;
  const classes = listed.value.classes;
  let pool = listed.value.items;
  let test: FileItem[];
  if (testRoot !== undefined) {
    const t = await listImageFolder(testRoot, classes);
    if (!t.ok) return t;
    test = t.value.items;
  } else {
    const testSize = p.testSize ?? Math.min(500, Math.floor(pool.length / 5));
    const perm = permutation(pool.length, seed, 'test');
    const held = new Set(perm.slice(0, testSize));
    test = pool.filter((_, i) => held.has(i));
    pool = pool.filter((_, i) => !held.has(i));
  }
  const trainSize = p.trainSize ?? 800;
  const valSize = trainSize / 4;
  const drawn = drawTrainVal(pool.length, trainSize, seed, `train${trainSize}`);
  if (!drawn) return err(dataError('bad-layout', `needs ${trainSize + valSize} non-test images for train${trainSize} + val${valSize}, found ${pool.length}`, root));
  const splits = new Map<string, readonly number[]>([
    [`train${trainSize}`, drawn.train],
    [`val${valSize}`, drawn.val],
    [`train${trainSize}val${valSize}`, [...drawn.train, ...drawn.val]],
  ]);
  const plan = planVariants(pool.map((x) => x.label), classes.length, { sizes: p.sizes ?? [], oneShot: p.oneShot ?? false, seed });
  for (const [name, idx] of plan.splits) splits.set(name, idx);
  const size = p.imageSize ?? 224;
  const channels = p.channels ?? 3;
  const group = p.group ?? 'natural';
  const norm = channels === 3
    ? { mean: [...IMAGENET_NORMALIZATION.mean], std: [...IMAGENET_NORMALIZATION.std] }
    : { mean: [0.449], std: [0.226] };
  const written = await writeFileTask({
    taskDir: join(outDir, p.name),
    base: {
      name: p.name, group, disparity: group === 'structured' ? 'high' : 'low', numClasses: classes.length, classNames: classes,
      imageShape: [size, size, channels], normalization: norm,
      source: { format: 'imagefolder', root, ...(testRoot ? { test: testRoot } : { heldOutTest: test.length }), preprocessing: { decoder: 'sharp', resize: `${size}x${size} fill`, kernel: p.kernel ?? 'cubic', channels, scale: '1/255', normalization: channels === 3 ? 'imagenet' : 'imagenet-gray' }, seed },
      ...(plan.notes.length > 0 ? { notes: plan.notes } : {}),
      ...(Object.keys(plan.variants).length > 0 ? { variants: plan.variants } : {}),
    },
    pool,
    splits,
    test,
    image: { width: size, height: size, channels },
    pixels: p.pixels ?? 'uint8',
    ...(signal ? { signal } : {}),
  }, decoder);
  if (!written.ok) return written;
  return ok({ notes: plan.notes.map((n) => `${p.name}: ${n}`), images: Object.values(written.value.splits).reduce((a, b) => a + b, 0) });
}

export const imageFolderKind = defineKind<ImageFolderParams>({
  name: 'data.imagefolder',
  module: import.meta.url,
  version: 1,
  description: 'One sub-folder per class (plus an optional test tree) to one task with VTAB-style splits, decoded with sharp on 2 workers',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['root', 'name'],
    properties: {
      root: { type: 'string', minLength: 1 },
      test: { type: 'string', minLength: 1 },
      name: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$' },
      group: groupSchema,
      imageSize: { type: 'integer', minimum: 8, maximum: 1024, default: 224 },
      channels: { enum: [1, 3], default: 3 },
      testSize: { type: 'integer', minimum: 1 },
      trainSize: { type: 'integer', minimum: 4, multipleOf: 4, default: 800 },
      sizes: sizesSchema,
      oneShot: { type: 'boolean', default: false },
      pixels: pixelFormatSchema,
      workers: { type: 'integer', minimum: 1, maximum: 16, default: 2 },
      kernel: { enum: ['cubic', 'lanczos3', 'linear', 'nearest'], default: 'cubic' },
      seed: { type: 'integer' },
    },
  },
  outputs: () => ['tasks'],
  resources: { cpu: 2, memoryMiB: 2048 },
  async run(ctx: StageContext<ImageFolderParams>): Promise<StageRunResult> {
    const bad = checkSizes([...(ctx.params.sizes ?? []), ctx.params.trainSize ?? 800]);
    if (bad) throw new DataStageError(dataError('bad-params', bad));
    const { createDecodePool } = await import('./decode.js');
    const decoder = await createDecodePool(ctx.params.workers ?? 2, { kernel: ctx.params.kernel ?? 'cubic' });
    try {
      const built = await buildImageFolderTask(ctx.params, resolvePath(ctx, ctx.params.root), ctx.params.test === undefined ? undefined : resolvePath(ctx, ctx.params.test), ctx.outputs['tasks'] as string, ctx.seed, decoder, ctx.signal);
      if (!built.ok) throw new DataStageError(built.error);
      return {
        metrics: { images: built.value.images },
        environment: { decoder: 'sharp', workers: decoder.workers },
        ...(built.value.notes.length > 0 ? { notes: built.value.notes } : {}),
      };
    } finally {
      await decoder.close();
    }
  },
});
