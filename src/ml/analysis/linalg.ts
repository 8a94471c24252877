/**
 * Dense float64 linear algebra for FID: symmetric eigendecomposition (Householder
 * tridiagonalisation + implicit QL with Wilkinson-style shifts).
 *
 * Matrices are row-major Float64Array of n*n. Eigenvectors are returned as ROWS (row i is the
 * eigenvector of value i) so the QL rotations touch two contiguous rows instead of two strided
 * columns: on 2048x2048 that is the difference between cache hits and misses.
 */
import { err, ok, type Result } from '../../util/result.js';
import { f64Kernels, fitsKernels } from './f64-kernels.js';

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
  const { d, e, qT } = wantVectors ? tridiagonalize(a, n, true) : { ...tridiagonalValues(a, n), qT: undefined };
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
 * The Householder reflection I - 2vvᵀ that maps x = (x0, tail) to (alpha, 0, ..., 0), given x0
 * and the tail's sum of squares: alpha = -sign(x0)·|x| (no cancellation in x0 - alpha), v's first
 * entry `head`, and `norm`, by which the tail entries are divided to give the rest of v.
 */
export function reflector(x0: number, tail2: number): { alpha: number; head: number; norm: number } {
  const sigma = Math.sqrt(tail2 + x0 * x0);
  const alpha = x0 >= 0 ? -sigma : sigma;
  const v0 = x0 - alpha;
  const norm = Math.sqrt(tail2 + v0 * v0);
  return { alpha, head: v0 / norm, norm };
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
    if (tail2 === 0) {
      // Already tridiagonal in this column: no reflection needed.
      e[k] = x0;
      continue;
    }
    const h = reflector(x0, tail2);
    const v = new Float64Array(n);
    v[k + 1] = h.head;
    for (let j = k + 2; j < n; j++) v[j] = (a[row + j] as number) / h.norm;
    e[k] = h.alpha;
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
 * The tridiagonal form only (no Q), for eigenvalues alone. Each step's rank-2 update is applied
 * in the same sweep that computes the next step's A·v (after the next column is brought up to
 * date): one read and write of the trailing lower triangle per step instead of two, which is what
 * bounds this reduction at FID's sizes. In wasm SIMD where available.
 */
