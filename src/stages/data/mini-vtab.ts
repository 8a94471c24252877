/** `data.mini-vtab`: the CPU-sized suite (see mini/suite.ts) written as task shards. */
import { join } from 'node:path';
import { defineKind, type StageContext, type StageRunResult } from '../kind.js';
import type { PixelFormat, TaskMeta } from '../../io/shards.js';
import { err, ok, type Result } from '../../util/result.js';
import { dataError, DataStageError, type DataError } from './errors.js';
import { checkFashionMnist, FASHION_MNIST_DIR, FASHION_MNIST_FILES, loadFashionMnist } from './fashion-mnist.js';
import { generate, makeItemBank, MINI_TASKS, PRETRAIN_CLASSES, PRETRAIN_SPEC, taskRng, type Generated, type MiniTaskSpec } from './mini/suite.js';
import { pixelFormatSchema, resolvePath, sizesSchema } from './params.js';
import { checkSizes, planVariants } from './splits.js';
import { sha256File, writeMemoryTask, type MemorySplit } from './write-task.js';

export interface MiniVtabParams {
  readonly imageSize?: number;
  readonly testSize?: number;
  readonly pretrainTrainSize?: number;
  readonly pretrainTestSize?: number;
  /** A subset of the downstream tasks (default: all). The pretraining task is always written. */
  readonly tasks?: readonly string[];
  readonly sizes?: readonly number[];
  readonly oneShot?: boolean;
  readonly pixels?: PixelFormat;
  readonly fashionMnistDir?: string;
  readonly seed?: number;
}

/** Bump with any change to the generators: it is recorded in every task.json. */
export const MINI_GENERATOR_VERSION = 1;

export const MINI_DEFAULTS = { imageSize: 32, testSize: 500, pretrainTrainSize: 5000, pretrainTestSize: 1000 } as const;

export interface MiniBuildOptions {
  readonly outDir: string;
  readonly seed: number;
  readonly imageSize: number;
  readonly testSize: number;
  readonly pretrainTrainSize: number;
  readonly pretrainTestSize: number;
  readonly tasks: readonly MiniTaskSpec[];
  readonly sizes: readonly number[];
  readonly oneShot: boolean;
  readonly pixels: PixelFormat;
  readonly fashionMnistDir: string;
  readonly log?: (line: string) => void;
  readonly onTask?: (done: number, total: number, name: string) => void;
}

function meanStd(images: readonly Uint8Array[]): { mean: number; std: number } {
  let sum = 0;
  let sq = 0;
  let n = 0;
  for (const img of images) for (const v of img) { const x = v / 255; sum += x; sq += x * x; n++; }
  const mean = sum / n;
  return { mean, std: Math.sqrt(Math.max(sq / n - mean * mean, 1e-12)) };
}

/** Round to 6 digits so task.json stays readable and stable across platforms' float printing. */
const r6 = (x: number): number => Math.round(x * 1e6) / 1e6;

