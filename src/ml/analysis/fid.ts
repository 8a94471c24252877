/**
 * Frechet distance between two Gaussians fitted to feature sets (FID):
 *   |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^½)
 * in float64, with pytorch-fid's number as the target (numpy `cov` + scipy `sqrtm(S1 S2)`, no
 * offset unless that square root is not finite).
 *
 * No d x d square root is taken. With any factor S1 = Fᵀ F, the nonzero eigenvalues of S1 S2 are
 * those of the symmetric PSD matrix F S2 Fᵀ, so the trace term is Σ sqrt(eig(F S2 Fᵀ)):
 * - a set with n <= d samples keeps its centred rows scaled by 1/sqrt(n-1) (A, n x d): that is a
 *   factor already, and two such sets need only the singular values of A Bᵀ (n1 x n2), the
 *   nuclear norm route. Singular covariances are the normal case for VTAB-1k (1,000 images,
 *   2,048 features) and need no offset here.
 * - a set with n > d keeps its covariance; the factor is its Cholesky factor (pivoted, to the
 *   numerical rank, when the covariance is singular in floating point).
 * The `offset` option is the eps variant of older tools: offset·I added to both covariances.
 */
import { err, ok, type Result } from '../../util/result.js';
import { psdFactor, type Factor } from './cholesky.js';
import { gemmNT, mirrorLower, transpose } from './gemm.js';
import { symmetricEigen } from './linalg.js';
import { nuclearNorm } from './svd.js';

/** How a set's covariance S is held: S = RᵀR (rows, n <= d) or S itself (n > d). */
export type Spread =
  | { readonly kind: 'rows'; readonly rows: Float64Array; readonly count: number }
  | { readonly kind: 'cov'; readonly cov: Float64Array };

export interface FeatureStats {
  /** Number of samples. */
  readonly n: number;
  /** Feature dimension. */
  readonly d: number;
  readonly mean: Float64Array;
  /** Tr(S), S unbiased (divided by n - 1) like `np.cov`. */
  readonly trace: number;
  readonly spread: Spread;
}

export type FidError = {
  readonly reason: 'bad-input' | 'dimension-mismatch' | 'too-few-samples' | 'no-convergence' | 'not-finite' | 'constant-features';
  readonly message: string;
};

/** Mean and spread of n feature rows of length d (row-major), two-pass, in float64. */
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
  const scale = 1 / Math.sqrt(n - 1);
  // n <= d: the centred rows are the factor; n > d: they are only the way to the covariance, and
  // are written transposed (features as contiguous rows) for the product XᵀX.
  const keepRows = n <= d;
  const centred = new Float64Array(n * d);
  let trace = 0;
  for (let i = 0; i < n; i++) {
    const off = i * d;
    for (let j = 0; j < d; j++) {
      const v = ((features[off + j] as number) - (mean[j] as number)) * scale;
      centred[keepRows ? off + j : j * n + i] = v;
      trace += v * v;
    }
  }
  if (!Number.isFinite(trace)) return err({ reason: 'not-finite', message: 'the features overflow float64 (covariance is not finite)' });
  if (trace === 0) {
    return err({ reason: 'constant-features', message: `all ${n} feature vectors are identical (zero variance): the feature extractor gives the same output for every image` });
  }
  if (keepRows) return ok({ n, d, mean, trace, spread: { kind: 'rows', rows: centred, count: n } });
  return ok({ n, d, mean, trace, spread: { kind: 'cov', cov: gramOfRows(centred, d, n) } });
}

/** Stats from a mean and a covariance computed elsewhere (e.g. pytorch-fid's saved mu/sigma). */
export function statsFromMoments(mean: Float64Array, cov: Float64Array, n: number): Result<FeatureStats, FidError> {
  const d = mean.length;
  if (d < 1 || cov.length !== d * d) return err({ reason: 'bad-input', message: `a ${d}-d mean needs a ${d}x${d} covariance, got ${cov.length} values` });
  let trace = 0;
  for (let j = 0; j < d; j++) trace += cov[j * d + j] as number;
  if (![...mean, trace].every(Number.isFinite)) return err({ reason: 'not-finite', message: 'mean or covariance is not finite' });
  return ok({ n, d, mean, trace, spread: { kind: 'cov', cov } });
}

