/**
 * Frechet distance between two Gaussians fitted to feature sets (FID):
 *   |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1^1/2 S2 S1^1/2)^1/2)
 * in float64 throughout. The matrix square root is never taken of the non-symmetric S1 S2 (as
 * scipy's sqrtm route does): S1 = V L V^T is diagonalised once, and the trace term is the sum of
 * square roots of the eigenvalues of the symmetric PSD matrix L^1/2 (V^T S2 V) L^1/2, which is
 * S1^1/2 S2 S1^1/2 written in S1's eigenbasis (same eigenvalues).
 *
 * Singular covariances (fewer samples than feature dimensions): like pytorch-fid and the TTUR
 * reference, the trace term is recomputed with `eps` (1e-6) added to both diagonals, while the
 * Tr(S1) + Tr(S2) terms keep the unshifted covariances.
 */
import { err, ok, type Result } from '../../util/result.js';
import { congruence, dot, symmetricEigen } from './linalg.js';

export interface FeatureStats {
  /** Number of samples. */
  readonly n: number;
  /** Feature dimension. */
  readonly d: number;
  readonly mean: Float64Array;
  /** d*d row-major, unbiased (divided by n - 1) like `np.cov`. */
  readonly cov: Float64Array;
}

export type FidError = {
  readonly reason: 'bad-input' | 'dimension-mismatch' | 'too-few-samples' | 'no-convergence' | 'not-finite';
  readonly message: string;
};

/** Mean and covariance of n feature rows of length d (row-major), two-pass, in float64. */
export function featureStats(features: Float32Array | Float64Array, n: number, d: number): Result<FeatureStats, FidError> {
  if (!Number.isInteger(n) || !Number.isInteger(d) || d < 1 || n < 0) return err({ reason: 'bad-input', message: `bad shape n=${n} d=${d}` });
  if (features.length !== n * d) return err({ reason: 'bad-input', message: `expected ${n}x${d} = ${n * d} values, got ${features.length}` });
  if (n < 2) return err({ reason: 'too-few-samples', message: `a covariance needs at least 2 samples, got ${n}` });
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const off = i * d;
    for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) + (features[off + j] as number);
  }
  for (let j = 0; j < d; j++) {
    mean[j] = (mean[j] as number) / n;
    if (!Number.isFinite(mean[j] as number)) return err({ reason: 'not-finite', message: `feature column ${j} has non-finite values` });
  }
  // Upper triangle of X_c^T X_c, a chunk of R centred rows at a time, transposed so that every
  // C[j][k] update is a contiguous length-R dot product: the d*d accumulator (32 MB at d=2048)
  // is swept n/R times instead of n times, which is what bounds this loop.
  const R = 128;
  const cov = new Float64Array(d * d);
  const chunk = new Float64Array(d * R);
  for (let i0 = 0; i0 < n; i0 += R) {
    const rows = Math.min(R, n - i0);
    if (rows < R) chunk.fill(0);
    for (let r = 0; r < rows; r++) {
      const off = (i0 + r) * d;
      for (let j = 0; j < d; j++) chunk[j * R + r] = (features[off + j] as number) - (mean[j] as number);
    }
    for (let j = 0; j < d; j++) {
      const row = j * d;
      const aOff = j * R;
      let k = j;
      // Four output columns per pass over row j of the chunk: each a[r] load feeds four FMAs.
      for (; k + 3 < d; k += 4) {
        const b0 = k * R, b1 = b0 + R, b2 = b1 + R, b3 = b2 + R;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (let r = 0; r < R; r++) {
          const av = chunk[aOff + r] as number;
          s0 += av * (chunk[b0 + r] as number);
          s1 += av * (chunk[b1 + r] as number);
          s2 += av * (chunk[b2 + r] as number);
          s3 += av * (chunk[b3 + r] as number);
        }
        cov[row + k] = (cov[row + k] as number) + s0;
        cov[row + k + 1] = (cov[row + k + 1] as number) + s1;
        cov[row + k + 2] = (cov[row + k + 2] as number) + s2;
        cov[row + k + 3] = (cov[row + k + 3] as number) + s3;
      }
      for (; k < d; k++) cov[row + k] = (cov[row + k] as number) + dot(chunk, aOff, chunk, k * R, R);
    }
  }
  const scale = 1 / (n - 1);
  for (let j = 0; j < d; j++) {
    for (let k = j; k < d; k++) {
      const v = (cov[j * d + k] as number) * scale;
      cov[j * d + k] = v;
      cov[k * d + j] = v;
    }
  }
  return ok({ n, d, mean, cov });
}

export interface FidOptions {
  /** Diagonal offset of the singular-covariance fallback. Default 1e-6 (the standard tools' value). */
  readonly eps?: number;
  /**
   * `auto` (default): offset only when a covariance is singular (n <= d, or S1's smallest
   * eigenvalue is numerically zero); `always` / `never` force it.
   */
  readonly fallback?: 'auto' | 'always' | 'never';
}

