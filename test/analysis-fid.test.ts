import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { featureStats, frechetDistance, gemmNT, nuclearNorm, psdFactor, statsFromMoments, symmetricEigen, type FeatureStats, type FidResult } from '../src/ml/analysis/index.js';
import { setF64Threads, useF64Kernels } from '../src/ml/analysis/f64-kernels.js';
import { gemmNTScalar } from '../src/ml/analysis/gemm.js';
import { createRng } from '../src/util/rng.js';

// Independent reference: numpy/scipy on the pytorch-fid route (np.cov, scipy.linalg.sqrtm of
// S1 S2, eps only when that is not finite, real part), and numpy's SVD for the exact trace term.
const PY = '/usr/bin/python3';
const dir = mkdtempSync(join(tmpdir(), 'fid-test-'));
afterAll(() => {
  setF64Threads(2);
  rmSync(dir, { recursive: true, force: true });
});

const REF_FID = `
import sys, json, warnings, numpy as np
from scipy import linalg
warnings.simplefilter('ignore')
n1, n2, d, offset = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
x1 = np.fromfile(sys.argv[1], dtype='<f8').reshape(n1, d)
x2 = np.fromfile(sys.argv[2], dtype='<f8').reshape(n2, d)
mu1, mu2 = x1.mean(0), x2.mean(0)
s1, s2 = np.atleast_2d(np.cov(x1, rowvar=False)), np.atleast_2d(np.cov(x2, rowvar=False))
diff = mu1 - mu2
if offset > 0:
    off = np.eye(d) * offset
    covmean = linalg.sqrtm((s1 + off).dot(s2 + off))
else:
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        off = np.eye(d) * 1e-6
        covmean = linalg.sqrtm((s1 + off).dot(s2 + off))
covmean = covmean.real
fid = diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
# exact: Tr((S1 S2)^1/2) is the nuclear norm of A B^T with A, B the centred rows / sqrt(n - 1)
a = (x1 - mu1) / np.sqrt(n1 - 1)
b = (x2 - mu2) / np.sqrt(n2 - 1)
exact = diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.linalg.svd(a.dot(b.T), compute_uv=False).sum()
print(json.dumps([float(fid), float(exact)]))
`;

let fileNo = 0;
function writeMatrix(x: Float64Array): string {
  const path = join(dir, `m${fileNo++}.bin`);
  writeFileSync(path, Buffer.from(x.buffer, x.byteOffset, x.byteLength));
  return path;
}

/** [pytorch-fid's number, the exact number from an SVD]. */
function referenceFid(x1: Float64Array, n1: number, x2: Float64Array, n2: number, d: number, offset = 0): [number, number] {
  const out = execFileSync(PY, ['-c', REF_FID, writeMatrix(x1), writeMatrix(x2), String(n1), String(n2), String(d), String(offset)], { encoding: 'utf8' });
  return JSON.parse(out) as [number, number];
}

/** n rows of d features: a rank-`rank` shared factor plus per-dimension noise of size `noise`. */
function features(seed: number, n: number, d: number, rank: number, shift: number, noise = 0.3): Float64Array {
  const rng = createRng(seed);
  const basis = Float64Array.from({ length: rank * d }, () => rng.normal() / Math.sqrt(rank));
  const x = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) x[i * d + j] = shift + noise * rng.normal();
    for (let k = 0; k < rank; k++) {
      const z = rng.normal();
      for (let j = 0; j < d; j++) x[i * d + j] = (x[i * d + j] as number) + z * (basis[k * d + j] as number);
    }
  }
  return x;
}

function stats(x: Float64Array, n: number, d: number): FeatureStats {
  const s = featureStats(x, n, d);
  if (!s.ok) throw new Error(s.error.message);
  return s.value;
}

