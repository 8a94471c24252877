/** Shared fixtures of the ML tests: a tiny ViT config and seeded synthetic data. */
import { createViT, type ViT, type ViTConfig } from '../src/ml/index.js';
import type { Dataset } from '../src/ml/index.js';
import { createRng } from '../src/util/rng.js';

export const TINY: ViTConfig = {
  imageSize: 8, channels: 1, patchSize: 4, width: 16, depth: 2, heads: 2, mlpRatio: 2,
  dropout: 0, attentionDropout: 0, numClasses: 4, promptLength: 0, promptMode: 'deep', promptDropout: 0,
};

export const tinyWith = (o: Partial<ViTConfig>): ViTConfig => ({ ...TINY, ...o });

/** `n` random images with labels 0..classes-1 (cycled), normalised-looking values. */
export function randomData(n: number, seed: number, c: ViTConfig = TINY): Dataset {
  const rng = createRng(seed);
  const size = c.imageSize * c.imageSize * c.channels;
  const images = new Float32Array(n * size);
  for (let i = 0; i < images.length; i++) images[i] = rng.normal();
  const labels = Int32Array.from({ length: n }, (_, i) => i % c.numClasses);
  return { images, labels, count: n };
}

/** Raw uint8 images whose class is a bright quadrant (learnable by a tiny ViT). */
export function quadrantImages(n: number, seed: number, size = 8, classes = 4): { images: Uint8Array; labels: Int32Array } {
  const rng = createRng(seed);
  const images = new Uint8Array(n * size * size);
  const labels = new Int32Array(n);
  const h = size / 2;
  for (let i = 0; i < n; i++) {
    const k = i % classes;
    labels[i] = k;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const q = (y < h ? 0 : 2) + (x < h ? 0 : 1);
        images[i * size * size + y * size + x] = q === k ? 180 + rng.int(70) : rng.int(80);
      }
    }
  }
  return { images, labels };
}

export function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  return true;
}

/** A model built from a config, failing the test on a bad config. */
export function build(c: ViTConfig, seed = 1): ViT {
  const m = createViT(c, seed);
  if (!m.ok) throw new Error(m.error.message);
  return m.value;
}