/** X Xᵀ for X rows x len row-major (the lower triangle computed, then mirrored). */
function gramOfRows(x: Float64Array, rows: number, len: number): Float64Array {
  const c = new Float64Array(rows * rows);
  gemmNT({ data: x, offset: 0, stride: len }, { data: x, offset: 0, stride: len }, { data: c, offset: 0, stride: rows }, { m: rows, n: rows, k: len, lower: true });
  mirrorLower(c, rows);
  return c;
}

export interface FidOptions {
  /**
   * The eps variant: add this to both covariance diagonals (older tools' 1e-6 for singular
   * covariances). Absent: no offset, which is pytorch-fid's number.
   */
  readonly offset?: number;
}

/**
 * How the trace term was computed: `gram` (two sets of n <= d: singular values of A Bᵀ),
 * `rows-cov` (one such set against a covariance: eig(A S Aᵀ)), `cholesky` / `pivoted-cholesky`
 * (two covariances: eig(F S Fᵀ), S1 = Fᵀ F), or `svd`: the singular values of F1 F2ᵀ without
 * squaring, taken when the eigenvalues of the others cannot be trusted to the 1e-8 of FID asked
 * (feature scales spanning many orders of magnitude, rank-deficient sets).
 */
export type FidRoute = 'gram' | 'rows-cov' | 'cholesky' | 'pivoted-cholesky' | 'svd';

export interface FidResult {
  readonly fid: number;
  /** |mu1 - mu2|^2 */
  readonly meanTerm: number;
  /** Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^½) */
  readonly covTerm: number;
  /** Tr((S1 S2)^½), with the offset if one was given. */
  readonly traceSqrt: number;
  /** `exact`: no offset (pytorch-fid's number); `offset`: the eps variant. */
  readonly rule: 'exact' | 'offset';
  /** The diagonal offset used (0 for `exact`). */
  readonly offset: number;
  readonly route: FidRoute;
  /** Size of the symmetric eigenvalue problem that was solved. */
  readonly eigenSize: number;
}

/** Frechet distance between two feature Gaussians. */
export function frechetDistance(a: FeatureStats, b: FeatureStats, options: FidOptions = {}): Result<FidResult, FidError> {
  if (a.d !== b.d) return err({ reason: 'dimension-mismatch', message: `feature dimensions differ: ${a.d} vs ${b.d}` });
  const d = a.d;
  for (const s of [a, b]) {
    const size = s.spread.kind === 'rows' ? s.spread.rows.length : s.spread.cov.length;
    const want = s.spread.kind === 'rows' ? s.spread.count * d : d * d;
    if (s.mean.length !== d || size !== want) return err({ reason: 'bad-input', message: `stats do not match dimension ${d}` });
  }
  const offset = options.offset ?? 0;
  if (!(offset >= 0) || !Number.isFinite(offset)) return err({ reason: 'bad-input', message: `offset must be a finite number >= 0, got ${offset}` });
  let meanTerm = 0;
  for (let j = 0; j < d; j++) meanTerm += ((a.mean[j] as number) - (b.mean[j] as number)) ** 2;
  let term = traceSqrt(a.spread, b.spread, d, offset);
  if (!term.ok) return term;
  // The eps variant keeps the unshifted traces, as pytorch-fid's and TTUR's fallback does.
  const roughFid = meanTerm + a.trace + b.trace - 2 * term.value.traceSqrt;
  // Relative to the FID, but not below 1e-3 of the traces: for (nearly) identical sets the FID is
  // round-off of the traces on any route, and pytorch-fid's own noise is far above this.
  if (term.value.errorBound > CAREFUL_BELOW * Math.max(Math.abs(roughFid), 1e-3 * (a.trace + b.trace))) {
    term = svdTraceSqrt(a.spread, b.spread, d, offset);
    if (!term.ok) return term;
  }
  const covTerm = a.trace + b.trace - 2 * term.value.traceSqrt;
  const fid = meanTerm + covTerm;
  if (!Number.isFinite(fid)) return err({ reason: 'not-finite', message: 'FID is not finite (non-finite statistics?)' });
  return ok({ fid, meanTerm, covTerm, traceSqrt: term.value.traceSqrt, rule: offset > 0 ? 'offset' : 'exact', offset, route: term.value.route, eigenSize: term.value.eigenSize });
}

interface TraceTerm {
  readonly traceSqrt: number;
  readonly route: FidRoute;
  readonly eigenSize: number;
  /** What the eigenvalues' rounding can move traceSqrt by (0 for the svd route). */
  readonly errorBound: number;
}