export interface FidResult {
  readonly fid: number;
  /** |mu1 - mu2|^2 */
  readonly meanTerm: number;
  /** Tr(S1) + Tr(S2) - 2 Tr((S1^1/2 S2 S1^1/2)^1/2) */
  readonly covTerm: number;
  /** Tr((S1^1/2 S2 S1^1/2)^1/2), with the offset if it was applied. */
  readonly traceSqrt: number;
  /** The diagonal offset used (0 when none). */
  readonly offset: number;
  /** Why the offset was applied, when it was. */
  readonly fallbackReason?: string;
  /** Eigenvalues of S1^1/2 S2 S1^1/2 below zero, clipped (round-off): the most negative one. */
  readonly minProductEigenvalue: number;
}

/** Frechet distance between two feature Gaussians. */
export function frechetDistance(a: FeatureStats, b: FeatureStats, options: FidOptions = {}): Result<FidResult, FidError> {
  if (a.d !== b.d) return err({ reason: 'dimension-mismatch', message: `feature dimensions differ: ${a.d} vs ${b.d}` });
  const d = a.d;
  if (a.mean.length !== d || b.mean.length !== d || a.cov.length !== d * d || b.cov.length !== d * d) {
    return err({ reason: 'bad-input', message: `stats do not match dimension ${d}` });
  }
  const eps = options.eps ?? 1e-6;
  const mode = options.fallback ?? 'auto';
  let meanTerm = 0;
  for (let j = 0; j < d; j++) meanTerm += ((a.mean[j] as number) - (b.mean[j] as number)) ** 2;
  let tr1 = 0, tr2 = 0;
  for (let j = 0; j < d; j++) {
    tr1 += a.cov[j * d + j] as number;
    tr2 += b.cov[j * d + j] as number;
  }
  let offset = 0;
  let fallbackReason: string | undefined;
  if (mode === 'always') {
    offset = eps;
    fallbackReason = 'forced';
  } else if (mode === 'auto' && (a.n <= d || b.n <= d)) {
    offset = eps;
    fallbackReason = `fewer samples than dimensions (${a.n} and ${b.n} samples, ${d} dims): singular covariance`;
  }
  let term = traceSqrtProduct(a.cov, b.cov, d, offset);
  if (!term.ok) return term;
  if (mode === 'auto' && offset === 0 && term.value.s1Singular) {
    offset = eps;
    fallbackReason = 'first covariance is numerically singular';
    term = traceSqrtProduct(a.cov, b.cov, d, offset);
    if (!term.ok) return term;
  }
  const traceSqrt = term.value.traceSqrt;
  const covTerm = tr1 + tr2 - 2 * traceSqrt;
  const fid = meanTerm + covTerm;
  if (!Number.isFinite(fid)) return err({ reason: 'not-finite', message: 'FID is not finite (non-finite statistics?)' });
  return ok({ fid, meanTerm, covTerm, traceSqrt, offset, minProductEigenvalue: term.value.minEigenvalue, ...(fallbackReason ? { fallbackReason } : {}) });
}

/** Tr((S1^1/2 S2 S1^1/2)^1/2) with `offset` added to both diagonals. */
export function traceSqrtProduct(s1: Float64Array, s2: Float64Array, d: number, offset: number): Result<{ traceSqrt: number; s1Singular: boolean; minEigenvalue: number }, FidError> {
  const a = offset === 0 ? s1 : addDiagonal(s1, d, offset);
  const b = offset === 0 ? s2 : addDiagonal(s2, d, offset);
  const e1 = symmetricEigen(a, d, true);
  if (!e1.ok) return err({ reason: e1.error.reason, message: `eigen of S1: ${e1.error.message}` });
  const lambda = e1.value.values;
  const maxL = Math.max(Math.abs(lambda[0] as number), Math.abs(lambda[d - 1] as number));
  // The usual numerical-rank tolerance (as in numpy.linalg.matrix_rank).
  const s1Singular = (lambda[0] as number) <= maxL * d * 2 ** -52;
  const root = new Float64Array(d);
  for (let i = 0; i < d; i++) root[i] = Math.sqrt(Math.max(0, lambda[i] as number));
  const m = congruence(e1.value.vectors as Float64Array, b, d);
  for (let i = 0; i < d; i++) {
    const ri = root[i] as number;
    for (let j = 0; j < d; j++) m[i * d + j] = (m[i * d + j] as number) * ri * (root[j] as number);
  }
  const e2 = symmetricEigen(m, d, false);
  if (!e2.ok) return err({ reason: e2.error.reason, message: `eigen of S1^1/2 S2 S1^1/2: ${e2.error.message}` });
  let traceSqrt = 0;
  let minEigenvalue = 0;
  for (const v of e2.value.values) {
    if (v < minEigenvalue) minEigenvalue = v;
    // Negative values are round-off on a PSD matrix: clipping is the symmetric analogue of the
    // standard tools' "keep the real part".
    traceSqrt += Math.sqrt(Math.max(0, v));
  }
  return ok({ traceSqrt, s1Singular, minEigenvalue });
}

function addDiagonal(s: Float64Array, d: number, offset: number): Float64Array {
  const out = Float64Array.from(s);
  for (let j = 0; j < d; j++) out[j * d + j] = (out[j * d + j] as number) + offset;
  return out;
}
