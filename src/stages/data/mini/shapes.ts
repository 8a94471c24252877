/** Procedural shapes (dSprites-like) and textures (DTD-like) for the far-similarity mini tasks. */
import type { Rng } from '../../../util/rng.js';
import type { InsideTest } from './raster.js';

export const SHAPES: Readonly<Record<string, InsideTest>> = {
  square: (x, y) => Math.abs(x) <= 0.75 && Math.abs(y) <= 0.75,
  circle: (x, y) => x * x + y * y <= 0.8 * 0.8,
  triangle: (x, y) => y <= 0.7 && y >= -0.85 + 1.55 * Math.abs(x) * (1 / 0.9),
  cross: (x, y) => (Math.abs(x) <= 0.28 && Math.abs(y) <= 0.85) || (Math.abs(y) <= 0.28 && Math.abs(x) <= 0.85),
  heart: (x, y) => {
    // implicit heart curve, flipped so the point is at the bottom (+y is down on the canvas)
    const a = x * 1.15;
    const b = -y * 1.15 + 0.25;
    const t = a * a + b * b - 0.6;
    return t * t * t - a * a * b * b * b <= 0;
  },
};

export const SHAPE_NAMES = Object.keys(SHAPES);

/** An arrow pointing to +x: no rotational symmetry, so its orientation is well defined over 360 degrees. */
export const ARROW: InsideTest = (x, y) => (x <= 0.1 && x >= -0.85 && Math.abs(y) <= 0.2) || (x > 0.1 && x <= 0.85 && Math.abs(y) <= (0.85 - x) * 0.85);

export const TEXTURE_NAMES = ['striped', 'checkered', 'dotted', 'grid', 'blotchy', 'zigzag'] as const;
export type TextureName = (typeof TEXTURE_NAMES)[number];

/** A random instance of a texture class as a field over canvas pixels, values in [0, 1]. */
export function textureField(name: TextureName, size: number, rng: Rng): (x: number, y: number) => number {
  const period = size / (3 + rng.next() * 3); // 3..6 repeats across the image
  const angle = (rng.next() - 0.5) * 0.6; // mild tilt; texture classes stay rotation-distinct
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const phase = rng.next() * period;
  const lo = 0.05 + rng.next() * 0.2;
  const hi = 0.7 + rng.next() * 0.3;
  const rot = (x: number, y: number): [number, number] => [x * cos - y * sin + phase, x * sin + y * cos + phase];
  const frac = (v: number): number => v - Math.floor(v);
  const mix = (on: boolean): number => (on ? hi : lo);
  switch (name) {
    case 'striped':
      return (x, y) => mix(frac(rot(x, y)[0] / period) < 0.5);
    case 'checkered':
      return (x, y) => {
        const [u, v] = rot(x, y);
        return mix((Math.floor(u / period) + Math.floor(v / period)) % 2 === 0);
      };
    case 'dotted': {
      const r = 0.2 + rng.next() * 0.12;
      return (x, y) => {
        const [u, v] = rot(x, y);
        const du = frac(u / period) - 0.5;
        const dv = frac(v / period) - 0.5;
        return mix(du * du + dv * dv <= r * r);
      };
    }
    case 'grid': {
      const w = 0.12 + rng.next() * 0.08;
      return (x, y) => {
        const [u, v] = rot(x, y);
        return mix(frac(u / period) < w || frac(v / period) < w);
      };
    }
    case 'blotchy': {
      // smooth value noise on a coarse lattice, thresholded into blobs
      const cells = 4 + rng.int(3);
      const lattice = Array.from({ length: (cells + 1) * (cells + 1) }, () => rng.next());
      const at = (i: number, j: number): number => lattice[j * (cells + 1) + i] as number;
      const smooth = (t: number): number => t * t * (3 - 2 * t);
      return (x, y) => {
        const gx = (x / size) * cells;
        const gy = (y / size) * cells;
        const i = Math.min(cells - 1, Math.floor(gx));
        const j = Math.min(cells - 1, Math.floor(gy));
        const tx = smooth(gx - i);
        const ty = smooth(gy - j);
        const n = (at(i, j) * (1 - tx) + at(i + 1, j) * tx) * (1 - ty) + (at(i, j + 1) * (1 - tx) + at(i + 1, j + 1) * tx) * ty;
        return lo + (hi - lo) * n;
      };
    }
    case 'zigzag': {
      const amp = 0.25 + rng.next() * 0.2;
      return (x, y) => {
        const [u, v] = rot(x, y);
        const tri = Math.abs(frac(v / period) * 2 - 1) * amp * period;
        return mix(frac((u + tri) / period) < 0.45);
      };
    }
  }
}