/** The fast routes' answer is kept when its error bound is below this fraction of the FID. */
const CAREFUL_BELOW = 1e-8;
const EPS = 2 ** -52;

/** Tr((S1 S2)^½) = Σ sqrt(eig(G)) for the smallest symmetric G the two spreads allow. */
export function traceSqrt(a: Spread, b: Spread, d: number, offset = 0): Result<TraceTerm, FidError> {
  if (offset > 0) {
    // S + offset·I is never low rank: both sides become covariances.
    const ca = withOffset(covariance(a, d), d, offset), cb = withOffset(covariance(b, d), d, offset);
    return factorRoute(ca, cb, d);
  }
  if (a.kind === 'rows' && b.kind === 'rows') {
    // M = A Bᵀ; G = M Mᵀ or Mᵀ M, whichever is smaller (same nonzero eigenvalues).
    const [p, q] = a.count <= b.count ? [a, b] : [b, a];
    const m = new Float64Array(p.count * q.count);
    gemmNT({ data: p.rows, offset: 0, stride: d }, { data: q.rows, offset: 0, stride: d }, { data: m, offset: 0, stride: q.count }, { m: p.count, n: q.count, k: d });
    const g = new Float64Array(p.count * p.count);
    gemmNT({ data: m, offset: 0, stride: q.count }, { data: m, offset: 0, stride: q.count }, { data: g, offset: 0, stride: p.count }, { m: p.count, n: p.count, k: q.count, lower: true });
    return sumOfRoots(withoutOnes(g, p.count), p.count - 1, 'gram');
  }
  if (a.kind === 'rows' || b.kind === 'rows') {
    const [r, c] = a.kind === 'rows' ? [a, b as Extract<Spread, { kind: 'cov' }>] : [b as Extract<Spread, { kind: 'rows' }>, a];
    return sandwich({ rows: r.rows, r: r.count, d, upper: false, centred: true }, c.cov, d, 'rows-cov');
  }
  return factorRoute(a.cov, b.cov, d);
}

function factorRoute(s1: Float64Array, s2: Float64Array, d: number): Result<TraceTerm, FidError> {
  const f: Factor = psdFactor(s1, d);
  if (f.r === 0) return ok({ traceSqrt: 0, route: f.kind, eigenSize: 0, errorBound: 0 });
  return sandwich(f, s2, d, f.kind);
}

/** Σ sqrt(eig(F S Fᵀ)): V = F S, then G = F Vᵀ (lower triangle), skipping an upper factor's zeros. */
function sandwich(f: { rows: Float64Array; r: number; d: number; upper: boolean; centred?: boolean }, s: Float64Array, d: number, route: FidRoute): Result<TraceTerm, FidError> {
  const r = f.r;
  const v = new Float64Array(r * d);
  const g = new Float64Array(r * r);
  gemmNT({ data: f.rows, offset: 0, stride: d }, { data: s, offset: 0, stride: d }, { data: v, offset: 0, stride: d }, { m: r, n: d, k: d, aUpper: f.upper });
  gemmNT({ data: f.rows, offset: 0, stride: d }, { data: v, offset: 0, stride: d }, { data: g, offset: 0, stride: r }, { m: r, n: r, k: d, lower: true, aUpper: f.upper });
  return f.centred ? sumOfRoots(withoutOnes(g, r), r - 1, route) : sumOfRoots(g, r, route);
}

/**
 * G with its known null vector removed: when G's rows and columns come from centred samples
 * (G = A X Aᵀ with 1ᵀA = 0), G·1 = 0 exactly, but in floating point that eigenvalue comes out as
 * ±eps·|G| and its square root as ~1e-8·sqrt|G|, the largest error left in the trace term. A
 * Householder reflection H sends 1/sqrt(n) to e_0, so H G H has a zero first row and column, and
 * the (n-1) x (n-1) rest carries every other eigenvalue. Lower triangles in and out.
 */
