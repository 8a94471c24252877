/**
 * The one dense product FID needs, in the form its matrices are stored: C (+)= alpha · A Bᵀ, with
 * A's and B's rows contiguous (row-major), so every output entry is a dot product of two rows.
 * A covariance (XᵀX of the transposed features), A Bᵀ of two feature sets, F S Fᵀ and the
 * Cholesky panel updates are all this product. It runs in the wasm SIMD kernels on packed
 * copies of the operands (f64-kernels.wat), or in TypeScript, blocked over k and register-tiled
 * 2 x 4 the same way, where the kernels are unavailable.
 */
import { f64Kernels, fitsKernels, GEMM_A_UPPER, GEMM_LOWER } from './f64-kernels.js';

export interface Operand {
  readonly data: Float64Array;
  /** Index of element (0, 0). */
  readonly offset: number;
  /** Distance between rows. */
  readonly stride: number;
}

export interface GemmShape {
  /** Rows of A (and of C). */
  readonly m: number;
  /** Rows of B (columns of C). */
  readonly n: number;
  /** Row length used from A and B. */
  readonly k: number;
  /** C is symmetric: only j <= i is computed (the caller mirrors it if needed). */
  readonly lower?: boolean;
  /** C = alpha·ABᵀ + (accumulate ? C : 0). */
  readonly alpha?: number;
  readonly accumulate?: boolean;
  /** A[i][t] is zero for t < i (a triangular factor): those products are skipped. */
  readonly aUpper?: boolean;
}

const KC = 256;

/** C[i][j] = alpha · Σ_k A[i][k] B[j][k] (+ C when accumulating): in wasm SIMD where available. */
export function gemmNT(a: Operand, b: Operand, c: Operand, shape: GemmShape): void {
  const kernels = f64Kernels();
  const { m, n, k } = shape;
  if (m === 0 || n === 0) return;
  if (!kernels || !fitsKernels((m + 1) * (k + 1) + (n + 3) * (k + 1) + (m + 1) * (n + 3) + 8)) {
    gemmNTScalar(a, b, c, shape);
    return;
  }
  const lower = shape.lower ?? false;
  // Packed and zero-padded: m to even, n to a multiple of 4, k to even (see gemm_packed).
  const mp = m + (m & 1), np = (n + 3) & ~3, kp = k + (k & 1);
  kernels.reserve(mp * kp + np * kp + mp * np + 8);
  const sa = kernels.slab(mp * kp), sb = kernels.slab(np * kp), sc = kernels.slab(mp * np);
  packRows(a, m, k, sa.view(), 2, kp);
  packRows(b, n, k, sb.view(), 4, kp);
  const vc = sc.view();
  const cols = (i: number): number => (lower ? Math.min(n, i + 1) : n);
  vc.fill(0);
  if (shape.accumulate ?? false) {
    for (let i = 0; i < m; i++) vc.set(c.data.subarray(c.offset + i * c.stride, c.offset + i * c.stride + cols(i)), i * np);
  }
  kernels.gemmPacked({ ap: sa.ptr, bp: sb.ptr, c: sc.ptr, ldc: np, m: mp, n: np, k: kp, alpha: shape.alpha ?? 1, flags: (lower ? GEMM_LOWER : 0) | (shape.aUpper ? GEMM_A_UPPER : 0) });
  for (let i = 0; i < m; i++) c.data.set(vc.subarray(i * np, i * np + cols(i)), c.offset + i * c.stride);
}

/**
 * Rows of x (count x k) into groups of `g` rows, interleaved by pairs of t: for each group and
 * each t pair, row r's x[t], x[t+1] for r in the group. Missing rows and the odd last t are zeros.
 */
function packRows(x: Operand, count: number, k: number, out: Float64Array, g: number, kp: number): void {
  out.fill(0);
  const X = x.data;
  for (let r = 0; r < count; r++) {
    const group = Math.floor(r / g), lane = r % g;
    const src = x.offset + r * x.stride;
    let dst = group * g * kp + lane * 2;
    const step = 2 * g;
    let t = 0;
    for (; t + 1 < k; t += 2, dst += step) {
      out[dst] = X[src + t] as number;
      out[dst + 1] = X[src + t + 1] as number;
    }
    if (t < k) out[dst] = X[src + t] as number;
  }
}

