/** Fashion-MNIST from Debian's `dataset-fashion-mnist` package (gzipped IDX, 28x28 grayscale, 10 classes). */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { err, type Result } from '../../util/result.js';
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
