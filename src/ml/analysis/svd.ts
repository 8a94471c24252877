/**
 * The nuclear norm (sum of singular values) of a dense matrix, without squaring it: Householder
 * bidiagonalisation (Golub–Kahan), then the eigenvalues of the 2n x 2n tridiagonal matrix with
 * zero diagonal and the bidiagonal's entries off it, which are exactly ±σ. Every σ then carries
 * an absolute error of about eps·σ_max, where the eigenvalues of K Kᵀ give sqrt(eps)·σ_max for the
 * small ones. FID takes this route when its fast one cannot vouch for its small eigenvalues
 * (features whose scales span many orders of magnitude, rank-deficient sets). Scalar: it is the
 * careful route, not the common one.
 */
import { transpose } from './gemm.js';
import { reflector, tridiagonalQL } from './linalg.js';

/** Σσ of the m x n row-major matrix k; undefined if the tridiagonal QL does not converge. */
export function nuclearNorm(k: Float64Array, m: number, n: number): number | undefined {
  if (m === 0 || n === 0) return 0;
  // Work on the tall orientation (rows >= columns).
  const tall = m >= n;
  const rows = tall ? m : n, cols = tall ? n : m;
  const a = tall ? Float64Array.from(k) : transpose(k, m, n);
  const alpha = new Float64Array(cols);
  const beta = new Float64Array(cols);
  const s = new Float64Array(cols);
  const v = new Float64Array(rows);
  for (let j = 0; j < cols; j++) {
    // Left reflection: zero column j below the diagonal.
    let tail = 0;
    for (let i = j + 1; i < rows; i++) tail += (a[i * cols + j] as number) ** 2;
    const x0 = a[j * cols + j] as number;
    if (tail === 0) {
      alpha[j] = x0;
    } else {
      const h = reflector(x0, tail);
      v[j] = h.head;
      for (let i = j + 1; i < rows; i++) v[i] = (a[i * cols + j] as number) / h.norm;
      alpha[j] = h.alpha;
      s.fill(0, j + 1);
      for (let i = j; i < rows; i++) {
        const vi = v[i] as number;
        const ri = i * cols;
        for (let c = j + 1; c < cols; c++) s[c] = (s[c] as number) + vi * (a[ri + c] as number);
      }
      for (let i = j; i < rows; i++) {
        const vi2 = 2 * (v[i] as number);
        const ri = i * cols;
        for (let c = j + 1; c < cols; c++) a[ri + c] = (a[ri + c] as number) - vi2 * (s[c] as number);
      }
    }
    if (j >= cols - 1) continue;
    // Right reflection: zero row j right of the superdiagonal.
    const rj = j * cols;
    let rtail = 0;
    for (let c = j + 2; c < cols; c++) rtail += (a[rj + c] as number) ** 2;
    const y0 = a[rj + j + 1] as number;
    if (rtail === 0) {
      beta[j] = y0;
      continue;
    }
    const h = reflector(y0, rtail);
    const u = new Float64Array(cols);
    u[j + 1] = h.head;
    for (let c = j + 2; c < cols; c++) u[c] = (a[rj + c] as number) / h.norm;
    beta[j] = h.alpha;
    for (let i = j + 1; i < rows; i++) {
      const ri = i * cols;
      let t = 0;
      for (let c = j + 1; c < cols; c++) t += (a[ri + c] as number) * (u[c] as number);
      t *= 2;
      for (let c = j + 1; c < cols; c++) a[ri + c] = (a[ri + c] as number) - t * (u[c] as number);
    }
  }
  const size = 2 * cols;
  const d = new Float64Array(size);
  const e = new Float64Array(size);
  for (let j = 0; j < cols; j++) {
    e[2 * j] = alpha[j] as number;
    if (j < cols - 1) e[2 * j + 1] = beta[j] as number;
  }
  if (!tridiagonalQL(d, e, size, undefined)) return undefined;
  let sum = 0;
  for (const x of d) sum += Math.abs(x);
  return sum / 2;
}
