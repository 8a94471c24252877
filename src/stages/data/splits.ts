/**
 * The split protocol: VTAB-style train800 / val200 / train800val200 from a pool of non-test images,
 * data-size variants at a fixed 4:1 train:val ratio, and one-shot (one train + one val image per class).
 * Pure functions over label arrays returning index lists: the same seed gives the same indices.
 */
import { createRng } from '../../util/rng.js';
import { ONE_SHOT_SPLITS, sizeVariantSplits, type TaskVariants } from '../../io/shards.js';

export interface SplitPlan {
  /** Split name -> indices into the pool, in write order. */
  readonly splits: ReadonlyMap<string, readonly number[]>;
  readonly variants: TaskVariants;
  /** Skipped variants, with why. */
  readonly notes: readonly string[];
}

export interface VariantOptions {
  /** Training-set sizes (multiples of 4: val is size/4). */
  readonly sizes?: readonly number[];
  readonly oneShot?: boolean;
  readonly seed: number;
}

/** A seeded permutation of 0..n-1. */
export function permutation(n: number, seed: number, label: string): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  return createRng(seed).fork(label).shuffle(idx);
}

/**
 * `trainSize` train + `trainSize/4` val images drawn without overlap from the pool by a seeded shuffle,
 * or undefined when the pool is too small.
 */
export function drawTrainVal(poolSize: number, trainSize: number, seed: number, label: string): { train: number[]; val: number[] } | undefined {
  const valSize = trainSize / 4;
  if (trainSize + valSize > poolSize) return undefined;
  const perm = permutation(poolSize, seed, label);
  return { train: perm.slice(0, trainSize), val: perm.slice(trainSize, trainSize + valSize) };
}

/** One train and one val image per class, drawn per class with a seeded shuffle; undefined names the class short of images. */
export function drawOneShot(labels: ArrayLike<number>, numClasses: number, seed: number): { train: number[]; val: number[] } | { short: number[] } {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i] as number]?.push(i);
  const rng = createRng(seed).fork('oneshot');
  const train: number[] = [];
  const val: number[] = [];
  const short: number[] = [];
  for (let c = 0; c < numClasses; c++) {
    const members = byClass[c] as number[];
    const classRng = rng.fork(c);
    if (members.length < 2) { short.push(c); continue; }
    const picked = classRng.shuffle([...members]);
    train.push(picked[0] as number);
    val.push(picked[1] as number);
  }
  return short.length > 0 ? { short } : { train, val };
}

/**
 * Variants drawn from `poolLabels` (the non-test images). Missing images for a size or a class make a
 * note, never an error: the data-size study simply lacks that point for the task.
 */
export function planVariants(poolLabels: ArrayLike<number>, numClasses: number, options: VariantOptions): SplitPlan {
  const splits = new Map<string, number[]>();
  const notes: string[] = [];
  const sizes: (ReturnType<typeof sizeVariantSplits> & { size: number })[] = [];
  for (const size of options.sizes ?? []) {
    const drawn = drawTrainVal(poolLabels.length, size, options.seed, `size${size}`);
    if (!drawn) {
      notes.push(`data-size ${size} skipped: needs ${size + size / 4} train+val images (${size}:${size / 4}), the pool has ${poolLabels.length}`);
      continue;
    }
    const names = sizeVariantSplits(size);
    splits.set(names.train, drawn.train);
    splits.set(names.val, drawn.val);
    splits.set(names.trainval, [...drawn.train, ...drawn.val]);
    sizes.push({ size, ...names });
  }
  let oneShot: TaskVariants['oneShot'];
  if (options.oneShot) {
    const drawn = drawOneShot(poolLabels, numClasses, options.seed);
    if ('short' in drawn) {
      notes.push(`one-shot skipped: class${drawn.short.length > 1 ? 'es' : ''} ${drawn.short.join(', ')} ha${drawn.short.length > 1 ? 've' : 's'} fewer than 2 train+val images`);
    } else {
      splits.set(ONE_SHOT_SPLITS.train, drawn.train);
      splits.set(ONE_SHOT_SPLITS.val, drawn.val);
      splits.set(ONE_SHOT_SPLITS.trainval, [...drawn.train, ...drawn.val]);
      oneShot = ONE_SHOT_SPLITS;
    }
  }
  const variants: TaskVariants = { ...(sizes.length > 0 ? { sizes } : {}), ...(oneShot ? { oneShot } : {}) };
  return { splits, variants, notes };
}

/** Checks a data-size list: positive multiples of 4 (the val split is size/4). */
export function checkSizes(sizes: readonly number[]): string | undefined {
  for (const s of sizes) if (!Number.isInteger(s) || s <= 0 || s % 4 !== 0) return `data-size ${s} must be a positive multiple of 4 (train:val is 4:1)`;
  return undefined;
}
