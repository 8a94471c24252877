/**
 * A stand-in for everything pipelines/vtab-full.yaml reads from disk, small enough to run the whole
 * study on a 2-core CPU in a test (test/vtab-full-standin.test.ts, docs/vtab-full.md "Smoke run on a
 * stand-in"):
 *
 * - `vtab-1k/`: the 19 tasks the yaml's `params.tasks` names, in the VTAB-1k release layout that
 *   `data.vtab1k` reads (NOAH's: `images/<split>/<i:06d>.jpg` and `<split>.txt` lists of
 *   `images/<split>/<file> <label>` lines for train800, val200, train800val200 and test; only the
 *   file names are the release's, each split holds a handful of 16x16 images);
 * - a ViT `.npz` in the google-research ViT-B/16 naming (`src/ml/vitNpz.ts`), random weights, for a
 *   tiny config given as train.vit's `model` param (a preset plus overrides);
 * - `inception/`: a TensorFlow.js graph model in the converter's format standing in for Inception-v3:
 *   images [B, S, S, 3] -> 1x1 Conv2D (3 -> width) -> Relu -> spatial Mean -> [B, width];
 * - `imagenet/`: class sub-folders of images, the FID reference for `data.imagefolder`.
 *
 * `standinOverrides` gives the `--set` arguments that point the pipeline at it and shrink every size.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { loadPipeline } from '../../src/dsl/index.js';
import { builtinKinds } from '../../src/stages/index.js';
import { encodeNpz, type NpyArray } from '../../src/ml/npz.js';
import { npzLayout } from '../../src/ml/vitNpz.js';
import { resolveModelConfig, type ModelParam } from '../../src/stages/train/common.js';
import { findVtabTask } from '../../src/stages/data/tasks.js';
import { createRng, type Rng } from '../../src/util/rng.js';
import { writeTinyGraphModel } from './graph-model.js';

export interface StandinOptions {
  /** Side of every image (tasks and reference) and the model's imageSize. */
  readonly imageSize: number;
  /** Images per split of every task. */
  readonly split: { readonly train800: number; readonly val200: number; readonly test: number };
  /** train.vit's `model`: the backbone the checkpoint is written for. */
  readonly model: Exclude<ModelParam, string>;
  /** The FID network's input side and feature width. */
  readonly inception: { readonly inputSize: number; readonly width: number };
  /** FID reference: classes x images per class; `trainSize` (a multiple of 4) of them form train<N>, N/4 val<N/4>. */
  readonly reference: { readonly classes: number; readonly perClass: number; readonly trainSize: number };
  readonly seed: number;
}

export const STANDIN_DEFAULTS: StandinOptions = {
  imageSize: 16,
  split: { train800: 4, val200: 2, test: 8 },
  model: { preset: 'vit-b16', imageSize: 16, patchSize: 8, width: 16, depth: 1, heads: 2, mlpRatio: 1 },
  inception: { inputSize: 8, width: 8 },
  // 30 images: data.imagefolder holds out a fifth (6) as test, train16 + val4 come from the other 24.
  reference: { classes: 3, perClass: 10, trainSize: 16 },
  seed: 13,
};

export interface Standin {
  /** Folder holding the four parts (inside the workspace). */
  readonly dir: string;
  /** Workspace-relative paths of the four things the pipeline's params name. */
  readonly paths: { readonly vtabRoot: string; readonly checkpoint: string; readonly inception: string; readonly fidReference: string };
  readonly tasks: readonly string[];
  readonly options: StandinOptions;
}

/** The task list of a vtab-full-style pipeline (`params.tasks`, wherever its params files set it). */
export async function pipelineTasks(pipelineFile: string): Promise<string[]> {
  const loaded = await loadPipeline(pipelineFile, { kinds: builtinKinds() });
  if (!loaded.ok) throw new Error(`${pipelineFile}: ${loaded.error.map((d) => d.message).join('; ')}`);
  const tasks = loaded.value.params['tasks'];
  if (!Array.isArray(tasks) || !tasks.every((t): t is string => typeof t === 'string')) throw new Error(`${pipelineFile}: params.tasks is not a list of names`);
  return tasks;
}

