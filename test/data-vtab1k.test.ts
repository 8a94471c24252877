import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSplit, openSplitReader, readTaskMeta, sizeVariantSplits, ONE_SHOT_SPLITS } from '../src/io/shards.js';
import { readSafetensorsHeader } from '../src/io/safetensors.js';
import { builtinKinds } from '../src/stages/index.js';
import { findVtabTask, IMAGENET_NORMALIZATION, parseListFile, VTAB_TASKS, vtab1kKind, type Vtab1kParams } from '../src/stages/data/index.js';
import { fakeContext, hashTree, makeFakeVtabTask, tempDir, writeSolidImage, type FakeImage } from './fixtures/data/make.js';

const SIZE = 8;
let root: string;
let fixtures: Record<string, { train: FakeImage[]; val: FakeImage[]; test: FakeImage[] }>;

beforeAll(async () => {
  root = await tempDir('vtab');
  fixtures = {
    dtd: await makeFakeVtabTask(join(root, 'vtab-1k'), { folder: 'dtd', numClasses: 47, train: 12, val: 4, test: 6 }),
    clevr_count: await makeFakeVtabTask(join(root, 'vtab-1k'), { folder: 'clevr_count_all', numClasses: 8, train: 16, val: 4, test: 5 }),
    oxford_iiit_pet: await makeFakeVtabTask(join(root, 'vtab-1k'), { folder: 'Pets', numClasses: 37, train: 8, val: 2, test: 3 }),
  };
});
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

async function runKind(params: Vtab1kParams, out: string, seed = 0): Promise<Awaited<ReturnType<typeof vtab1kKind.run>>> {
  return vtab1kKind.run(fakeContext(params, { tasks: out }, root, seed));
}

describe('VTAB-1k task table', () => {
  it('has the 19 tasks with the paper\'s class counts and groups', () => {
    expect(VTAB_TASKS).toHaveLength(19);
    const counts = Object.fromEntries(VTAB_TASKS.map((t) => [t.name, t.numClasses]));
    expect(counts).toMatchObject({ cifar100: 100, caltech101: 102, dtd: 47, oxford_flowers102: 102, oxford_iiit_pet: 37, svhn: 10, sun397: 397,
      patch_camelyon: 2, eurosat: 10, resisc45: 45, diabetic_retinopathy: 5, clevr_count: 8, clevr_dist: 6, dmlab: 6, kitti: 4,
      dsprites_loc: 16, dsprites_ori: 16, smallnorb_azi: 18, smallnorb_ele: 9 });
    expect(VTAB_TASKS.filter((t) => t.group === 'natural')).toHaveLength(7);
    expect(VTAB_TASKS.filter((t) => t.group === 'specialized')).toHaveLength(4);
    expect(VTAB_TASKS.filter((t) => t.group === 'structured')).toHaveLength(8);
  });
  it('resolves folder names and aliases', () => {
    expect(findVtabTask('Pets')?.name).toBe('oxford_iiit_pet');
    expect(findVtabTask('clevr-count')?.name).toBe('clevr_count');
    expect(findVtabTask('smallnorb_azimuth')?.name).toBe('smallnorb_azi');
    expect(findVtabTask('dsprites/location')?.name).toBe('dsprites_loc');
    expect(findVtabTask('cifar')?.name).toBe('cifar100');
    expect(findVtabTask('imagenet')).toBeUndefined();
  });
  it('is registered as a builtin kind', () => {
    expect(builtinKinds().get('data.vtab1k')).toBeDefined();
  });
});

