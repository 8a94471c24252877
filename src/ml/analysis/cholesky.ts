/**
 * Factors S = Fᵀ F of a symmetric positive semi-definite covariance, for FID's trace term
 * Tr((S1 S2)^½) = Σ sqrt(eig(F1 S2 F1ᵀ)): a factor turns the non-symmetric product into a
 * symmetric eigenvalue problem without S1's eigenvectors.
 *
 * The fast path is a blocked, unpivoted Cholesky (the panel updates are `gemmNT`); a covariance
 * that is singular in floating point (a duplicated or constant feature) sends it to the pivoted
 * factorisation, which stops at the numerical rank like LAPACK's dpstrf.
 */
import { dotRun, gemmNT } from './gemm.js';

export interface Factor {
  /** r x d row-major, S = Fᵀ F. */
  readonly rows: Float64Array;
  readonly r: number;
  readonly d: number;
  /** Row j is zero before column j (an unpivoted Cholesky's Lᵀ): products may skip those columns. */
  readonly upper: boolean;
  readonly kind: 'cholesky' | 'pivoted-cholesky';
}

const EPS = 2 ** -52;
const NB = 64;

/** S = Fᵀ F for a symmetric PSD d x d matrix (only the lower triangle is read). */
export function psdFactor(s: Float64Array, d: number): Factor {
  return cholesky(s, d) ?? pivotedCholesky(s, d);
}

function rankTolerance(s: Float64Array, d: number): number {
  let maxDiag = 0;
  for (let i = 0; i < d; i++) maxDiag = Math.max(maxDiag, s[i * d + i] as number);
  return d * EPS * maxDiag;
}

/** Blocked left-looking Cholesky, S = L Lᵀ, returned as F = Lᵀ; undefined if a pivot is numerically zero or negative. */
export function cholesky(s: Float64Array, d: number): Factor | undefined {
  const l = Float64Array.from(s);
  for (let j0 = 0; j0 < d; j0 += NB) {
    const jb = Math.min(NB, d - j0);
    // Columns j0..j0+jb of every row below j0, minus what the earlier columns of L explain.
    if (j0 > 0) {
      gemmNT({ data: l, offset: j0 * d, stride: d }, { data: l, offset: j0 * d, stride: d }, { data: l, offset: j0 * d + j0, stride: d }, { m: d - j0, n: jb, k: j0, alpha: -1, accumulate: true });
    }
    for (let j = j0; j < j0 + jb; j++) {
      const rj = j * d;
      const pivot = (l[rj + j] as number) - dotRun(l, rj + j0, l, rj + j0, j - j0);
      // Numerically zero relative to this feature's own variance (not the largest one: features
      // of very different scales are fine here), i.e. the feature is a combination of earlier ones.
      if (!(pivot > d * EPS * (s[rj + j] as number))) return undefined;
      const root = Math.sqrt(pivot);
      l[rj + j] = root;
      for (let i = j + 1; i < d; i++) {
        const ri = i * d;
        l[ri + j] = ((l[ri + j] as number) - dotRun(l, ri + j0, l, rj + j0, j - j0)) / root;
      }
    }
  }
  const f = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) f[j * d + i] = l[i * d + j] as number;
  return { rows: f, r: d, d, upper: true, kind: 'cholesky' };
}

/**
 * Cholesky with diagonal pivoting, P S Pᵀ = L Lᵀ, stopped when the largest remaining pivot is
 * below d·eps·max(diag S): F = Lᵀ P, r x d. Left-looking and scalar: only singular covariances
 * with more samples than dimensions come here.
 */
export function pivotedCholesky(s: Float64Array, d: number): Factor {
  const tol = rankTolerance(s, d);
  const a = Float64Array.from(s);
  for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) a[i * d + j] = a[j * d + i] as number;
  const l = new Float64Array(d * d); // row i: L[i][0..j) in pivoted order
  const diag = new Float64Array(d);
  for (let i = 0; i < d; i++) diag[i] = a[i * d + i] as number;
  const perm = Array.from({ length: d }, (_, i) => i);
  let r = 0;
  for (let j = 0; j < d; j++) {
    let p = j;
    for (let i = j + 1; i < d; i++) if ((diag[i] as number) > (diag[p] as number)) p = i;
    if (!((diag[p] as number) > tol)) break;
    if (p !== j) {
      swapSymmetric(a, d, j, p);
      for (let t = 0; t < j; t++) {
        const x = l[j * d + t] as number;
        l[j * d + t] = l[p * d + t] as number;
        l[p * d + t] = x;
      }
      [diag[j], diag[p]] = [diag[p] as number, diag[j] as number];
      [perm[j], perm[p]] = [perm[p] as number, perm[j] as number];
    }
    const root = Math.sqrt(diag[j] as number);
    l[j * d + j] = root;
    for (let i = j + 1; i < d; i++) {
      const v = ((a[i * d + j] as number) - dotRun(l, i * d, l, j * d, j)) / root;
      l[i * d + j] = v;
      diag[i] = (diag[i] as number) - v * v;
    }
    r = j + 1;
  }
  // F[j][perm[i]] = L[i][j]: back to the original feature order.
  const f = new Float64Array(r * d);
  for (let i = 0; i < d; i++) {
    const col = perm[i] as number;
    for (let j = 0; j < Math.min(r, i + 1); j++) f[j * d + col] = l[i * d + j] as number;
  }
  return { rows: f, r, d, upper: false, kind: 'pivoted-cholesky' };
}

/** Swaps index i and j of a fully stored symmetric matrix (rows, then columns). */
function swapSymmetric(a: Float64Array, d: number, i: number, j: number): void {
  for (let t = 0; t < d; t++) {
    const x = a[i * d + t] as number;
    a[i * d + t] = a[j * d + t] as number;
    a[j * d + t] = x;
  }
  for (let t = 0; t < d; t++) {
    const x = a[t * d + i] as number;
    a[t * d + i] = a[t * d + j] as number;
    a[t * d + j] = x;
  }
}