function fidOf(a: FeatureStats, b: FeatureStats, offset?: number): FidResult {
  const r = frechetDistance(a, b, offset === undefined ? {} : { offset });
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

const rel = (x: number, y: number): number => Math.abs(x - y) / Math.abs(y);

/** The covariance-form stats of a set (what a saved mu/sigma gives), whatever n is. */
function covStats(x: Float64Array, n: number, d: number): FeatureStats {
  const s = stats(x, n, d);
  if (s.spread.kind === 'cov') return s;
  const rows = s.spread.rows;
  const cov = new Float64Array(d * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) for (let k = 0; k <= j; k++) cov[j * d + k] = (cov[j * d + k] as number) + (rows[i * d + j] as number) * (rows[i * d + k] as number);
  for (let j = 0; j < d; j++) for (let k = 0; k < j; k++) cov[k * d + j] = cov[j * d + k] as number;
  const r = statsFromMoments(s.mean, cov, n);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

describe('gemmNT (C += alpha A Bᵀ), wasm SIMD and TypeScript against a plain triple loop', () => {
  const cases = [
    { m: 7, n: 9, k: 13 }, { m: 10, n: 10, k: 1100, lower: true }, { m: 9, n: 12, k: 12, aUpper: true },
    { m: 33, n: 33, k: 33, lower: true, aUpper: true }, { m: 1, n: 5, k: 3 }, { m: 6, n: 6, k: 1, lower: true }, { m: 130, n: 140, k: 300, lower: true },
  ];
  for (const c of cases) {
    it(`${c.m}x${c.n}x${c.k}${c.lower ? ' lower' : ''}${c.aUpper ? ' upper A' : ''}`, () => {
      const rng = createRng(c.m * 1000 + c.k);
      const A = Float64Array.from({ length: 3 + c.m * (c.k + 2) }, () => rng.normal());
      if (c.aUpper) for (let i = 0; i < c.m; i++) for (let t = 0; t < Math.min(i, c.k); t++) A[3 + i * (c.k + 2) + t] = 0;
      const B = Float64Array.from({ length: 1 + c.n * (c.k + 1) }, () => rng.normal());
      const C0 = Float64Array.from({ length: 2 + c.m * (c.n + 3) }, () => rng.normal());
      const want = Float64Array.from(C0);
      for (let i = 0; i < c.m; i++) {
        for (let j = 0; j < (c.lower ? Math.min(c.n, i + 1) : c.n); j++) {
          let s = 0;
          for (let t = 0; t < c.k; t++) s += (A[3 + i * (c.k + 2) + t] as number) * (B[1 + j * (c.k + 1) + t] as number);
          want[2 + i * (c.n + 3) + j] = (want[2 + i * (c.n + 3) + j] as number) - 0.5 * s;
        }
      }
      for (const impl of [gemmNT, gemmNTScalar]) {
        const C = Float64Array.from(C0);
        impl({ data: A, offset: 3, stride: c.k + 2 }, { data: B, offset: 1, stride: c.k + 1 }, { data: C, offset: 2, stride: c.n + 3 }, { ...c, alpha: -0.5, accumulate: true });
        // Entries outside the product (upper triangle, padding) stay untouched: compare all.
        let worst = 0;
        for (let i = 0; i < C.length; i++) worst = Math.max(worst, Math.abs((C[i] as number) - (want[i] as number)));
        expect(worst).toBeLessThan(1e-12 * Math.sqrt(c.k));
      }
    });
  }

  it('gives bit-identical products on one thread and on two', () => {
    const rng = createRng(77);
    const [m, n, k] = [200, 180, 700];
    const A = Float64Array.from({ length: m * k }, () => rng.normal()), B = Float64Array.from({ length: n * k }, () => rng.normal());
    const run = (threads: number): Float64Array => {
      setF64Threads(threads);
      const C = new Float64Array(m * n);
      gemmNT({ data: A, offset: 0, stride: k }, { data: B, offset: 0, stride: k }, { data: C, offset: 0, stride: n }, { m, n, k, lower: true });
      return C;
    };
    expect(Buffer.from(run(1).buffer).equals(Buffer.from(run(2).buffer))).toBe(true);
    setF64Threads(2);
  });
});

const REF_EIGH = `
import sys, json, numpy as np
n = int(sys.argv[2])
a = np.fromfile(sys.argv[1], dtype='<f8').reshape(n, n)
print(json.dumps(np.linalg.eigvalsh(a).tolist()))
`;

describe('symmetricEigen (Householder + implicit QL, float64)', () => {
  const cases: Array<[string, number, (rng: ReturnType<typeof createRng>, n: number) => Float64Array]> = [
    ['random symmetric', 40, (rng, n) => { const a = new Float64Array(n * n); for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) { const v = rng.normal(); a[i * n + j] = v; a[j * n + i] = v; } return a; }],
    ['repeated eigenvalues (I + rank 2)', 25, (rng, n) => { const u = Array.from({ length: n }, () => rng.normal()); const w = Array.from({ length: n }, () => rng.normal()); const a = new Float64Array(n * n); for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = (i === j ? 1 : 0) + (u[i] as number) * (u[j] as number) + (w[i] as number) * (w[j] as number); return a; }],
    ['already diagonal', 7, (_rng, n) => { const a = new Float64Array(n * n); for (let i = 0; i < n; i++) a[i * n + i] = n - 2 * i; return a; }],
    ['block diagonal (a column is already reduced mid-way)', 10, (rng, n) => { const a = new Float64Array(n * n); for (const [lo, hi] of [[0, 6], [6, 10]] as const) for (let i = lo; i < hi; i++) for (let j = lo; j <= i; j++) { const v = rng.normal(); a[i * n + j] = v; a[j * n + i] = v; } return a; }],
    // A singular covariance: 156 eigenvalues in a cluster at zero. The QL deflation used to
    // compare an off-diagonal entry with its two diagonal neighbours only and never converged here.
    ['covariance of 100 samples in 256 dimensions (clustered zero eigenvalues)', 256, (rng, n) => { const x = Float64Array.from({ length: 100 * n }, () => rng.normal()); const a = new Float64Array(n * n); for (let s = 0; s < 100; s++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = (a[i * n + j] as number) + (x[s * n + i] as number) * (x[s * n + j] as number) / 99; return a; }],
    ['1x1', 1, () => Float64Array.of(3.5)],
    ['2x2', 2, () => Float64Array.of(2, 1, 1, 2)],
  ];
  for (const [name, n, make] of cases) {
    it(`matches numpy eigvalsh (values alone on both paths, and with vectors): ${name}`, () => {
      const a = make(createRng(7), n);
      const ref = JSON.parse(execFileSync(PY, ['-c', REF_EIGH, writeMatrix(a), String(n)], { encoding: 'utf8' })) as number[];
      const scale = Math.max(1, ...ref.map(Math.abs));
      for (const kernels of [true, false]) {
        useF64Kernels(kernels);
        const values = symmetricEigen(a, n, false);
        useF64Kernels(true);
        expect(values.ok).toBe(true);
        if (!values.ok) return;
        ref.forEach((v, i) => expect(Math.abs((values.value.values[i] as number) - v)).toBeLessThan(1e-12 * scale * n));
      }
      if (n > 64) return;
      const r = symmetricEigen(a, n, true);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      ref.forEach((v, i) => expect(Math.abs((r.value.values[i] as number) - v)).toBeLessThan(1e-12 * scale * n));
      const v = r.value.vectors as Float64Array;
      let maxErr = 0;
      let maxOrth = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0, o = 0;
          for (let k = 0; k < n; k++) {
            s += (v[k * n + i] as number) * (r.value.values[k] as number) * (v[k * n + j] as number);
            o += (v[i * n + k] as number) * (v[j * n + k] as number);
          }
          maxErr = Math.max(maxErr, Math.abs(s - (a[i * n + j] as number)));
          maxOrth = Math.max(maxOrth, Math.abs(o - (i === j ? 1 : 0)));
        }
      }
      expect(maxErr).toBeLessThan(1e-12 * scale * n);
      expect(maxOrth).toBeLessThan(1e-12 * n);
    });
  }

  it('rejects bad input as a value', () => {
    const wrongSize = symmetricEigen(new Float64Array(5), 2, false);
    expect(wrongSize.ok).toBe(false);
    const nan = symmetricEigen(Float64Array.of(1, NaN, NaN, 1), 2, false);
    expect(nan.ok === false && nan.error.reason).toBe('bad-input');
  });
});