describe('list files', () => {
  it('parses paths (with spaces) and labels, skipping blank lines', () => {
    const r = parseListFile('images/a b.jpg 3\n\nimages/c.png 0\r\n', 'x.txt', 5);
    expect(r.ok && r.value).toEqual([{ path: 'images/a b.jpg', label: 3, line: 1 }, { path: 'images/c.png', label: 0, line: 3 }]);
  });
  it('reports file:line for a label outside the class range', () => {
    const r = parseListFile('images/a.jpg 1\nimages/b.jpg 47\n', 'dtd/train800.txt', 47);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ reason: 'label-out-of-range', file: 'dtd/train800.txt', line: 2 });
  });
  it('rejects a line without a label, and an empty list', () => {
    const a = parseListFile('images/a.jpg\n', 'l.txt', 5);
    expect(!a.ok && a.error).toMatchObject({ reason: 'bad-list-line', line: 1 });
    const b = parseListFile('\n\n', 'l.txt', 5);
    expect(!b.ok && b.error).toMatchObject({ reason: 'empty-list', file: 'l.txt' });
  });
});

describe('data.vtab1k', () => {
  let out: string;
  beforeAll(async () => {
    out = await tempDir('vtab-out');
    const result = await runKind({ root: 'vtab-1k', imageSize: SIZE, sizes: [8, 400], oneShot: true }, out, 7);
    expect(result.notes?.some((n) => n.includes('data-size 400 skipped'))).toBe(true);
  });
  afterAll(async () => { await rm(out, { recursive: true, force: true }); });

  it('writes one folder per recognised task with the protocol splits', async () => {
    expect((await readdir(out)).sort()).toEqual(['clevr_count', 'dtd', 'oxford_iiit_pet']);
    const meta = await readTaskMeta(join(out, 'dtd'));
    expect(meta.ok).toBe(true);
    if (!meta.ok) return;
    expect(meta.value).toMatchObject({ name: 'dtd', group: 'natural', disparity: 'low', numClasses: 47, imageShape: [SIZE, SIZE, 3] });
    expect(meta.value.splits).toMatchObject({ train800: 12, val200: 4, train800val200: 16, test: 6 });
    const cc = await readTaskMeta(join(out, 'clevr_count'));
    expect(cc.ok && cc.value).toMatchObject({ group: 'structured', disparity: 'high', numClasses: 8 });
  });

  it('stores labels and pixels, normalised with ImageNet statistics on load', async () => {
    const fx = fixtures.dtd!;
    for (const [split, items] of [['train800', fx.train], ['val200', fx.val], ['train800val200', [...fx.train, ...fx.val]], ['test', fx.test]] as const) {
      const data = await loadSplit(join(out, 'dtd'), split);
      expect(data.ok).toBe(true);
      if (!data.ok) continue;
      expect([...data.value.labels]).toEqual(items.map((x) => x.label));
      const px = SIZE * SIZE * 3;
      items.forEach((item, n) => {
        // PNGs are lossless and a solid colour stays solid under any resampling kernel.
        if (!item.rel.endsWith('.png')) return;
        for (const at of [0, 5 * 3, px - 3]) {
          for (let c = 0; c < 3; c++) {
            const expected = (item.rgb[c]! / 255 - IMAGENET_NORMALIZATION.mean[c]!) / IMAGENET_NORMALIZATION.std[c]!;
            expect(data.value.images[n * px + at + c]).toBeCloseTo(expected, 5);
          }
        }
      });
    }
  });

  it('round-trips the shard header (task meta, split, raw pixels, source hashes)', async () => {
    const head = await readSafetensorsHeader(join(out, 'dtd', 'test.safetensors'));
    expect(head.ok).toBe(true);
    if (!head.ok) return;
    expect(head.value.metadata['split']).toBe('test');
    expect(head.value.metadata['pixels']).toBe('raw-uint8');
    const meta = JSON.parse(head.value.metadata['task']!);
    const onDisk = JSON.parse(await readFile(join(out, 'dtd', 'task.json'), 'utf8'));
    expect(meta).toEqual(onDisk);
    expect(meta.normalization).toEqual({ mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    expect(Object.keys(meta.source.listFiles).sort()).toEqual(['test.txt', 'train800.txt', 'train800val200.txt', 'val200.txt']);
    expect(meta.source.imageDigests.test).toMatch(/^[0-9a-f]{64}$/);
    expect(head.value.header['images']).toMatchObject({ dtype: 'U8', shape: [6, SIZE, SIZE, 3] });
    expect(head.value.header['labels']).toMatchObject({ dtype: 'I32', shape: [6] });
  });

  it('builds data-size variants at 4:1 and skips sizes the data lacks, with a note', async () => {
    const meta = await readTaskMeta(join(out, 'dtd'));
    if (!meta.ok) throw new Error(meta.error.message);
    const s8 = sizeVariantSplits(8);
    expect(meta.value.splits[s8.train]).toBe(8);
    expect(meta.value.splits[s8.val]).toBe(2);
    expect(meta.value.splits[s8.trainval]).toBe(10);
    expect(meta.value.splits[sizeVariantSplits(400).train]).toBeUndefined();
    expect(meta.value.notes?.some((n) => n.includes('data-size 400 skipped'))).toBe(true);
    expect(meta.value.variants?.sizes?.map((s) => s.size)).toEqual([8]);
    // train and val do not overlap (identified by their solid colours)
    const tr = await loadSplit(join(out, 'dtd'), s8.train);
    const va = await loadSplit(join(out, 'dtd'), s8.val);
    if (!tr.ok || !va.ok) throw new Error('missing variant');
    const key = (imgs: Float32Array, n: number): string => Array.from(imgs.subarray(n * SIZE * SIZE * 3, n * SIZE * SIZE * 3 + 3)).map((v) => v.toFixed(3)).join();
    const trainKeys = new Set(Array.from({ length: 8 }, (_, n) => key(tr.value.images, n)));
    for (let n = 0; n < 2; n++) expect(trainKeys.has(key(va.value.images, n))).toBe(false);
  });

  it('draws one train and one val image per class for one-shot, or notes the classes short of images', async () => {
    const cc = await readTaskMeta(join(out, 'clevr_count'));
    if (!cc.ok) throw new Error(cc.error.message);
    expect(cc.value.variants?.oneShot).toEqual(ONE_SHOT_SPLITS);
    const tr = await loadSplit(join(out, 'clevr_count'), ONE_SHOT_SPLITS.train);
    const va = await loadSplit(join(out, 'clevr_count'), ONE_SHOT_SPLITS.val);
    if (!tr.ok || !va.ok) throw new Error('missing one-shot');
    expect([...tr.value.labels].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([...va.value.labels].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // dtd has 47 classes and 16 train+val images: no one-shot, a note instead.
    const dtd = await readTaskMeta(join(out, 'dtd'));
    expect(dtd.ok && dtd.value.notes?.some((n) => n.startsWith('one-shot skipped'))).toBe(true);
  });

  it('gives byte-identical shards for the same seed, and different variants for another seed', async () => {
    const again = await tempDir('vtab-again');
    const other = await tempDir('vtab-other');
    try {
      await runKind({ root: 'vtab-1k', imageSize: SIZE, sizes: [8, 400], oneShot: true }, again, 7);
      expect(await hashTree(again)).toEqual(await hashTree(out));
      await runKind({ root: 'vtab-1k', tasks: ['dtd'], imageSize: SIZE, sizes: [8] }, other, 8);
      const a = await hashTree(join(out, 'dtd'));
      const b = await hashTree(join(other, 'dtd'));
      expect(b['size8-train.safetensors']).not.toBe(a['size8-train.safetensors']);
      // the header holds the task meta (seed, variants); the test pixels themselves do not depend on the seed
      const ta = await loadSplit(join(out, 'dtd'), 'test');
      const tb = await loadSplit(join(other, 'dtd'), 'test');
      if (!ta.ok || !tb.ok) throw new Error('missing test split');
      expect(Buffer.from(tb.value.images.buffer).equals(Buffer.from(ta.value.images.buffer))).toBe(true);
    } finally {
      await rm(again, { recursive: true, force: true });
      await rm(other, { recursive: true, force: true });
    }
  });

  it('streams big splits batch by batch with the same values as loadSplit', async () => {
    const reader = await openSplitReader(join(out, 'clevr_count'), 'train800val200');
    const whole = await loadSplit(join(out, 'clevr_count'), 'train800val200');
    if (!reader.ok || !whole.ok) throw new Error('missing split');
    const seen: number[] = [];
    const px = SIZE * SIZE * 3;
    for await (const batch of reader.value.batches(7)) {
      for (let n = 0; n < batch.count; n++) {
        expect(batch.images[n * px + 4]).toBeCloseTo(whole.value.images[(batch.start + n) * px + 4]!, 5);
      }
      seen.push(...batch.labels);
    }
    await reader.value.close();
    expect(seen).toEqual([...whole.value.labels]);
  });

  it('stores pre-normalised float16 / float32 pixels when asked', async () => {
    for (const pixels of ['float16', 'float32'] as const) {
      const o = await tempDir(`vtab-${pixels}`);
      try {
        await runKind({ root: 'vtab-1k', tasks: ['oxford_iiit_pet'], imageSize: SIZE, pixels }, o, 7);
        const head = await readSafetensorsHeader(join(o, 'oxford_iiit_pet', 'train800.safetensors'));
        expect(head.ok && head.value.header['images']).toMatchObject({ dtype: pixels === 'float16' ? 'F16' : 'F32' });
        const a = await loadSplit(join(o, 'oxford_iiit_pet'), 'train800');
        const b = await loadSplit(join(out, 'oxford_iiit_pet'), 'train800');
        if (!a.ok || !b.ok) throw new Error('missing');
        for (let i = 0; i < a.value.images.length; i += 17) expect(a.value.images[i]).toBeCloseTo(b.value.images[i]!, pixels === 'float16' ? 2 : 5);
      } finally {
        await rm(o, { recursive: true, force: true });
      }
    }
  });
});

describe('data.vtab1k list paths', () => {
  it('accepts list paths given relative to images/ as well as to the task folder', async () => {
    const base = await tempDir('noprefix');
    try {
      const fx = await makeFakeVtabTask(base, { folder: 'kitti', numClasses: 4, train: 4, val: 2, test: 2 });
      for (const name of ['train800', 'val200', 'train800val200', 'test']) {
        const text = await readFile(join(base, 'kitti', `${name}.txt`), 'utf8');
        await writeFile(join(base, 'kitti', `${name}.txt`), text.replace(/^images\//gm, ''));
      }
      const o = join(base, 'o');
      await vtab1kKind.run(fakeContext<Vtab1kParams>({ root: base, imageSize: SIZE }, { tasks: o }, base));
      const d = await loadSplit(join(o, 'kitti'), 'test');
      if (!d.ok) throw new Error(d.error.message);
      expect([...d.value.labels]).toEqual(fx.test.map((x) => x.label));
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});

describe('data.vtab1k resume', () => {
  it('keeps finished tasks in the checkpoint folder after a failure and resumes them, with the same bytes', async () => {
    const base = await tempDir('resume');
    try {
      await makeFakeVtabTask(base, { folder: 'eurosat', numClasses: 10, train: 4, val: 2, test: 2 });
      await makeFakeVtabTask(base, { folder: 'svhn', numClasses: 10, train: 4, val: 2, test: 2 });
      const good = await readFile(join(base, 'svhn', 'images', 'test', '1000.png'));
      await writeFile(join(base, 'svhn', 'images', 'test', '1000.png'), good.subarray(0, 20));
      const params: Vtab1kParams = { root: base, tasks: ['eurosat', 'svhn'], imageSize: SIZE };
      const ctx = (o: string) => fakeContext<Vtab1kParams>(params, { tasks: o }, base, 2);
      await expect(vtab1kKind.run(ctx(join(base, 'o1')))).rejects.toThrow(/1000\.png: cannot decode image/);
      expect(await readdir(join(base, 'o1'))).toEqual([]);
      await writeFile(join(base, 'svhn', 'images', 'test', '1000.png'), good);
      const second = await vtab1kKind.run(ctx(join(base, 'o2')));
      expect(second.environment?.['resumed_tasks']).toBe(1);
      const fresh = await vtab1kKind.run(fakeContext<Vtab1kParams>(params, { tasks: join(base, 'o3') }, join(base, 'elsewhere'), 2));
      expect(fresh.environment?.['resumed_tasks']).toBe(0);
      expect(await hashTree(join(base, 'o2'))).toEqual(await hashTree(join(base, 'o3')));
      // a finished run leaves no checkpoint behind
      expect(await readdir(join(base, '.ckpt'))).toEqual([]);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});

describe('data.vtab1k bad input', () => {
  async function badTree(label: string, edit: (taskDir: string) => Promise<void>): Promise<{ base: string; out: string }> {
    const base = await tempDir(`bad-${label}`);
    await makeFakeVtabTask(base, { folder: 'svhn', numClasses: 10, train: 4, val: 2, test: 2 });
    await edit(join(base, 'svhn'));
    return { base, out: join(base, 'out') };
  }
  async function expectFailure(label: string, edit: (taskDir: string) => Promise<void>, message: RegExp): Promise<void> {
    const { base, out } = await badTree(label, edit);
    try {
      await mkdir(out);
      const ctx = fakeContext<Vtab1kParams>({ root: base, imageSize: SIZE }, { tasks: out }, base);
      await expect(vtab1kKind.run(ctx)).rejects.toThrow(message);
      // nothing half-written: no task.json, no shard, no temporary file in the staging output
      const left = await readdir(out, { recursive: true });
      expect(left.filter((f) => !f.endsWith('svhn') && f !== 'svhn')).toEqual([]);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  }

  it('names file and line for a label outside the class range', async () => {
    await expectFailure('label', async (d) => { await writeFile(join(d, 'val200.txt'), 'images/train/4.png 3\nimages/train/5.jpg 10\n'); }, /svhn\/val200\.txt:2: label 10 is outside \[0, 9\]/);
  });
  it('names a missing list file', async () => {
    await expectFailure('nolist', async (d) => { await rm(join(d, 'test.txt')); }, /svhn\/test\.txt: list file is missing/);
  });
  it('names an empty list file', async () => {
    await expectFailure('empty', async (d) => { await writeFile(join(d, 'train800.txt'), '\n'); }, /svhn\/train800\.txt: list file has no entries/);
  });
  it('names a missing image', async () => {
    await expectFailure('noimg', async (d) => { await rm(join(d, 'images', 'test', '1001.jpg')); }, /images\/test\/1001\.jpg: image file is missing \(listed at .*svhn\/test\.txt:2\)/);
  });
  it('names a truncated image', async () => {
    await expectFailure('trunc', async (d) => {
      const f = join(d, 'images', 'test', '1000.png');
      const bytes = await readFile(f);
      await writeFile(f, bytes.subarray(0, Math.floor(bytes.length / 2)));
    }, /images\/test\/1000\.png: cannot decode image/);
  });
  it('names a truncated JPEG', async () => {
    await expectFailure('truncjpg', async (d) => {
      const f = join(d, 'images', 'train', '1.jpg');
      await writeSolidImage(f, [10, 200, 30], 'jpeg', 64, 64);
      const bytes = await readFile(f);
      await writeFile(f, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    }, /images\/train\/1\.jpg: cannot decode image.*\(listed at .*svhn\/train800val200\.txt:2\)/);
  });
  it('rejects a task folder with the wrong layout', async () => {
    await expectFailure('layout', async (d) => { await rm(join(d, 'images'), { recursive: true }); }, /svhn: task folder must hold images\//);
  });
  it('rejects an unknown task name and a root with no VTAB folder', async () => {
    const base = await tempDir('unknown');
    try {
      await mkdir(join(base, 'photos'));
      await expect(vtab1kKind.run(fakeContext<Vtab1kParams>({ root: base, tasks: ['imagenet'] }, { tasks: join(base, 'o') }, base))).rejects.toThrow(/"imagenet" is not one of the 19 VTAB-1k tasks/);
      await expect(vtab1kKind.run(fakeContext<Vtab1kParams>({ root: base }, { tasks: join(base, 'o') }, base))).rejects.toThrow(/no folder here names a VTAB-1k task/);
      expect(await stat(join(base, 'o')).then(() => true, () => false)).toBe(false);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
