import { access, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSplit, readTaskMeta, sizeVariantSplits } from '../src/io/shards.js';
import { builtinKinds } from '../src/stages/index.js';
import { FASHION_MNIST_DIR, INSTALL_HINT, idxKind, parseIdx, type IdxParams } from '../src/stages/data/index.js';
import { fakeContext, idxBytes, tempDir } from './fixtures/data/make.js';

// Item i: pixel 0 = i % 256, pixel 1 = i >> 8 (identifies it), the rest a ramp; label i % 10.
function items(n: number, side: number): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(n * side * side);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    images[i * side * side] = i % 256;
    images[i * side * side + 1] = i >> 8;
    for (let k = 2; k < side * side; k++) images[i * side * side + k] = (k * 7 + i) % 256;
    labels[i] = i % 10;
  }
  return { images, labels };
}

let dir: string;
const SIDE = 4;
const FILES = { trainImages: 'tr-img.gz', trainLabels: 'tr-lab.gz', testImages: 'te-img.gz', testLabels: 'te-lab.gz' };
beforeAll(async () => {
  dir = await tempDir('idx');
  const tr = items(1300, SIDE);
  const te = items(40, SIDE);
  await writeFile(join(dir, FILES.trainImages), idxBytes([1300, SIDE, SIDE], tr.images));
  await writeFile(join(dir, FILES.trainLabels), idxBytes([1300], tr.labels));
  await writeFile(join(dir, FILES.testImages), idxBytes([40, SIDE, SIDE], te.images, false)); // plain IDX works too
  await writeFile(join(dir, FILES.testLabels), idxBytes([40], te.labels));
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe('IDX parsing', () => {
  it('reads gzipped and plain IDX with their shapes', () => {
    const data = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    for (const gz of [true, false]) {
      const r = parseIdx(idxBytes([3, 2], data, gz), 'x.idx');
      expect(r.ok && r.value.shape).toEqual([3, 2]);
      expect(r.ok && [...r.value.data]).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });
  it('rejects bad magic, other element types, truncated data and broken gzip, naming the file', () => {
    const good = idxBytes([3, 2], new Uint8Array(6), false);
    const badMagic = Buffer.from(good); badMagic[0] = 1;
    expect(parseIdx(badMagic, 'a.idx')).toMatchObject({ ok: false, error: { reason: 'bad-idx', file: 'a.idx' } });
    const floats = Buffer.from(good); floats[2] = 0x0d;
    expect(parseIdx(floats, 'b.idx')).toMatchObject({ ok: false, error: { reason: 'bad-idx', message: expect.stringContaining('0xd') } });
    expect(parseIdx(good.subarray(0, good.length - 1), 'c.idx')).toMatchObject({ ok: false, error: { message: expect.stringContaining('truncated') } });
    const gz = idxBytes([3, 2], new Uint8Array(6));
    expect(parseIdx(gz.subarray(0, gz.length - 6), 'd.gz')).toMatchObject({ ok: false, error: { reason: 'bad-idx', file: 'd.gz' } });
  });
});

describe('data.idx', () => {
  const run = (params: IdxParams, out: string, seed = 5) => idxKind.run(fakeContext(params, { tasks: out }, dir, seed));

  it('is registered', () => { expect(builtinKinds().get('data.idx')).toBeDefined(); });

  it('writes VTAB-style splits with the source pixels and labels', async () => {
    const out = join(dir, 'out1');
    const res = await run({ dir, ...FILES, name: 'toy', sizes: [400, 1200], oneShot: true }, out);
    expect(res.notes?.some((n) => n.includes('data-size 1200 skipped'))).toBe(true);
    const meta = await readTaskMeta(join(out, 'toy'));
    if (!meta.ok) throw new Error(meta.error.message);
    expect(meta.value).toMatchObject({ name: 'toy', numClasses: 10, imageShape: [SIDE, SIDE, 1] });
    expect(meta.value.splits).toMatchObject({ train800: 800, val200: 200, train800val200: 1000, test: 40, [sizeVariantSplits(400).train]: 400, [sizeVariantSplits(400).val]: 100, 'oneshot-train': 10 });
    const { mean, std } = meta.value.normalization;
    const seen = new Set<number>();
    for (const s of ['train800', 'val200', 'test']) {
      const d = await loadSplit(join(out, 'toy'), s);
      if (!d.ok) throw new Error(d.error.message);
      const px = SIDE * SIDE;
      for (let n = 0; n < d.value.count; n++) {
        const raw = (k: number): number => Math.round((d.value.images[n * px + k]! * std[0]! + mean[0]!) * 255);
        const id = raw(0) + 256 * raw(1);
        expect(d.value.labels[n]).toBe(id % 10);
        expect(raw(5)).toBe((5 * 7 + id) % 256);
        if (s !== 'test') { expect(seen.has(id)).toBe(false); seen.add(id); }
      }
    }
    expect(seen.size).toBe(1000);
  });

  it('is deterministic per seed and resizes / replicates channels on request', async () => {
    const a = join(dir, 'a'); const b = join(dir, 'b');
    await run({ dir, ...FILES, name: 'toy', imageSize: 8, channels: 3 }, a);
    await run({ dir, ...FILES, name: 'toy', imageSize: 8, channels: 3 }, b);
    const da = await loadSplit(join(a, 'toy'), 'train800');
    const db = await loadSplit(join(b, 'toy'), 'train800');
    if (!da.ok || !db.ok) throw new Error('missing');
    expect(da.value.meta.imageShape).toEqual([8, 8, 3]);
    expect(da.value.meta.normalization.mean).toEqual([0.485, 0.456, 0.406]);
    expect(Buffer.from(da.value.images.buffer).equals(Buffer.from(db.value.images.buffer))).toBe(true);
    expect([...da.value.labels]).toEqual([...db.value.labels]);
  });

  it('names the file for bad or missing IDX input and labels out of range', async () => {
    await mkdir(join(dir, 'bad'), { recursive: true });
    await writeFile(join(dir, 'bad', 'tl.gz'), idxBytes([1300], new Uint8Array(1300).fill(3)));
    await writeFile(join(dir, 'bad', 'ti.gz'), Buffer.from('not idx'));
    await expect(run({ dir: join(dir, 'bad'), trainImages: 'ti.gz', trainLabels: 'tl.gz', testImages: 'ti.gz', testLabels: 'tl.gz' }, join(dir, 'o2'))).rejects.toThrow(/bad\/ti\.gz: bad IDX magic/);
    await expect(run({ dir, ...FILES, trainImages: 'nope.gz' }, join(dir, 'o3'))).rejects.toThrow(/nope\.gz: IDX file is missing/);
    await expect(run({ dir, ...FILES, numClasses: 5 }, join(dir, 'o4'))).rejects.toThrow(/tr-lab\.gz: label 5 of item 5 is outside \[0, 4\]/);
    for (const o of ['o2', 'o3', 'o4']) expect(await access(join(dir, o)).then(() => true, () => false)).toBe(false);
  });

  it('reads Fashion-MNIST from the Debian package by default', async () => {
    await access(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz')).catch(() => {
      throw new Error(`Fashion-MNIST is not installed at ${FASHION_MNIST_DIR}: run \`${INSTALL_HINT}\``);
    });
    const out = join(dir, 'fm');
    await run({ testSize: 200 }, out);
    expect(await readdir(out)).toEqual(['fashion_mnist']);
    const meta = await readTaskMeta(join(out, 'fashion_mnist'));
    if (!meta.ok) throw new Error(meta.error.message);
    expect(meta.value).toMatchObject({ numClasses: 10, imageShape: [28, 28, 1], splits: { train800: 800, val200: 200, train800val200: 1000, test: 200 } });
    expect(meta.value.classNames?.[9]).toBe('ankle_boot');
  });

  it('asks for the Debian package when the Fashion-MNIST files are missing', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty, { recursive: true });
    await expect(run({ dir: empty }, join(dir, 'o5'))).rejects.toThrow(/apt-get install dataset-fashion-mnist/);
  });
});
