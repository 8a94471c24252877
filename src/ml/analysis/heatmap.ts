/**
 * Turning attribution maps into pictures: min-max normalisation, bilinear upsampling of the
 * patch grid to the image size, a jet colormap, alpha overlay on the (de-normalised) input, and
 * RGB PNG encoding. Plain arrays in, plain arrays or PNG bytes out.
 */
import { deflateSync } from 'node:zlib';

/** Scales to [0, 1] by min and max (all-equal maps become zeros). */
export function normalizeMap(map: ArrayLike<number>): Float32Array {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < map.length; i++) {
    const v = map[i] as number;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const out = new Float32Array(map.length);
  const range = hi - lo;
  if (!(range > 0)) return out;
  for (let i = 0; i < map.length; i++) out[i] = ((map[i] as number) - lo) / range;
  return out;
}

/** Scales to [0, 1] by the q-quantile (e.g. 0.99), clipping above: keeps a few hot pixels from washing out IG maps. */
export function normalizeByQuantile(map: ArrayLike<number>, q: number): Float32Array {
  const sorted = Float32Array.from(map).sort();
  const top = sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(q * (sorted.length - 1))))] ?? 0;
  const out = new Float32Array(map.length);
  if (!(top > 0)) return normalizeMap(map);
  for (let i = 0; i < map.length; i++) out[i] = Math.min(1, Math.max(0, (map[i] as number) / top));
  return out;
}

/** Bilinear resize of an h*w map to H*W, half-pixel centres (align_corners=false). */
export function upsampleBilinear(map: ArrayLike<number>, h: number, w: number, outH: number, outW: number): Float32Array {
  const out = new Float32Array(outH * outW);
  const sy = h / outH, sx = w / outW;
  for (let y = 0; y < outH; y++) {
    const fy = Math.min(h - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy), y1 = Math.min(h - 1, y0 + 1), ty = fy - y0;
    for (let x = 0; x < outW; x++) {
      const fx = Math.min(w - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx), x1 = Math.min(w - 1, x0 + 1), tx = fx - x0;
      const top = (map[y0 * w + x0] as number) * (1 - tx) + (map[y0 * w + x1] as number) * tx;
      const bottom = (map[y1 * w + x0] as number) * (1 - tx) + (map[y1 * w + x1] as number) * tx;
      out[y * outW + x] = top * (1 - ty) + bottom * ty;
    }
  }
  return out;
}

/** Jet colormap: blue (0) -> cyan -> yellow -> red (1), as 0..255 RGB. */
export function jet(t: number): [number, number, number] {
  const v = Math.min(1, Math.max(0, t));
  const ch = (centre: number): number => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - centre))));
  return [ch(3), ch(2), ch(1)];
}

/**
 * Normalised NHWC pixels of one image back to 0..255 RGB (grey images repeat their channel),
 * inverting (x/255 - mean) / std.
 */
export function denormalizeImage(pixels: ArrayLike<number>, h: number, w: number, c: number, mean: readonly number[], std: readonly number[]): Uint8Array {
  const out = new Uint8Array(h * w * 3);
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < 3; k++) {
      const ch = c === 1 ? 0 : Math.min(k, c - 1);
      const v = ((pixels[i * c + ch] as number) * (std[ch] ?? 1) + (mean[ch] ?? 0)) * 255;
      out[i * 3 + k] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
  return out;
}

/** Heat (already in [0,1], H*W) blended over an RGB image with weight `alpha`. */
export function overlay(rgb: Uint8Array, heat: ArrayLike<number>, alpha = 0.5): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < heat.length; i++) {
    const col = jet(heat[i] as number);
    for (let k = 0; k < 3; k++) out[i * 3 + k] = Math.round((1 - alpha) * (rgb[i * 3 + k] as number) + alpha * col[k]!);
  }
  return out;
}

/** A [0,1] map as a colour-mapped RGB image (no background). */
export function colorize(heat: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(heat.length * 3);
  for (let i = 0; i < heat.length; i++) out.set(jet(heat[i] as number), i * 3);
  return out;
}

/** RGB bytes -> PNG file bytes (8-bit truecolour, filter 0; small and dependency-free). */
export function encodePng(rgb: Uint8Array, width: number, height: number): Buffer {
  if (rgb.length !== width * height * 3) throw new RangeError(`encodePng: ${rgb.length} bytes for ${width}x${height} RGB`);
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** Width, height, bit depth and colour type from a PNG's IHDR, or undefined if it is not a PNG. */
export function readPngHeader(bytes: Uint8Array): { width: number; height: number; bitDepth: number; colorType: number } | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 33 || !b.subarray(0, 8).equals(PNG_SIGNATURE) || b.toString('ascii', 12, 16) !== 'IHDR') return undefined;
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20), bitDepth: b[24] as number, colorType: b[25] as number };
}