function withoutOnes(g: Float64Array, n: number): Float64Array {
  if (n < 2) return new Float64Array(0);
  // h = (u - e_0) / |u - e_0|, u = 1/sqrt(n): |u - e_0|^2 = 2 - 2/sqrt(n)
  const u = 1 / Math.sqrt(n);
  const norm = Math.sqrt(2 - 2 * u);
  const h = new Float64Array(n).fill(u / norm);
  h[0] = (u - 1) / norm;
  // p = G h from the lower triangle; q = 2(p - (hᵀp) h); H G H = G - h qᵀ - q hᵀ
  const p = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let j = 0; j < i; j++) {
      const gij = g[i * n + j] as number;
      acc += gij * (h[j] as number);
      p[j] = (p[j] as number) + gij * (h[i] as number);
    }
    p[i] = (p[i] as number) + acc + (g[i * n + i] as number) * (h[i] as number);
  }
  let k = 0;
  for (let i = 0; i < n; i++) k += (h[i] as number) * (p[i] as number);
  const q = p.map((pi, i) => 2 * (pi - k * (h[i] as number)));
  const m = n - 1;
  const out = new Float64Array(m * m);
  for (let i = 1; i < n; i++) {
    for (let j = 1; j <= i; j++) out[(i - 1) * m + j - 1] = (g[i * n + j] as number) - (h[i] as number) * (q[j] as number) - (q[i] as number) * (h[j] as number);
  }
  return out;
}

/** Σ sqrt(λ) over the eigenvalues of a symmetric PSD matrix (lower triangle read), with its error bound. */
function sumOfRoots(g: Float64Array, n: number, route: FidRoute): Result<TraceTerm, FidError> {
  if (n === 0) return ok({ traceSqrt: 0, route, eigenSize: 0, errorBound: 0 });
  const e = symmetricEigen(g, n, false);
  if (!e.ok) return err({ reason: e.error.reason, message: `eigenvalues of the ${n}x${n} ${route} matrix: ${e.error.message}` });
  const values = e.value.values;
  const lambdaMax = Math.max(Math.abs(values[0] as number), Math.abs(values[n - 1] as number));
  // Householder + QL leave each eigenvalue an absolute error of about sqrt(n)·eps·|G|; through the
  // square root that is delta / (2 sqrt λ), and up to sqrt(delta) for the eigenvalues near zero.
  const delta = 4 * Math.sqrt(n) * EPS * lambdaMax;
  let sum = 0;
  let errorBound = 0;
  for (const lambda of values) {
    // Negative values are round-off on a PSD matrix: they count as zero, as the real part of
    // scipy's complex square root does.
    sum += Math.sqrt(Math.max(0, lambda));
    errorBound += lambda > delta ? delta / (2 * Math.sqrt(lambda)) : Math.sqrt(delta);
  }
  return ok({ traceSqrt: sum, route, eigenSize: n, errorBound });
}

/** The careful route: Σσ(F1 F2ᵀ) with S1 = F1ᵀF1, S2 = F2ᵀF2, never squared. */
function svdTraceSqrt(a: Spread, b: Spread, d: number, offset: number): Result<TraceTerm, FidError> {
  const factor = (s: Spread): { rows: Float64Array; r: number; upper: boolean } => {
    if (s.kind === 'rows' && offset === 0) return { rows: s.rows, r: s.count, upper: false };
    const f = psdFactor(offset > 0 ? withOffset(covariance(s, d), d, offset) : covariance(s, d), d);
    return { rows: f.rows, r: f.r, upper: f.upper };
  };
  const f1 = factor(a), f2 = factor(b);
  const k = new Float64Array(f1.r * f2.r);
  gemmNT({ data: f1.rows, offset: 0, stride: d }, { data: f2.rows, offset: 0, stride: d }, { data: k, offset: 0, stride: f2.r }, { m: f1.r, n: f2.r, k: d, aUpper: f1.upper });
  const sum = nuclearNorm(k, f1.r, f2.r);
  if (sum === undefined) return err({ reason: 'no-convergence', message: `singular values of the ${f1.r}x${f2.r} matrix F1 F2ᵀ: the tridiagonal QL did not converge` });
  return ok({ traceSqrt: sum, route: 'svd', eigenSize: Math.min(f1.r, f2.r), errorBound: 0 });
}

function covariance(s: Spread, d: number): Float64Array {
  return s.kind === 'cov' ? s.cov : gramOfRows(transpose(s.rows, s.count, d), d, s.count);
}

function withOffset(s: Float64Array, d: number, offset: number): Float64Array {
  const out = Float64Array.from(s);
  for (let j = 0; j < d; j++) out[j * d + j] = (out[j * d + j] as number) + offset;
  return out;
}
