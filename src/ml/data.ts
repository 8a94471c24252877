/** In-memory datasets for training: patchified once in JS so every step starts from a gather. */
import type { ViTConfig } from './config.js';

export interface Dataset {
  /** Normalised NHWC float32 [count, H, W, C]. */
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
}

/** [count, H, W, C] -> [count, N, p*p*C] in the HWIO kernel's (row, col, channel) order. */
export function patchify(images: Float32Array, count: number, c: ViTConfig): Float32Array {
  const { imageSize: S, patchSize: p, channels: C } = c;
  const g = S / p;
  const per = p * p * C;
  if (images.length !== count * S * S * C) throw new RangeError(`patchify: ${images.length} values is not ${count} images of ${S}x${S}x${C}`);
  const out = new Float32Array(images.length);
  let o = 0;
  for (let n = 0; n < count; n++) {
    const base = n * S * S * C;
    for (let gy = 0; gy < g; gy++) {
      for (let gx = 0; gx < g; gx++) {
        for (let y = 0; y < p; y++) {
          const row = base + ((gy * p + y) * S + gx * p) * C;
          out.set(images.subarray(row, row + p * C), o);
          o += p * C;
        }
      }
    }
  }
  void per;
  return out;
}

/** Copies rows `idx` of a [count, rowSize] array into one batch buffer. */
export function gatherRows(src: Float32Array, rowSize: number, idx: ArrayLike<number>): Float32Array {
  const out = new Float32Array(idx.length * rowSize);
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i] as number;
    out.set(src.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize);
  }
  return out;
}
