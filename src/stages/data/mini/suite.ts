/**
 * The mini-VTAB suite: a Fashion-MNIST "pretraining" set (5 classes, standing in for ImageNet) and
 * downstream tasks in the four quadrants of (disparity low/high) x (similarity near/far):
 *
 *   near + classification  fmnist_heldout, fmnist_heldout_shift        (the 5 held-out Fashion-MNIST classes)
 *   near + structured      fmnist_count, fmnist_location, fmnist_rotation (Clevr/count, dSprites/loc, smallNORB/azim)
 *   far  + classification  shapes, textures                           (dSprites-like shapes, DTD-like textures)
 *   far  + structured      shapes_location, shapes_orientation, shapes_count
 *
 * Everything is drawn from one seed; each task has its own generator forked from the seed by name, so a
 * task's bytes do not depend on which other tasks are built. Within a task no image repeats across
 * train, val and test (duplicates are redrawn), and train/val items come from Fashion-MNIST's train set
 * while test items come from its test set.
 */
import { createHash } from 'node:crypto';
import type { TaskGroup } from '../../../io/shards.js';
import { createRng, type Rng } from '../../../util/rng.js';
import type { IdxDataset } from '../idx.js';
import { FASHION_MNIST_CLASSES } from '../fashion-mnist.js';
import { drawShape, fillField, newCanvas, pasteItem, toBytes, type Canvas } from './raster.js';
import { ARROW, SHAPE_NAMES, SHAPES, TEXTURE_NAMES, textureField } from './shapes.js';

/** Fashion-MNIST classes used for pretraining (t-shirt, trouser, dress, sandal, bag). */
export const PRETRAIN_CLASSES = [0, 1, 3, 5, 8] as const;
/** The held-out classes (pullover, coat, shirt, sneaker, ankle boot). */
export const HELDOUT_CLASSES = [2, 4, 6, 7, 9] as const;

export type Side = 'train' | 'test';

/** Fashion-MNIST items by class, for each side. */
export interface ItemBank {
  readonly side: Record<Side, { readonly data: IdxDataset; readonly byClass: readonly (readonly number[])[] }>;
}

export function makeItemBank(train: IdxDataset, test: IdxDataset): ItemBank {
  const index = (d: IdxDataset): number[][] => {
    const byClass: number[][] = Array.from({ length: 10 }, () => []);
    for (let i = 0; i < d.count; i++) byClass[d.labels[i] as number]?.push(i);
    return byClass;
  };
  return { side: { train: { data: train, byClass: index(train) }, test: { data: test, byClass: index(test) } } };
}

function itemImage(bank: ItemBank, side: Side, fmnistClass: number, rng: Rng): Uint8Array {
  const s = bank.side[side];
  const members = s.byClass[fmnistClass] as readonly number[];
  const i = members[rng.int(members.length)] as number;
  const px = s.data.height * s.data.width;
  return s.data.images.subarray(i * px, (i + 1) * px);
}

export interface RenderContext {
  readonly size: number;
  readonly side: Side;
  readonly rng: Rng;
  readonly bank: ItemBank;
}

export interface MiniTaskSpec {
  readonly name: string;
  readonly group: TaskGroup;
  readonly disparity: 'low' | 'high';
  readonly similarity: 'near' | 'far';
  /** The VTAB-1k task(s) it stands in for. */
  readonly standsFor: string;
  readonly classNames: readonly string[];
  render(label: number, ctx: RenderContext): Uint8Array;
}

const uniform = (rng: Rng, a: number, b: number): number => a + (b - a) * rng.next();
const DEG = Math.PI / 180;

/** Centres for n items of side `item` inside the canvas, at least `gap` apart (rejection sampling). */
function scatter(n: number, item: number, size: number, gap: number, rng: Rng): { cx: number; cy: number }[] {
  for (let attempt = 0; attempt < 200; attempt++) {
    const pts: { cx: number; cy: number }[] = [];
    for (let k = 0; k < n && pts.length === k; k++) {
      for (let t = 0; t < 50; t++) {
        const p = { cx: uniform(rng, item / 2, size - item / 2), cy: uniform(rng, item / 2, size - item / 2) };
        if (pts.every((q) => Math.hypot(q.cx - p.cx, q.cy - p.cy) >= gap)) { pts.push(p); break; }
      }
    }
    if (pts.length === n) return pts;
  }
  throw new Error(`cannot place ${n} items of ${item}px on a ${size}px canvas`);
}

function fmnistSide(bank: ItemBank): number {
  return bank.side.train.data.width;
}

function randomShape(rng: Rng): (typeof SHAPES)[string] {
  return SHAPES[SHAPE_NAMES[rng.int(SHAPE_NAMES.length)] as string] as (typeof SHAPES)[string];
}

