/** A real two-stage training pipeline that runs in seconds: toy IDX data -> data.idx -> train.vit. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { idxBytes, tempDir } from '../fixtures/data/make.js';

/** 1,040 8x8 grey images of two classes (bright / dark), as gzipped IDX in a new folder. */
export async function toyIdxData(): Promise<string> {
  const dir = await tempDir('toy-idx');
  const side = 8;
  const n = 1040;
  const images = new Uint8Array(n * side * side);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    for (let k = 0; k < side * side; k++) images[i * side * side + k] = (labels[i] === 1 ? 180 : 60) + ((i * 7 + k * 3) % 50);
  }
  await writeFile(join(dir, 'ti.gz'), idxBytes([n, side, side], images));
  await writeFile(join(dir, 'tl.gz'), idxBytes([n], labels));
  return dir;
}

/** `prep` (data.idx) and `fit` (train.vit, VPT-deep on a one-block ViT); `matrix` adds a matrix to fit. */
export function toyTrainingPipeline(dataDir: string, options: { readonly matrix?: string; readonly seed?: string } = {}): string {
  return `
stages:
  prep:
    uses: data.idx
    with: { dir: ${dataDir}, trainImages: ti.gz, trainLabels: tl.gz, testImages: ti.gz, testLabels: tl.gz, name: toy, numClasses: 2, imageSize: 8, testSize: 32 }
  fit:${options.matrix ? `\n    matrix: ${options.matrix}` : ''}
    uses: train.vit
    with:
      data: \${{ stages.prep.outputs.tasks }}/toy
      method: vpt-deep
      promptLength: 2
      model: { imageSize: 8, channels: 1, patchSize: 4, width: 8, depth: 1, heads: 1, mlpRatio: 1, dropout: 0 }
      trainSplit: train800
      evalSplits: [test]
      testSplit: test
      epochs: 2
      batch: 64
      baseLr: 0.5
      seed: ${options.seed ?? '3'}
`;
}
