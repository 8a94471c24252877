/**
 * How many images a split of a task folder holds, before or after the data stage has run.
 *
 * In order: the task's `task.json` when the folder exists (the counts the data stage wrote);
 * else the split's name when it says its size (the VTAB protocol's `train800`, `val200`,
 * `train800val200`, the data-size variants `size<N>-train|val|trainval`); else what the producing
 * data stage's params fix (`data.mini-vtab`: `testSize`, the pretraining task's
 * `pretrainTrainSize` / `pretrainTestSize`; `data.imagefolder` and `data.idx`: `testSize`); else, for the `test`
 * split of a VTAB-1k task, the size of its test set in the VTAB-1k release (table below); else
 * unknown, counted as 0 images and said so.
 */
import { readFile } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import type { StageGraph } from '../graph.js';
import { findVtabTask } from '../../stages/data/tasks.js';
import { MINI_DEFAULTS } from '../../stages/data/mini-vtab.js';
import { MINI_TASKS } from '../../stages/data/mini/suite.js';

export type SizeSource = 'task.json' | 'split-name' | 'stage-params' | 'vtab-table' | 'unknown';

export interface SplitSize {
  readonly images: number;
  readonly source: SizeSource;
  /** For `unknown`: why. */
  readonly why?: string;
}

/**
 * Test-set sizes of the 19 VTAB-1k tasks (the full test splits VTAB-1k evaluates on), as listed
 * in the VPT paper's dataset table (Jia et al., ECCV 2022, appendix). Used only while the data is
 * not on disk; not checked against a download here.
 */
export const VTAB1K_TEST_SIZES: Readonly<Record<string, number>> = {
  cifar100: 10_000,
  caltech101: 6_084,
  dtd: 1_880,
  oxford_flowers102: 6_149,
  oxford_iiit_pet: 3_669,
  svhn: 26_032,
  sun397: 21_750,
  patch_camelyon: 32_768,
  eurosat: 5_400,
  resisc45: 6_300,
  diabetic_retinopathy: 42_670,
  clevr_count: 15_000,
  clevr_dist: 15_000,
  dmlab: 22_735,
  kitti: 711,
  dsprites_loc: 73_728,
  dsprites_ori: 73_728,
  smallnorb_azi: 12_150,
  smallnorb_ele: 12_150,
};

/** The size a split's name states: train800 = 800, val200 = 200, train800val200 = 1000, size400-val = 100. */
export function sizeFromSplitName(split: string): number | undefined {
  const trainVal = /^train(\d+)val(\d+)$/.exec(split);
  if (trainVal) return Number(trainVal[1]) + Number(trainVal[2]);
  const single = /^(?:train|val)(\d+)$/.exec(split);
  if (single) return Number(single[1]);
  const variant = /^size(\d+)-(train|val|trainval)$/.exec(split);
  if (variant) {
    const n = Number(variant[1]);
    return variant[2] === 'train' ? n : variant[2] === 'val' ? n / 4 : n + n / 4;
  }
  return undefined;
}

interface TaskJson {
  readonly splits?: Readonly<Record<string, number>>;
  readonly numClasses?: number;
}

/** Looks split sizes up for the stages of one pipeline, reading each task.json once. */
export class SplitSizes {
  readonly #taskJson = new Map<string, Promise<TaskJson | undefined>>();

  constructor(
    private readonly workspace: string,
    private readonly graph: StageGraph,
  ) {}

  async size(dataPath: string, split: string): Promise<SplitSize> {
    const meta = await this.#readTaskJson(dataPath);
    if (meta) {
      const n = meta.splits?.[split];
      return typeof n === 'number' ? { images: n, source: 'task.json' } : { images: 0, source: 'unknown', why: `${dataPath}/task.json has no split ${split}` };
    }
    const named = sizeFromSplitName(split);
    if (named !== undefined) return { images: named, source: 'split-name' };
    const producer = this.#producer(dataPath);
    const task = producer?.task ?? basename(dataPath);
    if (producer) {
      const fromParams = sizeFromProducer(producer.kind, producer.params, task, split);
      if (fromParams !== undefined) return fromParams;
    }
    const vtab = findVtabTask(task);
    if (split === 'test' && vtab && (producer === undefined || producer.kind === 'data.vtab1k')) {
      const n = VTAB1K_TEST_SIZES[vtab.name];
      if (n !== undefined) return { images: n, source: 'vtab-table' };
    }
    return { images: 0, source: 'unknown', why: `the size of split ${split} of ${dataPath} is known only once the data exists` };
  }

  async #readTaskJson(dataPath: string): Promise<TaskJson | undefined> {
    let cached = this.#taskJson.get(dataPath);
    if (!cached) {
      cached = readFile(join(this.workspace, dataPath, 'task.json'), 'utf8').then(
        (text) => JSON.parse(text) as TaskJson,
        () => undefined,
      );
      this.#taskJson.set(dataPath, cached);
    }
    return cached;
  }

  /** The built-in stage whose output folder holds `dataPath`, and the task's path inside it. */
  #producer(dataPath: string): { kind: string; params: Readonly<Record<string, unknown>>; task: string } | undefined {
    for (const [path, { stage }] of this.graph.producers) {
      if (dataPath !== path && !dataPath.startsWith(`${path}/`)) continue;
      const s = this.graph.stage(stage);
      if (s.type !== 'builtin') return undefined;
      const inside = relative(path, dataPath).split(sep).join('/');
      return { kind: s.uses, params: s.with, task: inside === '' ? basename(dataPath) : inside };
    }
    return undefined;
  }
}

const FASHION_MNIST_TEST_IMAGES = 10_000;

const positive = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);

function sizeFromProducer(kind: string, params: Readonly<Record<string, unknown>>, task: string, split: string): SplitSize | undefined {
  const fixed = (n: number | undefined): SplitSize | undefined => (n === undefined ? undefined : { images: n, source: 'stage-params' });
  // One-shot splits hold one image per class (two for trainval), when the stage made them.
  const oneShot = /^oneshot-(train|val|trainval)$/.exec(split)?.[1];
  if (oneShot !== undefined && params['oneShot'] === true) {
    const classes = kind === 'data.vtab1k' ? findVtabTask(task)?.numClasses : kind === 'data.mini-vtab' ? MINI_TASKS.find((t) => t.name === task)?.classNames.length : undefined;
    return fixed(classes === undefined ? undefined : oneShot === 'trainval' ? 2 * classes : classes);
  }
  switch (kind) {
    case 'data.mini-vtab':
      if (task === 'pretrain') {
        if (split === 'train') return fixed(positive(params['pretrainTrainSize']) ?? MINI_DEFAULTS.pretrainTrainSize);
        if (split === 'test') return fixed(positive(params['pretrainTestSize']) ?? MINI_DEFAULTS.pretrainTestSize);
        return undefined;
      }
      return split === 'test' ? fixed(positive(params['testSize']) ?? MINI_DEFAULTS.testSize) : undefined;
    case 'data.imagefolder':
      return split === 'test' && params['test'] === undefined ? fixed(positive(params['testSize'])) : undefined;
    case 'data.idx':
      // testSize keeps that many of the file's test images (all when the file has fewer); without
      // files named, the files are Fashion-MNIST's, whose test set has 10,000 images.
      if (split !== 'test') return undefined;
      return fixed(positive(params['testSize']) ?? (params['testImages'] === undefined ? FASHION_MNIST_TEST_IMAGES : undefined));
    default:
      return undefined;
  }
}
