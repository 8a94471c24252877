/**
 * Tiny grayscale rasteriser for the mini suite, in plain TypeScript so the images are the same bytes on
 * every machine (no dependence on a libvips build). Canvases are Float32Array in [0, 1], row-major.
 */

export interface Canvas {
  readonly size: number;
  readonly data: Float32Array;
}

export function newCanvas(size: number): Canvas {
  return { size, data: new Float32Array(size * size) };
}

/** Rounds to uint8 (clamped). */
export function toBytes(canvas: Canvas): Uint8Array {
  const out = new Uint8Array(canvas.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.max(0, Math.min(255, Math.round((canvas.data[i] as number) * 255)));
  return out;
}

// Hot paths below avoid per-call closures and array literals: they dominate the suite's build time.
function pixelAt(img: Uint8Array, w: number, h: number, x: number, y: number): number {
  return x < 0 || y < 0 || x >= w || y >= h ? 0 : (img[y * w + x] as number);
}

/** Bilinear sample of an 8-bit image (pixel centres at +0.5), 0 outside. */
function sample(img: Uint8Array, w: number, h: number, x: number, y: number): number {
  const fx = x - 0.5;
  const fy = y - 0.5;
  const x0 = Math.floor(fx);
  const y0 = Math.floor(fy);
  const ax = fx - x0;
  const ay = fy - y0;
  const top = pixelAt(img, w, h, x0, y0) * (1 - ax) + pixelAt(img, w, h, x0 + 1, y0) * ax;
  const bottom = pixelAt(img, w, h, x0, y0 + 1) * (1 - ax) + pixelAt(img, w, h, x0 + 1, y0 + 1) * ax;
  return (top * (1 - ay) + bottom * ay) / 255;
}

export interface Placement {
  /** Centre in canvas pixels. */
  readonly cx: number;
  readonly cy: number;
  /** Side of the item's square on the canvas, pixels. */
  readonly size: number;
  /** Radians, counter-clockwise. */
  readonly angle: number;
}

/**
 * Pastes a (square, dark-background) item image scaled/rotated onto the canvas, keeping the brighter
 * value where items meet (they are light on black). 2x2 supersampling against aliasing when shrinking.
 */
export function pasteItem(canvas: Canvas, item: Uint8Array, itemSide: number, p: Placement): void {
  const { size, data } = canvas;
  const cos = Math.cos(p.angle);
  const sin = Math.sin(p.angle);
  const k = itemSide / p.size;
  const reach = (p.size * Math.SQRT2) / 2 + 1;
  const x0 = Math.max(0, Math.floor(p.cx - reach));
  const x1 = Math.min(size - 1, Math.ceil(p.cx + reach));
  const y0 = Math.max(0, Math.floor(p.cy - reach));
  const y1 = Math.min(size - 1, Math.ceil(p.cy + reach));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      let acc = 0;
      for (let oy = 0.25; oy < 1; oy += 0.5) {
        for (let ox = 0.25; ox < 1; ox += 0.5) {
          const dx = x + ox - p.cx;
          const dy = y + oy - p.cy;
          // inverse rotation into item coordinates
          const u = (dx * cos + dy * sin) * k + itemSide / 2;
          const v = (-dx * sin + dy * cos) * k + itemSide / 2;
          acc += sample(item, itemSide, itemSide, u, v);
        }
      }
      const value = acc / 4;
      const i = y * size + x;
      if (value > (data[i] as number)) data[i] = value;
    }
  }
}

/** A shape as an inside test in its own unit frame ([-1, 1] square). */
export type InsideTest = (x: number, y: number) => boolean;

/**
 * Draws a filled shape with 4x4 supersampled coverage (anti-aliased edges), at `intensity`, keeping the
 * brighter value where shapes meet.
 */
export function drawShape(canvas: Canvas, inside: InsideTest, p: Placement, intensity: number): void {
  const { size, data } = canvas;
  const cos = Math.cos(p.angle);
  const sin = Math.sin(p.angle);
  const half = p.size / 2;
  const reach = half * Math.SQRT2 + 1;
  const x0 = Math.max(0, Math.floor(p.cx - reach));
  const x1 = Math.min(size - 1, Math.ceil(p.cx + reach));
  const y0 = Math.max(0, Math.floor(p.cy - reach));
  const y1 = Math.min(size - 1, Math.ceil(p.cy + reach));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      let hits = 0;
      for (let sy = 0; sy < 4; sy++) {
        for (let sx = 0; sx < 4; sx++) {
          const dx = x + (sx + 0.5) / 4 - p.cx;
          const dy = y + (sy + 0.5) / 4 - p.cy;
          const u = (dx * cos + dy * sin) / half;
          const v = (-dx * sin + dy * cos) / half;
          if (u >= -1 && u <= 1 && v >= -1 && v <= 1 && inside(u, v)) hits++;
        }
      }
      if (hits === 0) continue;
      const value = (hits / 16) * intensity;
      const i = y * size + x;
      if (value > (data[i] as number)) data[i] = value;
    }
  }
}

/** Fills the canvas from a field f(x, y) in canvas pixels, 2x2 supersampled. */
export function fillField(canvas: Canvas, f: (x: number, y: number) => number): void {
  const { size, data } = canvas;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      data[y * size + x] = (f(x + 0.25, y + 0.25) + f(x + 0.75, y + 0.25) + f(x + 0.25, y + 0.75) + f(x + 0.75, y + 0.75)) / 4;
    }
  }
}