/** Writes the stand-in under `<workspace>/<sub>` for the given tasks (VTAB-1k names). */
export async function makeVtabStandin(workspace: string, tasks: readonly string[], options: StandinOptions = STANDIN_DEFAULTS, sub = 'standin'): Promise<Standin> {
  const dir = join(workspace, sub);
  const rng = createRng(options.seed);
  const vtabRoot = join(dir, 'vtab-1k');
  for (const name of tasks) {
    const task = findVtabTask(name);
    if (!task) throw new Error(`${name}: not a VTAB-1k task`);
    await writeVtabTask(join(vtabRoot, name), task.numClasses, options, rng.fork(name));
  }
  const checkpoint = join(dir, 'ViT-tiny_16.npz');
  await writeFile(checkpoint, encodeNpz(vitNpzArrays(options.model, rng.fork('npz'))));
  const inception = join(dir, 'inception', 'model.json');
  await writeGraphModel(inception, options.inception.inputSize, options.inception.width, rng.fork('inception'));
  const fidReference = join(dir, 'imagenet');
  await writeImageFolder(fidReference, options, rng.fork('imagenet'));
  const rel = (p: string): string => relative(workspace, p);
  return { dir, paths: { vtabRoot: rel(vtabRoot), checkpoint: rel(checkpoint), inception: rel(inception), fidReference: rel(fidReference) }, tasks, options };
}

/**
 * `--set` arguments that run pipelines/vtab-full.yaml on the stand-in at the smallest scale: 1 epoch
 * without warmup, one grid point per method (VPT lr 0.25, FT lr 0.001, wd 0.001), one seed (42), the
 * tiny backbone, 2-epoch ablations (FT-then-PT: 1 epoch of FT), 2 attributed images with 4 IG steps.
 * `--set` (not a params file) so that a param renamed in the pipeline fails loudly here.
 */
export function standinOverrides(s: Standin): string[] {
  const o = s.options;
  const flow = (v: unknown): string => JSON.stringify(v);
  return [
    `vtab_root=${s.paths.vtabRoot}`,
    `checkpoint=${s.paths.checkpoint}`,
    `inception=${s.paths.inception}`,
    `fid_reference=${s.paths.fidReference}`,
    `model=${flow(o.model)}`,
    `image_size=${o.imageSize}`,
    `inception_input_size=${flow([o.inception.inputSize, o.inception.inputSize])}`,
    `inception_width=${o.inception.width}`,
    `fid_reference_split=${flow({ train: o.reference.trainSize, val: o.reference.trainSize / 4 })}`,
    'seeds=[42]',
    // No warmup: with 1 epoch, a warmup would keep the learning rate at 0 throughout.
    'train.epochs=1',
    'train.vpt-deep.warmup=0',
    'train.ft.warmup=0',
    'grid.lr=[0.25, 0.001]',
    'grid.wd=[0.001]',
    'ablation.epochs=2',
    // The linear probe is left out here: 19 more stages, and it trains like the others.
    'ablation.methods=[mixed, ft-then-pt]',
    'ablation.ft={ epochs: 1, warmup: 0, baseLr: 0.001, weightDecay: 0.0001 }',
    'attribution.limit=2',
    'attribution.igSteps=4',
  ];
}

/** Random RGB noise tinted by the label, so classes differ a little. */
function image(size: number, label: number, classes: number, rng: Rng): Buffer {
  const px = Buffer.alloc(size * size * 3);
  const hue = (label * 997) / Math.max(1, classes);
  const tint = [Math.sin(hue), Math.sin(hue + 2.1), Math.sin(hue + 4.2)].map((v) => 128 + 80 * v);
  for (let i = 0; i < size * size; i++) {
    for (let c = 0; c < 3; c++) px[i * 3 + c] = Math.max(0, Math.min(255, Math.round((tint[c] as number) + 60 * (rng.next() - 0.5))));
  }
  return px;
}

