import { readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSplitWriter, loadSplit, openSplitReader, sizeVariantSplits, writeSplit, type TaskMeta } from '../src/io/shards.js';
import { checkSizes, drawOneShot, planVariants } from '../src/stages/data/index.js';
import { createRng } from '../src/util/rng.js';
import { tempDir } from './fixtures/data/make.js';

describe('split protocol', () => {
  it('draws size variants at 4:1 without train/val overlap, the same for the same seed', () => {
    fc.assert(fc.property(fc.integer({ min: 10, max: 400 }), fc.integer({ min: 1, max: 20 }).map((k) => k * 4), fc.integer(), (pool, size, seed) => {
      const labels = Array.from({ length: pool }, (_, i) => i % 3);
      const plan = planVariants(labels, 3, { sizes: [size], seed });
      const names = sizeVariantSplits(size);
      if (size + size / 4 > pool) {
        expect(plan.splits.size).toBe(0);
        expect(plan.notes[0]).toContain(`data-size ${size} skipped`);
        return;
      }
      const train = plan.splits.get(names.train)!;
      const val = plan.splits.get(names.val)!;
      expect(train).toHaveLength(size);
      expect(val).toHaveLength(size / 4);
      expect(new Set([...train, ...val]).size).toBe(size + size / 4);
      expect(plan.splits.get(names.trainval)).toEqual([...train, ...val]);
      expect(planVariants(labels, 3, { sizes: [size], seed }).splits).toEqual(plan.splits);
    }), { numRuns: 60 });
  });

  it('one-shot takes one train and one val image of each class, seeded', () => {
    const labels = Array.from({ length: 50 }, (_, i) => i % 5);
    const a = drawOneShot(labels, 5, 1);
    const b = drawOneShot(labels, 5, 1);
    const c = drawOneShot(labels, 5, 2);
    expect(a).toEqual(b);
    if (!('train' in a) || !('train' in c)) throw new Error('expected a draw');
    expect(a.train.map((i) => labels[i])).toEqual([0, 1, 2, 3, 4]);
    expect(a.val.map((i) => labels[i])).toEqual([0, 1, 2, 3, 4]);
    expect(a.train.some((i, k) => i === a.val[k])).toBe(false);
    expect(c.train).not.toEqual(a.train);
    expect(drawOneShot([0, 0, 1], 3, 1)).toEqual({ short: [1, 2] });
  });

  it('accepts only positive multiples of 4 as data sizes', () => {
    expect(checkSizes([400, 800, 5000, 10000])).toBeUndefined();
    expect(checkSizes([401])).toMatch(/multiple of 4/);
    expect(checkSizes([0])).toMatch(/multiple of 4/);
  });
});

describe('shard writer and reader', () => {
  let dir: string;
  const meta: TaskMeta = { name: 't', group: 'natural', disparity: 'low', numClasses: 3, imageShape: [3, 2, 2], normalization: { mean: [0.5, 0.25], std: [0.5, 0.25] }, splits: { s: 37 } };
  const rng = createRng(9);
  const images = Uint8Array.from({ length: 37 * 12 }, () => rng.int(256));
  const labels = Int32Array.from({ length: 37 }, () => rng.int(3));
  beforeAll(async () => { dir = await tempDir('shards'); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it('streams the same bytes writeSplit (encodeSafetensors) writes, leaving no temporary files', async () => {
    for (const pixels of ['uint8', 'float16', 'float32'] as const) {
      await writeSplit(dir, `a-${pixels}`, meta, images, labels, { pixels });
      const w = await createSplitWriter(dir, `b-${pixels}`, meta, { pixels });
      for (let n = 0; n < 37; n++) await w.append(images.subarray(n * 12, (n + 1) * 12), labels[n]!);
      // the split name is in the header, so compare with the name swapped
      await w.finish(meta);
      const a = (await readFile(join(dir, `a-${pixels}.safetensors`))).toString('latin1');
      const b = (await readFile(join(dir, `b-${pixels}.safetensors`))).toString('latin1');
      expect(b.replace(`"split":"b-${pixels}"`, `"split":"a-${pixels}"`)).toBe(a);
    }
    expect((await readdir(dir)).filter((f) => !f.endsWith('.safetensors'))).toEqual([]);
  });

  it('normalises per channel on load, and reads batches equal to the whole split', async () => {
    const whole = await loadSplit(dir, 'a-uint8');
    if (!whole.ok) throw new Error(whole.error.message);
    expect(whole.value.images[0]).toBeCloseTo((images[0]! / 255 - 0.5) / 0.5, 6);
    expect(whole.value.images[1]).toBeCloseTo((images[1]! / 255 - 0.25) / 0.25, 6);
    for (const pixels of ['uint8', 'float16', 'float32'] as const) {
      const r = await openSplitReader(dir, `a-${pixels}`);
      if (!r.ok) throw new Error(r.error.message);
      expect(r.value.count).toBe(37);
      const batch = await r.value.read(30, 10);
      expect(batch.count).toBe(7);
      expect([...batch.labels]).toEqual([...labels.subarray(30)]);
      for (let i = 0; i < batch.images.length; i++) expect(batch.images[i]).toBeCloseTo(whole.value.images[30 * 12 + i]!, pixels === 'float16' ? 2 : 5);
      await r.value.close();
    }
  });

  it('reports a truncated shard as bad, and a missing one as missing', async () => {
    const bytes = await readFile(join(dir, 'a-uint8.safetensors'));
    await writeFile(join(dir, 'cut.safetensors'), bytes.subarray(0, bytes.length - 10));
    const cut = await openSplitReader(dir, 'cut');
    expect(cut).toMatchObject({ ok: false, error: { reason: 'bad-shard' } });
    expect(await loadSplit(dir, 'cut')).toMatchObject({ ok: false });
    expect(await openSplitReader(dir, 'nope')).toMatchObject({ ok: false, error: { reason: 'missing' } });
  });

  it('aborting a writer removes its temporary files and writes no shard', async () => {
    const w = await createSplitWriter(dir, 'aborted', meta);
    await w.append(images.subarray(0, 12), 1);
    await w.abort();
    expect((await readdir(dir)).filter((f) => f.startsWith('aborted'))).toEqual([]);
    await expect(w.append(images.subarray(0, 5), 1)).rejects.toThrow(/needs 12/);
  });
});
