import { createHash } from 'node:crypto';
import { access, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSplit, readTaskMeta, type SplitData, type TaskMeta } from '../src/io/shards.js';
import { builtinKinds } from '../src/stages/index.js';
import { FASHION_MNIST_DIR, INSTALL_HINT, MINI_TASKS, miniVtabKind, type MiniVtabParams } from '../src/stages/data/index.js';
import { fakeContext, hashTree, tempDir } from './fixtures/data/make.js';
import { generate } from '../src/stages/data/mini/suite.js';
import { planVariants } from '../src/stages/data/splits.js';
import { createRng, type Rng } from '../src/util/rng.js';

const SIZE = 32;
const TEST = 60;
const PARAMS: MiniVtabParams = { imageSize: SIZE, testSize: TEST, pretrainTrainSize: 300, pretrainTestSize: 50 };
let out: string;
const metas = new Map<string, TaskMeta>();

async function requireFashionMnist(): Promise<void> {
  // CI installs the package; a missing one must fail loudly, never skip.
  await access(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')).catch(() => {
    throw new Error(`Fashion-MNIST is not installed at ${FASHION_MNIST_DIR}: run \`${INSTALL_HINT}\``);
  });
}

beforeAll(async () => {
  await requireFashionMnist();
  out = await tempDir('mini');
  await miniVtabKind.run(fakeContext(PARAMS, { tasks: out }, out, 3));
  for (const name of await readdir(out)) {
    const m = await readTaskMeta(join(out, name));
    if (!m.ok) throw new Error(m.error.message);
    metas.set(name, m.value);
  }
}, 120_000);
afterAll(async () => { if (out) await rm(out, { recursive: true, force: true }); });

/** Raw uint8 pixels of image n (undoing the load-time normalisation exactly enough to hash). */
function rawImage(d: SplitData, n: number): Uint8Array {
  const [h, w, c] = d.meta.imageShape;
  const px = h * w * c;
  const out = new Uint8Array(px);
  for (let i = 0; i < px; i++) out[i] = Math.round((d.images[n * px + i]! * d.meta.normalization.std[0]! + d.meta.normalization.mean[0]!) * 255);
  return out;
}
function hashes(d: SplitData): string[] {
  return Array.from({ length: d.count }, (_, n) => createHash('sha1').update(rawImage(d, n)).digest('hex'));
}
async function split(task: string, name: string): Promise<SplitData> {
  const d = await loadSplit(join(out, task), name);
  if (!d.ok) throw new Error(d.error.message);
  return d.value;
}

