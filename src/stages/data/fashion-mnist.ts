/** Fashion-MNIST from Debian's `dataset-fashion-mnist` package (gzipped IDX, 28x28 grayscale, 10 classes). */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { err, type Result } from '../../util/result.js';
import type { StageProblem } from '../kind.js';
import { dataError, type DataError } from './errors.js';
import { readIdxPair, type IdxDataset } from './idx.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_FILES = {
  train: { images: 'train-images-idx3-ubyte.gz', labels: 'train-labels-idx1-ubyte.gz' },
  test: { images: 't10k-images-idx3-ubyte.gz', labels: 't10k-labels-idx1-ubyte.gz' },
} as const;

export const FASHION_MNIST_CLASSES = [
  'tshirt_top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle_boot',
] as const;

export const INSTALL_HINT = 'apt-get install dataset-fashion-mnist';

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

/**
 * The check a stage reading IDX files runs before it starts: `files` are names under `dir`. For
 * Fashion-MNIST's own file names, the problem says how to install the Debian package.
 */
export async function checkIdxFiles(dir: string, files: readonly string[], fashionMnist: boolean): Promise<StageProblem[]> {
  const missing: string[] = [];
  for (const name of files) if (!(await exists(join(dir, name)))) missing.push(name);
  if (missing.length === 0) return [];
  const hint = `${INSTALL_HINT} (Debian/Ubuntu, as root) installs it in ${FASHION_MNIST_DIR}`;
  if (fashionMnist && missing.length === files.length) return [{ message: `Fashion-MNIST is not installed (no IDX files in ${dir})`, path: dir, hint }];
  return [{ message: `${missing.length} IDX file(s) missing in ${dir}: ${missing.join(', ')}`, ...(fashionMnist ? { hint } : {}) }];
}

const FASHION_FILE_NAMES = [FASHION_MNIST_FILES.train.images, FASHION_MNIST_FILES.train.labels, FASHION_MNIST_FILES.test.images, FASHION_MNIST_FILES.test.labels];

export function checkFashionMnist(dir: string = FASHION_MNIST_DIR): Promise<StageProblem[]> {
  return checkIdxFiles(dir, FASHION_FILE_NAMES, true);
}

export interface FashionMnist {
  readonly train: IdxDataset;
  readonly test: IdxDataset;
}

export async function loadFashionMnist(dir: string = FASHION_MNIST_DIR): Promise<Result<FashionMnist, DataError>> {
  for (const part of [FASHION_MNIST_FILES.train, FASHION_MNIST_FILES.test]) {
    for (const name of [part.images, part.labels]) {
      const file = join(dir, name);
      try {
        await access(file);
      } catch {
        return err(dataError('missing-package', `Fashion-MNIST file is missing; install it with \`${INSTALL_HINT}\` (Debian package dataset-fashion-mnist)`, file));
      }
    }
  }
  const train = await readIdxPair(join(dir, FASHION_MNIST_FILES.train.images), join(dir, FASHION_MNIST_FILES.train.labels));
  if (!train.ok) return train;
  const test = await readIdxPair(join(dir, FASHION_MNIST_FILES.test.images), join(dir, FASHION_MNIST_FILES.test.labels));
  if (!test.ok) return test;
  return { ok: true, value: { train: train.value, test: test.value } };
}