function finish(c: Canvas): Uint8Array {
  return toBytes(c);
}

export const MINI_TASKS: readonly MiniTaskSpec[] = [
  {
    name: 'fmnist_heldout', group: 'natural', disparity: 'low', similarity: 'near', standsFor: 'natural classification (e.g. CIFAR-100)',
    classNames: HELDOUT_CLASSES.map((c) => FASHION_MNIST_CLASSES[c] as string),
    render(label, { size, side, rng, bank }) {
      const c = newCanvas(size);
      pasteItem(c, itemImage(bank, side, HELDOUT_CLASSES[label] as number, rng), fmnistSide(bank), { cx: size / 2, cy: size / 2, size, angle: 0 });
      return finish(c);
    },
  },
  {
    name: 'fmnist_heldout_shift', group: 'natural', disparity: 'low', similarity: 'near', standsFor: 'natural classification with pose variation (e.g. Pets)',
    classNames: HELDOUT_CLASSES.map((c) => FASHION_MNIST_CLASSES[c] as string),
    render(label, { size, side, rng, bank }) {
      const c = newCanvas(size);
      const s = size * uniform(rng, 0.6, 0.8);
      pasteItem(c, itemImage(bank, side, HELDOUT_CLASSES[label] as number, rng), fmnistSide(bank), {
        cx: uniform(rng, s / 2, size - s / 2), cy: uniform(rng, s / 2, size - s / 2), size: s, angle: uniform(rng, -15, 15) * DEG,
      });
      return finish(c);
    },
  },
  {
    name: 'fmnist_count', group: 'structured', disparity: 'high', similarity: 'near', standsFor: 'Clevr/count',
    classNames: ['1', '2', '3', '4'],
    render(label, { size, side, rng, bank }) {
      const c = newCanvas(size);
      const s = size * 0.38;
      for (const p of scatter(label + 1, s, size, s * 0.75, rng)) {
        pasteItem(c, itemImage(bank, side, PRETRAIN_CLASSES[rng.int(PRETRAIN_CLASSES.length)] as number, rng), fmnistSide(bank), { ...p, size: s, angle: uniform(rng, -20, 20) * DEG });
      }
      return finish(c);
    },
  },
  {
    name: 'fmnist_location', group: 'structured', disparity: 'high', similarity: 'near', standsFor: 'dSprites/location',
    classNames: ['top-left', 'top', 'top-right', 'left', 'centre', 'right', 'bottom-left', 'bottom', 'bottom-right'],
    render(label, { size, side, rng, bank }) {
      const c = newCanvas(size);
      const cell = size / 3;
      const s = size * 0.36;
      pasteItem(c, itemImage(bank, side, PRETRAIN_CLASSES[rng.int(PRETRAIN_CLASSES.length)] as number, rng), fmnistSide(bank), {
        cx: ((label % 3) + 0.5 + uniform(rng, -0.2, 0.2)) * cell, cy: (Math.floor(label / 3) + 0.5 + uniform(rng, -0.2, 0.2)) * cell, size: s, angle: uniform(rng, -10, 10) * DEG,
      });
      return finish(c);
    },
  },
  {
    name: 'fmnist_rotation', group: 'structured', disparity: 'high', similarity: 'near', standsFor: 'smallNORB/azimuth',
    classNames: Array.from({ length: 8 }, (_, k) => `${k * 45}deg`),
    render(label, { size, side, rng, bank }) {
      const c = newCanvas(size);
      pasteItem(c, itemImage(bank, side, PRETRAIN_CLASSES[rng.int(PRETRAIN_CLASSES.length)] as number, rng), fmnistSide(bank), {
        cx: size / 2, cy: size / 2, size: size * 0.85, angle: (label * 45 + uniform(rng, -10, 10)) * DEG,
      });
      return finish(c);
    },
  },
  {
    name: 'shapes', group: 'specialized', disparity: 'low', similarity: 'far', standsFor: 'far-domain classification (dSprites-like shapes)',
    classNames: SHAPE_NAMES,
    render(label, { size, rng }) {
      const c = newCanvas(size);
      const s = size * uniform(rng, 0.4, 0.65);
      drawShape(c, SHAPES[SHAPE_NAMES[label] as string] as (typeof SHAPES)[string], {
        cx: uniform(rng, s / 2, size - s / 2), cy: uniform(rng, s / 2, size - s / 2), size: s, angle: rng.next() * 2 * Math.PI,
      }, uniform(rng, 0.6, 1));
      return finish(c);
    },
  },
  {
    name: 'textures', group: 'natural', disparity: 'low', similarity: 'far', standsFor: 'DTD',
    classNames: [...TEXTURE_NAMES],
    render(label, { size, rng }) {
      const c = newCanvas(size);
      fillField(c, textureField(TEXTURE_NAMES[label] as (typeof TEXTURE_NAMES)[number], size, rng));
      return finish(c);
    },
  },
  {
    name: 'shapes_location', group: 'structured', disparity: 'high', similarity: 'far', standsFor: 'dSprites/location (x position)',
    classNames: Array.from({ length: 6 }, (_, k) => `x${k}`),
    render(label, { size, rng }) {
      const c = newCanvas(size);
      const s = size * 0.3;
      const span = size - s;
      drawShape(c, randomShape(rng), {
        cx: s / 2 + ((label + uniform(rng, 0.1, 0.9)) * span) / 6, cy: uniform(rng, s / 2, size - s / 2), size: s, angle: rng.next() * 2 * Math.PI,
      }, uniform(rng, 0.6, 1));
      return finish(c);
    },
  },
  {
    name: 'shapes_orientation', group: 'structured', disparity: 'high', similarity: 'far', standsFor: 'dSprites/orientation',
    classNames: Array.from({ length: 8 }, (_, k) => `${k * 45}deg`),
    render(label, { size, rng }) {
      const c = newCanvas(size);
      const s = size * uniform(rng, 0.55, 0.75);
      drawShape(c, ARROW, {
        cx: size / 2 + uniform(rng, -0.1, 0.1) * size, cy: size / 2 + uniform(rng, -0.1, 0.1) * size, size: s, angle: (label * 45 + uniform(rng, -10, 10)) * DEG,
      }, uniform(rng, 0.6, 1));
      return finish(c);
    },
  },
  {
    name: 'shapes_count', group: 'structured', disparity: 'high', similarity: 'far', standsFor: 'Clevr/count',
    classNames: ['1', '2', '3', '4'],
    render(label, { size, rng }) {
      const c = newCanvas(size);
      const s = size * 0.28;
      for (const p of scatter(label + 1, s, size, s * 1.05, rng)) drawShape(c, randomShape(rng), { ...p, size: s, angle: rng.next() * 2 * Math.PI }, uniform(rng, 0.6, 1));
      return finish(c);
    },
  },
];