const REF_NUCLEAR = `
import sys, json, numpy as np
m, n = int(sys.argv[2]), int(sys.argv[3])
k = np.fromfile(sys.argv[1], dtype='<f8').reshape(m, n)
print(json.dumps(float(np.linalg.svd(k, compute_uv=False).sum())))
`;

describe('nuclearNorm (Golub–Kahan bidiagonalisation, no squaring)', () => {
  for (const [m, n, graded] of [[30, 30, false], [40, 17, false], [12, 35, false], [25, 25, true], [1, 6, false]] as const) {
    it(`${m} x ${n}${graded ? ', rows graded over 16 orders of magnitude' : ''}: numpy's SVD to 1e-13`, () => {
      const rng = createRng(m * 100 + n);
      const k = Float64Array.from({ length: m * n }, (_, i) => rng.normal() * (graded ? 10 ** (8 - (16 * Math.floor(i / n)) / (m - 1)) : 1));
      const ref = JSON.parse(execFileSync(PY, ['-c', REF_NUCLEAR, writeMatrix(k), String(m), String(n)], { encoding: 'utf8' })) as number;
      const ours = nuclearNorm(k, m, n);
      expect(ours).toBeDefined();
      expect(rel(ours as number, ref)).toBeLessThan(1e-13);
    });
  }
});