/** The TypeScript version of `gemmNT` (same blocking idea, scalar). */
export function gemmNTScalar(a: Operand, b: Operand, c: Operand, shape: GemmShape): void {
  const { m, n, k } = shape;
  const lower = shape.lower ?? false;
  const upper = shape.aUpper ?? false;
  const alpha = shape.alpha ?? 1;
  const A = a.data, B = b.data, C = c.data;
  const lda = a.stride, ldb = b.stride, ldc = c.stride;
  if (!(shape.accumulate ?? false)) {
    for (let i = 0; i < m; i++) C.fill(0, c.offset + i * ldc, c.offset + i * ldc + (lower ? Math.min(n, i + 1) : n));
  }
  for (let k0 = 0; k0 < k; k0 += KC) {
    const kl = Math.min(KC, k - k0);
    let i = 0;
    for (; i + 1 < m; i += 2) {
      // Rows i, i+1 of a triangular A start at column i.
      const ks = upper ? Math.max(k0, i) : k0;
      if (ks >= k0 + kl) continue;
      const kLen = k0 + kl - ks;
      const a0 = a.offset + i * lda + ks, a1 = a0 + lda;
      const c0 = c.offset + i * ldc, c1 = c0 + ldc;
      // In lower mode rows i and i+1 both need j <= i; j = i+1 is row i+1's alone.
      const jEnd = lower ? Math.min(n, i + 1) : n;
      let j = 0;
      for (; j + 3 < jEnd; j += 4) {
        const b0 = b.offset + j * ldb + ks, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
        let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        for (let t = 0; t < kLen; t++) {
          const x0 = A[a0 + t] as number, x1 = A[a1 + t] as number;
          const y0 = B[b0 + t] as number, y1 = B[b1 + t] as number, y2 = B[b2 + t] as number, y3 = B[b3 + t] as number;
          s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
          s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
        }
        C[c0 + j] = (C[c0 + j] as number) + alpha * s00;
        C[c0 + j + 1] = (C[c0 + j + 1] as number) + alpha * s01;
        C[c0 + j + 2] = (C[c0 + j + 2] as number) + alpha * s02;
        C[c0 + j + 3] = (C[c0 + j + 3] as number) + alpha * s03;
        C[c1 + j] = (C[c1 + j] as number) + alpha * s10;
        C[c1 + j + 1] = (C[c1 + j + 1] as number) + alpha * s11;
        C[c1 + j + 2] = (C[c1 + j + 2] as number) + alpha * s12;
        C[c1 + j + 3] = (C[c1 + j + 3] as number) + alpha * s13;
      }
      for (; j < jEnd; j++) {
        const b0 = b.offset + j * ldb + ks;
        C[c0 + j] = (C[c0 + j] as number) + alpha * dotRun(A, a0, B, b0, kLen);
        C[c1 + j] = (C[c1 + j] as number) + alpha * dotRun(A, a1, B, b0, kLen);
      }
      if (lower && i + 1 < n) C[c1 + i + 1] = (C[c1 + i + 1] as number) + alpha * dotRun(A, a1, B, b.offset + (i + 1) * ldb + ks, kLen);
    }
    for (; i < m; i++) {
      const ks = upper ? Math.max(k0, i) : k0;
      if (ks >= k0 + kl) continue;
      const a0 = a.offset + i * lda + ks;
      const c0 = c.offset + i * ldc;
      const jEnd = lower ? Math.min(n, i + 1) : n;
      for (let j = 0; j < jEnd; j++) C[c0 + j] = (C[c0 + j] as number) + alpha * dotRun(A, a0, B, b.offset + j * ldb + ks, k0 + kl - ks);
    }
  }
}

/** Dot product of x[xOff..xOff+len) and y[yOff..yOff+len), four accumulators. */
export function dotRun(x: Float64Array, xOff: number, y: Float64Array, yOff: number, len: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let t = 0;
  for (; t + 3 < len; t += 4) {
    s0 += (x[xOff + t] as number) * (y[yOff + t] as number);
    s1 += (x[xOff + t + 1] as number) * (y[yOff + t + 1] as number);
    s2 += (x[xOff + t + 2] as number) * (y[yOff + t + 2] as number);
    s3 += (x[xOff + t + 3] as number) * (y[yOff + t + 3] as number);
  }
  for (; t < len; t++) s0 += (x[xOff + t] as number) * (y[yOff + t] as number);
  return s0 + s1 + s2 + s3;
}

/** Copies the lower triangle of a square row-major matrix onto its upper triangle. */
export function mirrorLower(c: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) c[i * n + j] = c[j * n + i] as number;
}

/** Row-major transpose of an m x n matrix. */
export function transpose(x: Float64Array | Float32Array, m: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  const T = 32;
  for (let i0 = 0; i0 < m; i0 += T) {
    for (let j0 = 0; j0 < n; j0 += T) {
      const iEnd = Math.min(m, i0 + T), jEnd = Math.min(n, j0 + T);
      for (let i = i0; i < iEnd; i++) for (let j = j0; j < jEnd; j++) out[j * m + i] = x[i * n + j] as number;
    }
  }
  return out;
}

export const full = (data: Float64Array, stride: number, offset = 0): Operand => ({ data, offset, stride });
