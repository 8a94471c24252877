/**
 * Dense float64 linear algebra for FID: symmetric eigendecomposition (Householder
 * tridiagonalisation + implicit QL with Wilkinson-style shifts) and the few products FID needs.
 *
 * Matrices are row-major Float64Array of n*n. Eigenvectors are returned as ROWS (row i is the
 * eigenvector of value i) so the QL rotations touch two contiguous rows instead of two strided
 * columns: on 2048x2048 that is the difference between cache hits and misses.
 */
import { err, ok, type Result } from '../../util/result.js';

export interface SymEig {
  /** Eigenvalues, ascending. */
  readonly values: Float64Array;
  /** Row i is the unit eigenvector for values[i] (row-major n*n); present when asked for. */
  readonly vectors?: Float64Array;
}

export type EigError = { readonly reason: 'no-convergence' | 'bad-input'; readonly message: string };

const EPS = 2 ** -52;

/** Eigen-decomposition of a symmetric matrix (only symmetry of the input is assumed, not checked). */
export function symmetricEigen(a: Float64Array, n: number, wantVectors: boolean): Result<SymEig, EigError> {
  if (!Number.isInteger(n) || n < 1 || a.length !== n * n) {
    return err({ reason: 'bad-input', message: `expected ${n}x${n} = ${n * n} values, got ${a.length}` });
  }
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i] as number)) return err({ reason: 'bad-input', message: `matrix entry ${i} is not finite` });
  }
  const { d, e, qT } = tridiagonalize(a, n, wantVectors);
  const converged = tridiagonalQL(d, e, n, qT);
  if (!converged) return err({ reason: 'no-convergence', message: `implicit QL did not converge for n=${n}` });
  // Sort ascending (and the vector rows with them).
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => (d[x] as number) - (d[y] as number));
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = d[order[i] as number] as number;
  if (!qT) return ok({ values });
  const vectors = new Float64Array(n * n);
  for (let i = 0; i < n; i++) vectors.set(qT.subarray((order[i] as number) * n, (order[i] as number) * n + n), i * n);
  return ok({ values, vectors });
}

/**
 * Householder reduction A = Q T Q^T. Returns the diagonal d, the sub-diagonal e (e[i] couples i
 * and i+1; e[n-1] = 0) and, if asked, Q^T (row-major) as the starting point of the vector rows.
 */
export function tridiagonalize(input: Float64Array, n: number, wantQ: boolean): { d: Float64Array; e: Float64Array; qT: Float64Array | undefined } {
  const a = Float64Array.from(input);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  // Householder vectors: row k holds v_k in columns k+1..n-1 (unit norm, or all zero when skipped).
  const hv = wantQ ? new Float64Array(n * n) : undefined;
  const p = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    const row = k * n;
    d[k] = a[row + k] as number;
    // Only the lower triangle is kept up to date: copy column k into row k (contiguous) first.
    for (let j = k + 1; j < n; j++) a[row + j] = a[j * n + k] as number;
    let tail2 = 0;
    for (let j = k + 2; j < n; j++) tail2 += (a[row + j] as number) ** 2;
    const x0 = a[row + k + 1] as number;
    const sigma2 = tail2 + x0 * x0;
    if (tail2 === 0) {
      // Already tridiagonal in this column: no reflection needed.
      e[k] = x0;
      continue;
    }
    const sigma = Math.sqrt(sigma2);
    const alpha = x0 >= 0 ? -sigma : sigma;
    const v0 = x0 - alpha;
    const vnorm = Math.sqrt(tail2 + v0 * v0);
    const v = new Float64Array(n);
    v[k + 1] = v0 / vnorm;
    for (let j = k + 2; j < n; j++) v[j] = (a[row + j] as number) / vnorm;
    e[k] = alpha;
    // p = A22 v ; K = v.p ; q = 2(p - K v) ; A22 -= v q^T + q v^T. Only the lower triangle of
    // A22 is read and written (it is symmetric): half the memory traffic of the full update,
    // which is what bounds this loop. Row i's part below the diagonal serves both A[i][j] v[j]
    // (into p[i]) and A[j][i] v[i] (into p[j]).
    p.fill(0, k + 1);
    for (let i = k + 1; i < n; i++) {
      const ri = i * n;
      const vi = v[i] as number;
      let s0 = 0;
      for (let j = k + 1; j < i; j++) {
        const aij = a[ri + j] as number;
        s0 += aij * (v[j] as number);
        p[j] = (p[j] as number) + aij * vi;
      }
      p[i] = (p[i] as number) + s0 + (a[ri + i] as number) * vi;
    }
    let kk = 0;
    for (let i = k + 1; i < n; i++) kk += (v[i] as number) * (p[i] as number);
    for (let i = k + 1; i < n; i++) p[i] = 2 * ((p[i] as number) - kk * (v[i] as number));
    for (let i = k + 1; i < n; i++) {
      const ri = i * n;
      const vi = v[i] as number;
      const qi = p[i] as number;
      for (let j = k + 1; j <= i; j++) a[ri + j] = (a[ri + j] as number) - vi * (p[j] as number) - qi * (v[j] as number);
    }
    if (hv) hv.set(v.subarray(k + 1), row + k + 1);
  }
  if (n >= 2) {
    d[n - 2] = a[(n - 2) * n + n - 2] as number;
    // Lower triangle is the maintained one.
    e[n - 2] = a[(n - 1) * n + n - 2] as number;
  }
  d[n - 1] = a[(n - 1) * n + n - 1] as number;
  e[n - 1] = 0;
  if (!hv) return { d, e, qT: undefined };
  // Q = H_0 H_1 ... H_{n-3}, built from the right on the identity: each H_k only mixes rows and
  // columns > k. Then transposed, because the QL step rotates rows.
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  const u = new Float64Array(n);
  for (let k = n - 3; k >= 0; k--) {
    const vOff = k * n;
    let any = false;
    for (let j = k + 1; j < n; j++) if ((hv[vOff + j] as number) !== 0) { any = true; break; }
    if (!any) continue;
    u.fill(0, k + 1);
    for (let i = k + 1; i < n; i++) {
      const vi = hv[vOff + i] as number;
      if (vi === 0) continue;
      const ri = i * n;
      for (let j = k + 1; j < n; j++) u[j] = (u[j] as number) + vi * (q[ri + j] as number);
    }
    for (let i = k + 1; i < n; i++) {
      const vi2 = 2 * (hv[vOff + i] as number);
      if (vi2 === 0) continue;
      const ri = i * n;
      for (let j = k + 1; j < n; j++) q[ri + j] = (q[ri + j] as number) - vi2 * (u[j] as number);
    }
  }
  const qT = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) qT[j * n + i] = q[i * n + j] as number;
  return { d, e, qT };
}