export async function buildMiniSuite(o: MiniBuildOptions): Promise<Result<{ tasks: TaskMeta[]; notes: string[] }, DataError>> {
  const fm = await loadFashionMnist(o.fashionMnistDir);
  if (!fm.ok) return fm;
  const bank = makeItemBank(fm.value.train, fm.value.test);
  const fileDigests: Record<string, string> = {};
  for (const part of [FASHION_MNIST_FILES.train, FASHION_MNIST_FILES.test]) {
    for (const name of [part.images, part.labels]) fileDigests[name] = await sha256File(join(o.fashionMnistDir, name));
  }
  const size = o.imageSize;
  const total = o.tasks.length + 1;
  const source = (extra: Record<string, unknown>): Record<string, unknown> => ({
    format: 'mini-vtab', generatorVersion: MINI_GENERATOR_VERSION, seed: o.seed, fashionMnist: fileDigests,
    preprocessing: { size, channels: 1, scale: '1/255', normalization: 'pretrain-set mean/std' }, ...extra,
  });

  // Pretraining set first: its statistics normalise every task (the mini analogue of ImageNet mean/std).
  const prng = taskRng(o.seed, 'pretrain');
  const seen = new Set<string>();
  let ptrain: Generated;
  let ptest: Generated;
  try {
    ptrain = generate(PRETRAIN_SPEC, o.pretrainTrainSize, { size, side: 'train', bank }, prng, seen);
    ptest = generate(PRETRAIN_SPEC, o.pretrainTestSize, { size, side: 'test', bank }, prng, seen);
  } catch (e) {
    // e.g. more distinct pretraining images asked for than Fashion-MNIST holds
    return err(dataError('bad-params', (e as Error).message));
  }
  const stats = meanStd(ptrain.images);
  const normalization = { mean: [r6(stats.mean)], std: [r6(stats.std)] };
  const metas: TaskMeta[] = [];
  const pre = await writeMemoryTask(join(o.outDir, 'pretrain'), {
    name: 'pretrain', group: 'natural', disparity: 'low', similarity: 'near',
    numClasses: PRETRAIN_CLASSES.length, classNames: PRETRAIN_SPEC.classNames, imageShape: [size, size, 1], normalization,
    source: source({ role: 'pretraining', fashionMnistClasses: [...PRETRAIN_CLASSES] }),
  }, new Map<string, MemorySplit>([['train', ptrain], ['test', ptest]]), o.pixels);
  if (!pre.ok) return pre;
  metas.push(pre.value);
  o.onTask?.(1, total, 'pretrain');

  const notes: string[] = [];
  for (const [k, spec] of o.tasks.entries()) {
    o.log?.(`${spec.name}: generating`);
    const rng = taskRng(o.seed, spec.name);
    const taskSeen = new Set<string>();
    const poolSize = Math.max(1000, ...o.sizes.map((s) => s + s / 4));
    let pool: Generated;
    let test: Generated;
    try {
      pool = generate(spec, [800, 200], { size, side: 'train', bank }, rng, taskSeen);
      test = generate(spec, o.testSize, { size, side: 'test', bank }, rng, taskSeen);
      if (poolSize > 1000) {
        // Drawn after the test split, so the VTAB-1k splits and the test split are the same with or without sizes.
        const extra = generate(spec, poolSize - 1000, { size, side: 'train', bank }, rng, taskSeen, { upTo: true });
        pool = { images: [...pool.images, ...extra.images], labels: [...pool.labels, ...extra.labels] };
      }
    } catch (e) {
      return err(dataError('bad-params', (e as Error).message));
    }
    const pick = (idx: readonly number[]): MemorySplit => ({ images: idx.map((i) => pool.images[i] as Uint8Array), labels: idx.map((i) => pool.labels[i] as number) });
    const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);
    const splits = new Map<string, MemorySplit>([
      ['train800', pick(range(0, 800))],
      ['val200', pick(range(800, 1000))],
      ['train800val200', pick(range(0, 1000))],
      ['test', test],
    ]);
    const plan = planVariants(pool.labels, spec.classNames.length, { sizes: o.sizes, oneShot: o.oneShot, seed: o.seed });
    for (const [name, idx] of plan.splits) splits.set(name, pick(idx));
    notes.push(...plan.notes.map((n) => `${spec.name}: ${n}`));
    const written = await writeMemoryTask(join(o.outDir, spec.name), {
      name: spec.name, group: spec.group, disparity: spec.disparity, similarity: spec.similarity,
      numClasses: spec.classNames.length, classNames: spec.classNames, imageShape: [size, size, 1], normalization,
      source: source({ standsFor: spec.standsFor, quadrant: `${spec.similarity}+${spec.disparity === 'low' ? 'classification' : 'structured'}` }),
      ...(plan.notes.length > 0 ? { notes: plan.notes } : {}),
      ...(Object.keys(plan.variants).length > 0 ? { variants: plan.variants } : {}),
    }, splits, o.pixels);
    if (!written.ok) return written;
    metas.push(written.value);
    o.onTask?.(k + 2, total, spec.name);
  }
  return ok({ tasks: metas, notes });
}