async function writeImage(file: string, pixels: Buffer, size: number, format: 'jpeg' | 'png'): Promise<void> {
  const img = sharp(pixels, { raw: { width: size, height: size, channels: 3 } });
  await writeFile(file, format === 'jpeg' ? await img.jpeg({ quality: 95 }).toBuffer() : await img.png().toBuffer());
}

/** One task folder as NOAH's get_vtab1k.py writes it (train800val200's images are files of their own). */
async function writeVtabTask(taskDir: string, numClasses: number, o: StandinOptions, rng: Rng): Promise<void> {
  const lines = async (split: string, n: number, offset: number): Promise<string[]> => {
    await mkdir(join(taskDir, 'images', split), { recursive: true });
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const label = (offset + i) % numClasses;
      const rel = `images/${split}/${String(i).padStart(6, '0')}.jpg`;
      await writeImage(join(taskDir, rel), image(o.imageSize, label, numClasses, rng), o.imageSize, 'jpeg');
      out.push(`${rel} ${label}`);
    }
    return out;
  };
  const { train800, val200, test } = o.split;
  const text = (l: readonly string[]): string => `${l.join('\n')}\n`;
  await writeFile(join(taskDir, 'train800.txt'), text(await lines('train800', train800, 0)));
  await writeFile(join(taskDir, 'val200.txt'), text(await lines('val200', val200, train800)));
  await writeFile(join(taskDir, 'train800val200.txt'), text(await lines('train800val200', train800 + val200, 0)));
  await writeFile(join(taskDir, 'test.txt'), text(await lines('test', test, 0)));
}

/** Random backbone arrays for `model` in the npz naming, plus the pre_logits/head arrays the public file carries. */
export function vitNpzArrays(model: ModelParam, rng: Rng): Map<string, NpyArray> {
  const cfg = resolveModelConfig(model);
  const arrays = new Map<string, NpyArray>();
  for (const row of npzLayout(cfg)) {
    const n = row.shape.reduce((a, b) => a * b, 1);
    const scale = row.npz.endsWith('/scale') ? undefined : 0.2;
    arrays.set(row.npz, { dtype: 'f4', shape: row.shape, data: Float32Array.from({ length: n }, () => (scale === undefined ? 1 : scale * rng.normal())) });
  }
  arrays.set('pre_logits/kernel', { dtype: 'f4', shape: [cfg.width, cfg.width], data: new Float32Array(cfg.width * cfg.width) });
  arrays.set('pre_logits/bias', { dtype: 'f4', shape: [cfg.width], data: new Float32Array(cfg.width) });
  arrays.set('head/kernel', { dtype: 'f4', shape: [cfg.width, 5], data: new Float32Array(cfg.width * 5) });
  arrays.set('head/bias', { dtype: 'f4', shape: [5], data: new Float32Array(5) });
  return arrays;
}

/** A converter-format graph model with input `images` [-1, size, size, 3] and output `pool` [-1, width]. */
export async function writeGraphModel(modelJson: string, size: number, width: number, rng: Rng): Promise<void> {
  writeTinyGraphModel(modelJson, { size, width, filter: Float32Array.from({ length: 3 * width }, () => rng.normal()) });
}

/** `<root>/n0000000k/ILSVRC2012_val_*.png`: the FID reference in data.imagefolder's layout. */
async function writeImageFolder(root: string, o: StandinOptions, rng: Rng): Promise<void> {
  const { classes, perClass } = o.reference;
  for (let c = 0; c < classes; c++) {
    const dir = join(root, `n${String(c).padStart(8, '0')}`);
    await mkdir(dir, { recursive: true });
    for (let i = 0; i < perClass; i++) {
      await writeImage(join(dir, `ILSVRC2012_val_${String(c * perClass + i).padStart(8, '0')}.png`), image(o.imageSize, c, classes, rng), o.imageSize, 'png');
    }
  }
}
