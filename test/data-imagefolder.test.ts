import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSplit, readTaskMeta } from '../src/io/shards.js';
import { builtinKinds } from '../src/stages/index.js';
import { imageFolderKind, type ImageFolderParams } from '../src/stages/data/index.js';
import { fakeContext, tempDir, writeSolidImage } from './fixtures/data/make.js';

const CLASSES = ['cat', 'dog', 'emu'];
const GRAY = [40, 120, 220];
let base: string;

/** root/<class>/<i>.png, a solid grey level per class (so label and pixels can be checked together). */
async function makeTree(root: string, perClass: number, classes = CLASSES): Promise<void> {
  for (const [c, name] of classes.entries()) {
    await mkdir(join(root, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const g = GRAY[CLASSES.indexOf(name)]!;
      await writeSolidImage(join(root, name, `${i}.${i % 3 === 0 ? 'jpg' : 'png'}`), [g, g, g], i % 3 === 0 ? 'jpeg' : 'png', 9 + c, 7);
    }
  }
}

beforeAll(async () => {
  base = await tempDir('imgfolder');
  await makeTree(join(base, 'train'), 10);
  await makeTree(join(base, 'test'), 2);
  await writeFile(join(base, 'train', 'README.txt'), 'not an image, ignored');
});
afterAll(async () => { await rm(base, { recursive: true, force: true }); });

const run = (params: ImageFolderParams, out: string, seed = 1) => imageFolderKind.run(fakeContext(params, { tasks: out }, base, seed));

describe('data.imagefolder', () => {
  it('is registered', () => { expect(builtinKinds().get('data.imagefolder')).toBeDefined(); });

  it('labels classes by sorted folder name and holds out a test set', async () => {
    const out = join(base, 'o1');
    const res = await run({ root: 'train', name: 'animals', imageSize: 4, channels: 1, trainSize: 16, testSize: 6, sizes: [8, 40], oneShot: true }, out);
    expect(res.notes?.some((n) => n.includes('data-size 40 skipped'))).toBe(true);
    const meta = await readTaskMeta(join(out, 'animals'));
    if (!meta.ok) throw new Error(meta.error.message);
    expect(meta.value).toMatchObject({ classNames: CLASSES, numClasses: 3, imageShape: [4, 4, 1], group: 'natural' });
    expect(meta.value.splits).toMatchObject({ train16: 16, val4: 4, train16val4: 20, test: 6, 'size8-train': 8, 'size8-val': 2, 'oneshot-train': 3 });
    for (const split of ['train16', 'val4', 'test', 'oneshot-val']) {
      const d = await loadSplit(join(out, 'animals'), split);
      if (!d.ok) throw new Error(d.error.message);
      for (let n = 0; n < d.value.count; n++) {
        const grey = Math.round((d.value.images[n * 16]! * 0.226 + 0.449) * 255);
        // JPEG may shift a solid grey by a level or two
        expect(Math.abs(grey - GRAY[d.value.labels[n]!]!)).toBeLessThanOrEqual(2);
      }
    }
  });

  it('uses a separate test tree when given, and is deterministic', async () => {
    const a = join(base, 'o2'); const b = join(base, 'o3');
    await run({ root: 'train', test: 'test', name: 'animals', imageSize: 6, trainSize: 20 }, a);
    await run({ root: 'train', test: 'test', name: 'animals', imageSize: 6, trainSize: 20 }, b);
    const ma = await readTaskMeta(join(a, 'animals'));
    expect(ma.ok && ma.value.splits).toMatchObject({ train20: 20, val5: 5, test: 6 });
    for (const split of ['train20', 'val5', 'test']) {
      const x = await loadSplit(join(a, 'animals'), split);
      const y = await loadSplit(join(b, 'animals'), split);
      if (!x.ok || !y.ok) throw new Error('missing');
      expect(Buffer.from(x.value.images.buffer).equals(Buffer.from(y.value.images.buffer))).toBe(true);
      expect(x.value.meta.imageShape).toEqual([6, 6, 3]);
    }
  });

  it('rejects wrong layouts, naming the folder, and writes nothing', async () => {
    const bad = join(base, 'bad');
    await mkdir(join(bad, 'flat'), { recursive: true });
    await writeSolidImage(join(bad, 'flat', 'a.png'), [1, 2, 3], 'png');
    await expect(run({ root: join(bad, 'flat'), name: 'x', imageSize: 4 }, join(bad, 'o'))).rejects.toThrow(/flat: expected one sub-folder per class/);
    await mkdir(join(bad, 'emptyclass', 'a'), { recursive: true });
    await expect(run({ root: join(bad, 'emptyclass'), name: 'x', imageSize: 4 }, join(bad, 'o'))).rejects.toThrow(/emptyclass\/a: class folder holds no images/);
    await makeTree(join(bad, 'test-extra'), 1, ['cat', 'emu']);
    await mkdir(join(bad, 'test-extra', 'yak'));
    await writeSolidImage(join(bad, 'test-extra', 'yak', '0.png'), [1, 2, 3], 'png');
    await expect(run({ root: 'train', test: join(bad, 'test-extra'), name: 'x', imageSize: 4, trainSize: 20 }, join(bad, 'o'))).rejects.toThrow(/test-extra\/yak: class folder "yak" is not one of the training classes/);
    await expect(run({ root: 'train', name: 'x', imageSize: 4 }, join(bad, 'o'))).rejects.toThrow(/needs 1000 non-test images for train800 \+ val200/);
    expect(await readdir(bad)).not.toContain('o');
  });

  it('names a corrupt image', async () => {
    const t = join(base, 'corrupt');
    await makeTree(t, 5);
    await writeFile(join(t, 'dog', '2.png'), Buffer.from('\x89PNG\r\n\x1a\nbroken'));
    await expect(run({ root: t, name: 'x', imageSize: 4, trainSize: 8, testSize: 5 }, join(t, 'o'))).rejects.toThrow(/dog\/2\.png: cannot decode image/);
  });
});