describe('psdFactor (S = Fᵀ F)', () => {
  const reconstructs = (s: Float64Array, d: number, f: { rows: Float64Array; r: number }): number => {
    let worst = 0;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let v = 0;
        for (let t = 0; t < f.r; t++) v += (f.rows[t * d + i] as number) * (f.rows[t * d + j] as number);
        worst = Math.max(worst, Math.abs(v - (s[i * d + j] as number)));
      }
    }
    return worst;
  };

  it('is the blocked Cholesky factor of a full-rank covariance (more columns than one block)', () => {
    const d = 150;
    const s = stats(features(3, 400, d, 20, 0), 400, d);
    if (s.spread.kind !== 'cov') throw new Error('expected a covariance');
    const f = psdFactor(s.spread.cov, d);
    expect(f.kind).toBe('cholesky');
    expect(f.r).toBe(d);
    expect(reconstructs(s.spread.cov, d, f)).toBeLessThan(1e-12);
  });

  it('stops at the numerical rank, pivoted, for a duplicated and a constant feature', () => {
    const d = 40, n = 120;
    const x = features(4, n, d, 10, 0);
    for (let i = 0; i < n; i++) {
      x[i * d + 7] = x[i * d + 3] as number;
      x[i * d + 20] = 5;
    }
    const s = stats(x, n, d);
    if (s.spread.kind !== 'cov') throw new Error('expected a covariance');
    const f = psdFactor(s.spread.cov, d);
    expect(f.kind).toBe('pivoted-cholesky');
    expect(f.r).toBe(d - 2);
    expect(reconstructs(s.spread.cov, d, f)).toBeLessThan(1e-12);
  });
});