export function selectMiniTasks(names: readonly string[] | undefined): Result<MiniTaskSpec[], DataError> {
  if (!names) return ok([...MINI_TASKS]);
  const out: MiniTaskSpec[] = [];
  for (const n of names) {
    const spec = MINI_TASKS.find((t) => t.name === n);
    if (!spec) return err(dataError('unknown-task', `"${n}" is not a mini-VTAB task (${MINI_TASKS.map((t) => t.name).join(', ')})`));
    out.push(spec);
  }
  return ok(out);
}

export const miniVtabKind = defineKind<MiniVtabParams>({
  name: 'data.mini-vtab',
  module: import.meta.url,
  version: 1,
  description: 'Mini VTAB suite from Fashion-MNIST + procedural images (grayscale, 32x32 default): pretrain + 10 downstream tasks in 4 quadrants',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      imageSize: { type: 'integer', minimum: 16, maximum: 224, default: MINI_DEFAULTS.imageSize },
      testSize: { type: 'integer', minimum: 1, default: MINI_DEFAULTS.testSize },
      pretrainTrainSize: { type: 'integer', minimum: 1, default: MINI_DEFAULTS.pretrainTrainSize },
      pretrainTestSize: { type: 'integer', minimum: 1, default: MINI_DEFAULTS.pretrainTestSize },
      tasks: { type: 'array', items: { enum: MINI_TASKS.map((t) => t.name) }, minItems: 1 },
      sizes: sizesSchema,
      oneShot: { type: 'boolean', default: false },
      pixels: pixelFormatSchema,
      fashionMnistDir: { type: 'string', default: FASHION_MNIST_DIR },
      seed: { type: 'integer' },
    },
  },
  outputs: () => ['tasks'],
  resources: { cpu: 1, memoryMiB: 1024 },
  check: (p, env) => checkFashionMnist(p.fashionMnistDir === undefined ? FASHION_MNIST_DIR : resolvePath(env, p.fashionMnistDir)),
  async run(ctx: StageContext<MiniVtabParams>): Promise<StageRunResult> {
    const p = ctx.params;
    const bad = checkSizes(p.sizes ?? []);
    if (bad) throw new DataStageError(dataError('bad-params', bad));
    const tasks = selectMiniTasks(p.tasks);
    if (!tasks.ok) throw new DataStageError(tasks.error);
    const started = Date.now();
    const built = await buildMiniSuite({
      outDir: ctx.outputs['tasks'] as string,
      seed: ctx.seed,
      imageSize: p.imageSize ?? MINI_DEFAULTS.imageSize,
      testSize: p.testSize ?? MINI_DEFAULTS.testSize,
      pretrainTrainSize: p.pretrainTrainSize ?? MINI_DEFAULTS.pretrainTrainSize,
      pretrainTestSize: p.pretrainTestSize ?? MINI_DEFAULTS.pretrainTestSize,
      tasks: tasks.value,
      sizes: p.sizes ?? [],
      oneShot: p.oneShot ?? false,
      pixels: p.pixels ?? 'uint8',
      fashionMnistDir: p.fashionMnistDir === undefined ? FASHION_MNIST_DIR : resolvePath(ctx, p.fashionMnistDir),
      log: (l) => ctx.log(l),
      onTask: (done, total, name) => ctx.progress({ phase: 'generate', current: done, total, unit: 'task', message: name }),
    });
    if (!built.ok) throw new DataStageError(built.error);
    const images = built.value.tasks.reduce((a, t) => a + Object.values(t.splits).reduce((x, y) => x + y, 0), 0);
    return {
      metrics: { tasks: built.value.tasks.length, images },
      // How long it took is a circumstance of this machine: the run record, not the lock's metrics.
      environment: { generator: `mini-vtab v${MINI_GENERATOR_VERSION}`, seconds: (Date.now() - started) / 1000 },
      ...(built.value.notes.length > 0 ? { notes: built.value.notes } : {}),
    };
  },
});