describe('data.mini-vtab', () => {
  it('is registered and writes the pretraining set plus >= 8 downstream tasks, >= 2 per quadrant', () => {
    expect(builtinKinds().get('data.mini-vtab')).toBeDefined();
    expect([...metas.keys()].sort()).toEqual(['pretrain', ...MINI_TASKS.map((t) => t.name)].sort());
    const downstream = [...metas.values()].filter((m) => m.name !== 'pretrain');
    expect(downstream.length).toBeGreaterThanOrEqual(8);
    for (const sim of ['near', 'far'] as const) {
      for (const disp of ['low', 'high'] as const) {
        expect(downstream.filter((m) => m.similarity === sim && m.disparity === disp).length).toBeGreaterThanOrEqual(2);
      }
    }
    for (const m of downstream) {
      expect(m.disparity).toBe(m.group === 'structured' ? 'high' : 'low');
      expect(['natural', 'specialized', 'structured']).toContain(m.group);
      expect(m.imageShape).toEqual([SIZE, SIZE, 1]);
      expect(m.classNames).toHaveLength(m.numClasses);
      expect(m.splits).toEqual({ train800: 800, val200: 200, train800val200: 1000, test: TEST });
    }
  });

  it('pretrains on 5 Fashion-MNIST classes and normalises every task with their statistics', async () => {
    const p = metas.get('pretrain')!;
    expect(p.numClasses).toBe(5);
    expect(p.splits).toEqual({ train: 300, test: 50 });
    const train = await split('pretrain', 'train');
    let sum = 0, sq = 0;
    for (let n = 0; n < train.count; n++) for (const v of rawImage(train, n)) { sum += v / 255; sq += (v / 255) ** 2; }
    const count = train.count * SIZE * SIZE;
    const mean = sum / count;
    expect(p.normalization.mean[0]).toBeCloseTo(mean, 5);
    expect(p.normalization.std[0]).toBeCloseTo(Math.sqrt(sq / count - mean * mean), 5);
    for (const m of metas.values()) expect(m.normalization).toEqual(p.normalization);
    // the held-out task uses the other five classes
    const pretrainNames = new Set(p.classNames);
    expect(metas.get('fmnist_heldout')!.classNames!.some((c) => pretrainNames.has(c))).toBe(false);
  });

  it('has every promised class in balanced train and test splits', async () => {
    for (const [name, m] of metas) {
      for (const s of name === 'pretrain' ? ['train', 'test'] : ['train800', 'val200', 'test']) {
        const d = await split(name, s);
        const counts = new Array<number>(m.numClasses).fill(0);
        for (const l of d.labels) counts[l]!++;
        expect(Math.min(...counts), `${name}/${s}`).toBeGreaterThan(0);
        expect(Math.max(...counts) - Math.min(...counts), `${name}/${s} balance`).toBeLessThanOrEqual(1);
      }
    }
  });

  it('never repeats an image across train, val and test', async () => {
    for (const name of metas.keys()) {
      if (name === 'pretrain') {
        const tr = new Set(hashes(await split(name, 'train')));
        for (const h of hashes(await split(name, 'test'))) expect(tr.has(h)).toBe(false);
        continue;
      }
      const train = hashes(await split(name, 'train800'));
      const val = hashes(await split(name, 'val200'));
      const both = hashes(await split(name, 'train800val200'));
      const test = hashes(await split(name, 'test'));
      expect(both).toEqual([...train, ...val]);
      expect(new Set(both).size, `${name} train+val distinct`).toBe(1000);
      const seen = new Set(both);
      for (const h of test) expect(seen.has(h), `${name} test overlaps train`).toBe(false);
      expect(new Set(test).size).toBe(test.length);
    }
  });

  it('renders labels that match the image content (position, count)', async () => {
    // shapes_location: the mean x of the bright pixels grows with the x-bin label
    const loc = await split('shapes_location', 'train800');
    const meanX = new Array<number>(6).fill(0);
    const n = new Array<number>(6).fill(0);
    for (let k = 0; k < loc.count; k++) {
      const img = rawImage(loc, k);
      let mx = 0, m = 0;
      img.forEach((v, i) => { mx += v * (i % SIZE); m += v; });
      meanX[loc.labels[k]!]! += mx / m;
      n[loc.labels[k]!]!++;
    }
    const xs = meanX.map((v, i) => v / n[i]!);
    for (let i = 1; i < 6; i++) expect(xs[i]!).toBeGreaterThan(xs[i - 1]!);
    // fmnist_location: the centroid lies in the labelled 3x3 cell for most images
    const cell = await split('fmnist_location', 'val200');
    let inCell = 0;
    for (let k = 0; k < cell.count; k++) {
      const img = rawImage(cell, k);
      let mx = 0, my = 0, m = 0;
      img.forEach((v, i) => { mx += v * (i % SIZE + 0.5); my += v * (Math.floor(i / SIZE) + 0.5); m += v; });
      const label = cell.labels[k]!;
      if (Math.floor((mx / m) / (SIZE / 3)) === label % 3 && Math.floor((my / m) / (SIZE / 3)) === Math.floor(label / 3)) inCell++;
    }
    expect(inCell / cell.count).toBeGreaterThan(0.9);
    // counts: more items, more bright pixels on average
    for (const task of ['fmnist_count', 'shapes_count']) {
      const d = await split(task, 'train800');
      const mass = new Array<number>(4).fill(0);
      const c = new Array<number>(4).fill(0);
      for (let k = 0; k < d.count; k++) { mass[d.labels[k]!]! += rawImage(d, k).reduce((a, b) => a + b, 0); c[d.labels[k]!]!++; }
      const avg = mass.map((v, i) => v / c[i]!);
      for (let i = 1; i < 4; i++) expect(avg[i]!, task).toBeGreaterThan(avg[i - 1]!);
    }
  });

  it('gives the same bytes for the same seed, whichever other tasks are built', async () => {
    const again = await tempDir('mini-again');
    try {
      await miniVtabKind.run(fakeContext({ ...PARAMS, tasks: ['shapes', 'fmnist_count'] }, { tasks: again }, again, 3));
      const a = await hashTree(again);
      const b = await hashTree(out);
      expect(Object.keys(a).length).toBe(3 * 5 - 2); // pretrain (train, test, task.json) + 2 tasks x 5 files
      for (const [file, h] of Object.entries(a)) expect(b[file], file).toBe(h);
    } finally {
      await rm(again, { recursive: true, force: true });
    }
  }, 60_000);

  it('changes the images with the seed', async () => {
    const other = await tempDir('mini-seed');
    try {
      await miniVtabKind.run(fakeContext({ ...PARAMS, tasks: ['textures'] }, { tasks: other }, other, 4));
      const a = await hashTree(join(other, 'textures'));
      const b = await hashTree(join(out, 'textures'));
      expect(a['train800.safetensors']).not.toBe(b['train800.safetensors']);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  }, 60_000);

  it('fails with the install hint when Fashion-MNIST is missing, writing nothing', async () => {
    const empty = await tempDir('mini-nofm');
    try {
      const o = join(empty, 'out');
      await expect(miniVtabKind.run(fakeContext({ ...PARAMS, fashionMnistDir: empty }, { tasks: o }, empty, 3))).rejects.toThrow(/apt-get install dataset-fashion-mnist/);
      expect(await access(o).then(() => true, () => false)).toBe(false);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('rejects an unknown task and a data size that is not a multiple of 4', async () => {
    await expect(miniVtabKind.run(fakeContext({ ...PARAMS, tasks: ['cifar'] }, { tasks: '/nonexistent' }, '/tmp', 3))).rejects.toThrow(/"cifar" is not a mini-VTAB task/);
    await expect(miniVtabKind.run(fakeContext({ ...PARAMS, sizes: [10] }, { tasks: '/nonexistent' }, '/tmp', 3))).rejects.toThrow(/multiple of 4/);
  });
});

describe('data-size pool', () => {
  // A task whose space holds 6 distinct images (2 classes x 3 looks).
  const tiny = { name: 'tiny', classNames: ['a', 'b'], render: (label: number, ctx: { rng: Rng }) => Uint8Array.of(label, ctx.rng.int(3)) };
  const base = { size: 1, side: 'train' as const, bank: undefined as never };

  it('upTo: draws what the task can hold and stops, the same on every run; without it exhaustion is an error', () => {
    const a = generate(tiny, 20, base, createRng(1), new Set(), { upTo: true });
    const b = generate(tiny, 20, base, createRng(1), new Set(), { upTo: true });
    expect(a.images.length).toBeLessThanOrEqual(6);
    expect(a.labels).toHaveLength(a.images.length);
    expect(a.images.every((img, i) => img[0] === a.labels[i])).toBe(true);
    expect(b).toEqual(a);
    expect(() => generate(tiny, 20, base, createRng(1), new Set())).toThrow(/cannot draw a new distinct image/);
  });

  it('a size the pool cannot fill is skipped with a note; the sizes that fit exist', () => {
    const plan = planVariants(new Array(20).fill(0).map((_, i) => i % 2), 2, { sizes: [8, 24], seed: 0 });
    expect([...plan.splits.keys()]).toEqual(['size8-train', 'size8-val', 'size8-trainval']);
    expect(plan.notes).toEqual(['data-size 24 skipped: needs 30 train+val images (24:6), the pool has 20']);
    expect(plan.variants.sizes?.map((v) => v.size)).toEqual([8]);
  });

  it('adding sizes leaves the VTAB-1k and test splits byte for byte as they were', async () => {
    const sized = await tempDir('mini-sizes');
    try {
      await miniVtabKind.run(fakeContext({ ...PARAMS, tasks: ['textures'], sizes: [1200] }, { tasks: sized }, sized, 3));
      // The shards' headers repeat task.json (which now lists the variants): compare what they hold.
      for (const split of ['train800', 'val200', 'train800val200', 'test']) {
        const a = await loadSplit(join(sized, 'textures'), split);
        const b = await loadSplit(join(out, 'textures'), split);
        if (!a.ok || !b.ok) throw new Error(`split ${split} unreadable`);
        expect(Buffer.from(a.value.images.buffer).equals(Buffer.from(b.value.images.buffer))).toBe(true);
        expect(Array.from(a.value.labels)).toEqual(Array.from(b.value.labels));
      }
      expect((await loadSplit(join(sized, 'textures'), 'size1200-train')).ok).toBe(true);
    } finally {
      await rm(sized, { recursive: true, force: true });
    }
  }, 60_000);
});