describe('frechetDistance: pytorch-fid\'s number at every shape the study meets', () => {
  // [n1, n2, d, rank of the shared factor]: n < d with d >= 256 (clustered zero eigenvalues),
  // n = d, n > d, and one set on each side of d.
  const shapes: Array<[number, number, number, number, string]> = [
    [100, 120, 256, 64, 'gram'],
    [60, 80, 128, 16, 'gram'],
    [200, 200, 256, 64, 'gram'],
    [300, 300, 512, 64, 'gram'],
    [256, 256, 256, 32, 'gram'],
    [100, 400, 256, 64, 'rows-cov'],
    [600, 400, 256, 64, 'cholesky'],
  ];
  for (const [n1, n2, d, rank, route] of shapes) {
    it(`${n1} x ${d} vs ${n2} x ${d}: within 1e-6 of scipy's sqrtm, within 1e-10 of the SVD (route ${route})`, () => {
      const x1 = features(n1 + d, n1, d, rank, 0);
      const x2 = features(n2 + 7 * d, n2, d, rank, 0.05);
      const ours = fidOf(stats(x1, n1, d), stats(x2, n2, d));
      const [pytorchFid, exact] = referenceFid(x1, n1, x2, n2, d);
      expect(ours.route).toBe(route);
      expect(ours.rule).toBe('exact');
      expect(ours.offset).toBe(0);
      expect(rel(ours.fid, pytorchFid)).toBeLessThanOrEqual(1e-6);
      expect(rel(ours.fid, exact)).toBeLessThanOrEqual(1e-10);
    });
  }

  it('the n <= d and n > d routes agree where both apply (same sets as rows and as covariances)', () => {
    const d = 200;
    const x1 = features(11, 120, d, 30, 0), x2 = features(12, 150, d, 30, 0.1);
    const gram = fidOf(stats(x1, 120, d), stats(x2, 150, d));
    const rowsCov = fidOf(stats(x1, 120, d), covStats(x2, 150, d));
    const factored = fidOf(covStats(x1, 120, d), covStats(x2, 150, d));
    expect([gram.route, rowsCov.route, factored.route]).toEqual(['gram', 'rows-cov', 'pivoted-cholesky']);
    expect(rel(rowsCov.fid, gram.fid)).toBeLessThan(1e-9);
    expect(rel(factored.fid, gram.fid)).toBeLessThan(1e-7);
  });

  it('identical sets give 0 on every route, and a shifted mean gives exactly |shift|^2', () => {
    for (const [n, d] of [[80, 120], [300, 40]] as const) {
      const x = features(5, n, d, 8, 0);
      const s = stats(x, n, d);
      expect(Math.abs(fidOf(s, s).fid)).toBeLessThan(1e-9 * s.trace);
      const shift = Array.from({ length: d }, (_, j) => 0.3 * (j % 7) - 0.8);
      const moved = fidOf(s, stats(x.map((v, i) => v + (shift[i % d] as number)), n, d));
      const closed = shift.reduce((acc, v) => acc + v * v, 0);
      expect(rel(moved.fid, closed)).toBeLessThan(1e-8);
    }
  });

  it('rank-1 sets, a duplicated feature (n > d) and a huge dynamic range agree with scipy', () => {
    const d = 64;
    // rank 1: every row on one line through the mean
    const line = features(21, 1, d, 4, 0);
    const rank1 = (seed: number, n: number): Float64Array => {
      const rng = createRng(seed);
      const x = new Float64Array(n * d);
      for (let i = 0; i < n; i++) { const z = rng.normal(); for (let j = 0; j < d; j++) x[i * d + j] = z * (line[j] as number) + 0.1 * j; }
      return x;
    };
    const a = rank1(1, 30), b = features(22, 50, d, 8, 0);
    expect(rel(fidOf(stats(a, 30, d), stats(b, 50, d)).fid, referenceFid(a, 30, b, 50, d)[0])).toBeLessThanOrEqual(1e-6);
    // duplicated feature with more samples than dimensions: S1 singular, the pivoted route
    const dup = features(23, 300, d, 8, 0);
    for (let i = 0; i < 300; i++) dup[i * d + 9] = dup[i * d + 2] as number;
    const other = features(24, 200, d, 8, 0.2);
    const r = fidOf(stats(dup, 300, d), stats(other, 200, d));
    expect(r.route).toBe('pivoted-cholesky');
    expect(rel(r.fid, referenceFid(dup, 300, other, 200, d)[0])).toBeLessThanOrEqual(1e-6);
    // feature scales from 1e-4 to 1e4
    const scales = Array.from({ length: d }, (_, j) => 10 ** (-4 + (8 * j) / (d - 1)));
    const wide1 = features(25, 400, d, 8, 0).map((v, i) => v * (scales[i % d] as number));
    const wide2 = features(26, 90, d, 8, 0.1).map((v, i) => v * (scales[i % d] as number));
    for (const [x1, n1, x2, n2] of [[wide1, 400, wide2, 90], [wide1, 400, wide1.map((v) => v * 1.1), 400]] as const) {
      const ours = fidOf(stats(x1, n1, d), stats(x2, n2, d));
      // eigenvalues spanning 32 orders of magnitude: the careful route, never squared
      expect(ours.route).toBe('svd');
      expect(rel(ours.fid, referenceFid(x1, n1, x2, n2, d)[0])).toBeLessThanOrEqual(1e-6);
    }
  });

  it('the eps variant adds the offset to both diagonals, as scipy with the same offset, and says so', () => {
    const d = 96;
    const x1 = features(31, 40, d, 8, 0), x2 = features(32, 70, d, 8, 0.3);
    const ours = fidOf(stats(x1, 40, d), stats(x2, 70, d), 1e-6);
    expect(ours.rule).toBe('offset');
    expect(ours.offset).toBe(1e-6);
    expect(rel(ours.fid, referenceFid(x1, 40, x2, 70, d, 1e-6)[0])).toBeLessThanOrEqual(1e-6);
    // and it is not the default number
    expect(rel(ours.fid, fidOf(stats(x1, 40, d), stats(x2, 70, d)).fid)).toBeGreaterThan(1e-7);
  });

  it('the wasm kernels and the TypeScript path agree, and thread counts give the same bits', () => {
    const d = 300;
    const x1 = features(41, 280, d, 30, 0), x2 = features(42, 500, d, 30, 0.1), x3 = features(43, 320, d, 30, 0.2);
    const pairs = (): number[] => [fidOf(stats(x1, 280, d), stats(x2, 500, d)).fid, fidOf(stats(x2, 500, d), stats(x3, 320, d)).fid, fidOf(stats(x1, 280, d), stats(x3, 320, d)).fid];
    setF64Threads(1);
    const one = pairs();
    setF64Threads(2);
    const two = pairs();
    useF64Kernels(false);
    const plain = pairs();
    useF64Kernels(true);
    expect(two).toEqual(one);
    plain.forEach((v, i) => expect(rel(v, one[i] as number)).toBeLessThan(1e-12));
  });

  it('reports bad input as errors: shape, too few samples, non-finite, constant features, mismatched widths', () => {
    expect(featureStats(new Float32Array(10), 3, 3).ok).toBe(false);
    const one = featureStats(new Float32Array(4), 1, 4);
    expect(one.ok === false && one.error.reason).toBe('too-few-samples');
    const nan = featureStats(Float32Array.of(1, NaN, 2, 3), 2, 2);
    expect(nan.ok === false && nan.error.reason).toBe('not-finite');
    const constant = featureStats(new Float32Array(50 * 8).fill(0.25), 50, 8);
    expect(constant.ok).toBe(false);
    if (!constant.ok) {
      expect(constant.error.reason).toBe('constant-features');
      expect(constant.error.message).toMatch(/all 50 feature vectors are identical/);
    }
    const mism = frechetDistance(stats(features(1, 20, 12, 3, 0), 20, 12), stats(features(2, 10, 3, 2, 0), 10, 3));
    expect(mism.ok === false && mism.error.reason).toBe('dimension-mismatch');
    const badOffset = frechetDistance(stats(features(1, 20, 12, 3, 0), 20, 12), stats(features(2, 20, 12, 3, 0), 20, 12), { offset: -1 });
    expect(badOffset.ok === false && badOffset.error.reason).toBe('bad-input');
  });
});