/**
 * Implicit QL on a symmetric tridiagonal matrix, in place: d becomes the eigenvalues. When `rows`
 * is given (Q^T from the reduction), its rows become the eigenvectors of the original matrix.
 */
export function tridiagonalQL(d: Float64Array, e: Float64Array, n: number, rows: Float64Array | undefined): boolean {
  for (let l = 0; l < n; l++) {
    let iter = 0;
    for (;;) {
      let m = l;
      for (; m < n - 1; m++) {
        const dd = Math.abs(d[m] as number) + Math.abs(d[m + 1] as number);
        if (Math.abs(e[m] as number) <= EPS * dd) break;
      }
      if (m === l) break;
      if (++iter > 60) return false;
      // Shift from the leading 2x2 block, chosen toward d[l].
      let g = ((d[l + 1] as number) - (d[l] as number)) / (2 * (e[l] as number));
      let r = Math.hypot(g, 1);
      g = (d[m] as number) - (d[l] as number) + (e[l] as number) / (g + (g >= 0 ? r : -r));
      let s = 1, c = 1, p = 0;
      let i = m - 1;
      let underflow = false;
      for (; i >= l; i--) {
        const f = s * (e[i] as number);
        const b = c * (e[i] as number);
        r = Math.hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // Recover from underflow: deflate and restart this l.
          d[i + 1] = (d[i + 1] as number) - p;
          e[m] = 0;
          underflow = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = (d[i + 1] as number) - p;
        r = ((d[i] as number) - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        if (rows) {
          const ri = i * n;
          const rj = (i + 1) * n;
          for (let k = 0; k < n; k++) {
            const zi = rows[ri + k] as number;
            const zj = rows[rj + k] as number;
            rows[rj + k] = s * zi + c * zj;
            rows[ri + k] = c * zi - s * zj;
          }
        }
      }
      if (underflow) continue;
      d[l] = (d[l] as number) - p;
      e[l] = g;
      e[m] = 0;
    }
  }
  return true;
}

/** Dot product of a[aOff..aOff+len) and b[bOff..bOff+len), four accumulators for speed. */
export function dot(a: Float64Array, aOff: number, b: Float64Array, bOff: number, len: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let k = 0;
  for (; k + 3 < len; k += 4) {
    s0 += (a[aOff + k] as number) * (b[bOff + k] as number);
    s1 += (a[aOff + k + 1] as number) * (b[bOff + k + 1] as number);
    s2 += (a[aOff + k + 2] as number) * (b[bOff + k + 2] as number);
    s3 += (a[aOff + k + 3] as number) * (b[bOff + k + 3] as number);
  }
  for (; k < len; k++) s0 += (a[aOff + k] as number) * (b[bOff + k] as number);
  return s0 + s1 + s2 + s3;
}

/**
 * E S E^T for E with orthonormal rows and symmetric S (both n*n row-major): the matrix S in the
 * basis of E's rows. Uses S = S^T so every inner loop is a contiguous dot product, and computes
 * only the upper triangle of the (symmetric) result.
 */
export function congruence(rowsE: Float64Array, s: Float64Array, n: number): Float64Array {
  const t = new Float64Array(n * n); // t = E S, t[i][j] = E_i . S_j
  for (let i = 0; i < n; i++) dotsInto(rowsE, i * n, s, 0, n, t, i * n);
  const out = new Float64Array(n * n); // out[i][j] = t_i . E_j, upper triangle then mirrored
  for (let i = 0; i < n; i++) dotsInto(t, i * n, rowsE, i, n, out, i * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) out[j * n + i] = out[i * n + j] as number;
  return out;
}

/**
 * out[outOff + j] = a[aOff..aOff+len) . b-row j, for rows j = from..len-1 of b (row length len).
 * Four b rows per pass so each a element loaded feeds four products.
 */
function dotsInto(a: Float64Array, aOff: number, b: Float64Array, from: number, len: number, out: Float64Array, outOff: number): void {
  let j = from;
  for (; j + 3 < len; j += 4) {
    const b0 = j * len, b1 = b0 + len, b2 = b1 + len, b3 = b2 + len;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let k = 0; k < len; k++) {
      const av = a[aOff + k] as number;
      s0 += av * (b[b0 + k] as number);
      s1 += av * (b[b1 + k] as number);
      s2 += av * (b[b2 + k] as number);
      s3 += av * (b[b3 + k] as number);
    }
    out[outOff + j] = s0;
    out[outOff + j + 1] = s1;
    out[outOff + j + 2] = s2;
    out[outOff + j + 3] = s3;
  }
  for (; j < len; j++) out[outOff + j] = dot(a, aOff, b, j * len, len);
}