/** n labels, each block of numClasses a fresh shuffle of all classes: balanced to within one image. */
export function balancedLabels(n: number, numClasses: number, rng: Rng): number[] {
  const out: number[] = [];
  while (out.length < n) out.push(...rng.shuffle(Array.from({ length: numClasses }, (_, k) => k)));
  return out.slice(0, n);
}

export interface Generated {
  readonly images: Uint8Array[];
  readonly labels: number[];
}

/**
 * Images for balanced label blocks (each block balanced on its own, e.g. [800, 200] so that both
 * train800 and val200 are), each unseen in `seen` (the task's images so far). A repeat is redrawn; a
 * class that keeps repeating (its space of images is exhausted) is an error, not a silent duplicate.
 */
export function generate(spec: Pick<MiniTaskSpec, 'name' | 'classNames' | 'render'>, blocks: number | readonly number[], base: Omit<RenderContext, 'rng'>, rng: Rng, seen: Set<string>, options: { readonly upTo?: boolean } = {}): Generated {
  const labels = (typeof blocks === 'number' ? [blocks] : blocks).flatMap((n) => balancedLabels(n, spec.classNames.length, rng));
  const images: Uint8Array[] = [];
  for (const label of labels) {
    let attempt = 0;
    for (;;) {
      const img = spec.render(label, { ...base, rng });
      const key = createHash('sha1').update(img).digest('base64');
      if (!seen.has(key)) { seen.add(key); images.push(img); break; }
      if (++attempt > 100) {
        // `upTo`: as many as the task's space of images holds (the data-size pool); the caller skips what does not fit.
        if (options.upTo) return { images, labels: labels.slice(0, images.length) };
        throw new Error(`${spec.name}: cannot draw a new distinct image of class ${spec.classNames[label]} (${seen.size} drawn)`);
      }
    }
  }
  return { images, labels };
}

/** The pretraining stand-in: the 5 pretraining Fashion-MNIST classes, resized. */
export const PRETRAIN_SPEC: Pick<MiniTaskSpec, 'name' | 'classNames' | 'render'> = {
  name: 'pretrain',
  classNames: PRETRAIN_CLASSES.map((c) => FASHION_MNIST_CLASSES[c] as string),
  render(label, { size, side, rng, bank }) {
    const c = newCanvas(size);
    pasteItem(c, itemImage(bank, side, PRETRAIN_CLASSES[label] as number, rng), fmnistSide(bank), { cx: size / 2, cy: size / 2, size, angle: 0 });
    return finish(c);
  },
};

export function taskRng(seed: number, name: string): Rng {
  return createRng(seed).fork(`mini:${name}`);
}