export function tridiagonalValues(input: Float64Array, n: number): { d: Float64Array; e: Float64Array } {
  const kernels = f64Kernels();
  const useKernels = kernels !== undefined && n > 2 && fitsKernels(n * n + 6 * n + 16);
  let a: Float64Array, v: Float64Array, q: Float64Array, w: Float64Array;
  const p = new Float64Array(n);
  let pass: (from: number) => void;
  if (useKernels) {
    kernels.reserve(n * n + 6 * n + 16);
    const sa = kernels.slab(n * n), sv = kernels.slab(n), sq = kernels.slab(n), sw = kernels.slab(n), sp0 = kernels.slab(n), sp1 = kernels.slab(n);
    [a, v, q, w] = [sa.view(), sv.view(), sq.view(), sw.view()];
    const p0 = sp0.view(), p1 = sp1.view();
    a.set(input);
    pass = (from) => {
      p0.fill(0);
      p1.fill(0);
      kernels.triPass(sa.ptr, n, from, sv.ptr, sq.ptr, sw.ptr, sp0.ptr, sp1.ptr);
      for (let i = from; i < n; i++) p[i] = (p0[i] as number) + (p1[i] as number);
    };
  } else {
    a = Float64Array.from(input);
    [v, q, w] = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
    pass = (from) => {
      p.fill(0);
      triPassScalar(a, n, from, v, q, w, p);
    };
  }
  v.fill(0);
  q.fill(0);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    // Column k, brought up to date with the pending update of step k-1 (v, q are zero at k = 0).
    const vk = v[k] as number, qk = q[k] as number;
    d[k] = (a[k * n + k] as number) - 2 * vk * qk;
    let tail2 = 0;
    for (let i = k + 1; i < n; i++) {
      const x = (a[i * n + k] as number) - (v[i] as number) * qk - (q[i] as number) * vk;
      w[i] = x;
      if (i > k + 1) tail2 += x * x;
    }
    const x0 = w[k + 1] as number;
    w[k] = 0;
    if (tail2 === 0) {
      // Already reduced in this column: no reflection, only the pending update to apply.
      e[k] = x0;
      w.fill(0, k + 1);
    } else {
      const h = reflector(x0, tail2);
      w[k + 1] = h.head;
      for (let i = k + 2; i < n; i++) w[i] = (w[i] as number) / h.norm;
      e[k] = h.alpha;
    }
    // Sweep rows k+1..: apply the pending update to columns k+1..i and accumulate p = A22 w.
    pass(k + 1);
    let kk = 0;
    for (let i = k + 1; i < n; i++) kk += (w[i] as number) * (p[i] as number);
    v.fill(0, 0, k + 1);
    q.fill(0, 0, k + 1);
    for (let i = k + 1; i < n; i++) {
      v[i] = w[i] as number;
      q[i] = 2 * ((p[i] as number) - kk * (w[i] as number));
    }
  }
  // The last 2x2 block (or 1x1), with the last pending update.
  if (n >= 2) {
    const i = n - 2, j = n - 1;
    d[i] = (a[i * n + i] as number) - 2 * (v[i] as number) * (q[i] as number);
    e[i] = (a[j * n + i] as number) - (v[j] as number) * (q[i] as number) - (q[j] as number) * (v[i] as number);
  }
  d[n - 1] = (a[(n - 1) * n + n - 1] as number) - 2 * (v[n - 1] as number) * (q[n - 1] as number);
  e[n - 1] = 0;
  return { d, e };
}

/** The TypeScript twin of the wasm `tri_pass`. */
function triPassScalar(a: Float64Array, n: number, from: number, v: Float64Array, q: Float64Array, w: Float64Array, p: Float64Array): void {
  for (let i = from; i < n; i++) {
    const row = i * n;
    const vi = v[i] as number, qi = q[i] as number, wi = w[i] as number;
    let s = 0;
    for (let j = from; j < i; j++) {
      const x = (a[row + j] as number) - vi * (q[j] as number) - qi * (v[j] as number);
      a[row + j] = x;
      s += x * (w[j] as number);
      p[j] = (p[j] as number) + x * wi;
    }
    const x = (a[row + i] as number) - 2 * vi * qi;
    a[row + i] = x;
    p[i] = (p[i] as number) + s + x * wi;
  }
}

/**
 * Implicit QL on a symmetric tridiagonal matrix, in place: d becomes the eigenvalues. When `rows`
 * is given (Q^T from the reduction), its rows become the eigenvectors of the original matrix.
 */
export function tridiagonalQL(d: Float64Array, e: Float64Array, n: number, rows: Float64Array | undefined): boolean {
  // Deflate against the matrix's norm, not the two neighbouring diagonal entries: in a cluster of
  // eigenvalues near zero (every singular covariance) the local test asks for accuracy far below
  // what Householder's backward error already allows, and the iteration never stops. The absolute
  // test is the one of EISPACK/JAMA tql2, and costs nothing in accuracy: the eigenvalues carry an
  // error of eps·|T| anyway.
  let norm = 0;
  for (let i = 0; i < n; i++) norm = Math.max(norm, Math.abs(d[i] as number) + Math.abs(e[i] as number) + (i > 0 ? Math.abs(e[i - 1] as number) : 0));
  const tol = EPS * norm;
  for (let l = 0; l < n; l++) {
    let iter = 0;
    for (;;) {
      let m = l;
      for (; m < n - 1; m++) {
        if (Math.abs(e[m] as number) <= tol) break;
      }
      if (m === l) break;
      if (++iter > 100) return false;
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
