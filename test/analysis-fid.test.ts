import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { featureStats, frechetDistance, symmetricEigen, type FeatureStats } from '../src/ml/analysis/index.js';
import { createRng, type Rng } from '../src/util/rng.js';

// Independent reference: numpy/scipy, the pytorch-fid route (scipy.linalg.sqrtm of S1 S2).
const PY = '/usr/bin/python3';
const dir = mkdtempSync(join(tmpdir(), 'fid-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const REF_FID = `
import sys, json, numpy as np
from scipy import linalg
n1, n2, d, offset = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
x1 = np.fromfile(sys.argv[1], dtype='<f8').reshape(n1, d)
x2 = np.fromfile(sys.argv[2], dtype='<f8').reshape(n2, d)
mu1, mu2 = x1.mean(0), x2.mean(0)
s1, s2 = np.atleast_2d(np.cov(x1, rowvar=False)), np.atleast_2d(np.cov(x2, rowvar=False))
off = np.eye(d) * offset
covmean, _ = linalg.sqrtm((s1 + off).dot(s2 + off), disp=False)
covmean = covmean.real
diff = mu1 - mu2
print(json.dumps(float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))))
`;

let fileNo = 0;
function writeMatrix(x: Float64Array): string {
  const path = join(dir, `m${fileNo++}.bin`);
  writeFileSync(path, Buffer.from(x.buffer, x.byteOffset, x.byteLength));
  return path;
}

function referenceFid(x1: Float64Array, n1: number, x2: Float64Array, n2: number, d: number, offset: number): number {
  const out = execFileSync(PY, ['-c', REF_FID, writeMatrix(x1), writeMatrix(x2), String(n1), String(n2), String(d), String(offset)], { encoding: 'utf8' });
  return JSON.parse(out) as number;
}

/** n rows of d correlated features: z A + shift, z standard normal. */
function features(rng: Rng, n: number, d: number, mixing: Float64Array, shift: number): Float64Array {
  const x = new Float64Array(n * d);
  const z = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) z[k] = rng.normal();
    for (let j = 0; j < d; j++) {
      let s = shift;
      for (let k = 0; k < d; k++) s += (z[k] as number) * (mixing[k * d + j] as number);
      x[i * d + j] = s;
    }
  }
  return x;
}

function randomMixing(rng: Rng, d: number): Float64Array {
  const m = new Float64Array(d * d);
  for (let i = 0; i < d * d; i++) m[i] = rng.normal() / Math.sqrt(d);
  for (let i = 0; i < d; i++) m[i * d + i] = (m[i * d + i] as number) + 0.5;
  return m;
}

function stats(x: Float64Array, n: number, d: number): FeatureStats {
  const s = featureStats(x, n, d);
  if (!s.ok) throw new Error(s.error.message);
  return s.value;
}

const REF_EIGH = `
import sys, json, numpy as np
n = int(sys.argv[2])
a = np.fromfile(sys.argv[1], dtype='<f8').reshape(n, n)
print(json.dumps(np.linalg.eigvalsh(a).tolist()))
`;

describe('symmetricEigen (Householder + implicit QL, float64)', () => {
  const cases: Array<[string, number, (rng: Rng, n: number) => Float64Array]> = [
    ['random symmetric', 40, (rng, n) => { const a = new Float64Array(n * n); for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) { const v = rng.normal(); a[i * n + j] = v; a[j * n + i] = v; } return a; }],
    ['repeated eigenvalues (I + rank 2)', 25, (rng, n) => { const u = Array.from({ length: n }, () => rng.normal()); const w = Array.from({ length: n }, () => rng.normal()); const a = new Float64Array(n * n); for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = (i === j ? 1 : 0) + (u[i] as number) * (u[j] as number) + (w[i] as number) * (w[j] as number); return a; }],
    ['already diagonal', 7, (_rng, n) => { const a = new Float64Array(n * n); for (let i = 0; i < n; i++) a[i * n + i] = n - 2 * i; return a; }],
    ['block diagonal (a column is already reduced mid-way)', 10, (rng, n) => { const a = new Float64Array(n * n); for (const [lo, hi] of [[0, 6], [6, 10]] as const) for (let i = lo; i < hi; i++) for (let j = lo; j <= i; j++) { const v = rng.normal(); a[i * n + j] = v; a[j * n + i] = v; } return a; }],
    ['1x1', 1, () => Float64Array.of(3.5)],
    ['2x2', 2, () => Float64Array.of(2, 1, 1, 2)],
  ];
  for (const [name, n, make] of cases) {
    it(`matches numpy eigvalsh and reconstructs A = V^T L V: ${name}`, () => {
      const a = make(createRng(7), n);
      const r = symmetricEigen(a, n, true);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const ref = JSON.parse(execFileSync(PY, ['-c', REF_EIGH, writeMatrix(a), String(n)], { encoding: 'utf8' })) as number[];
      const scale = Math.max(1, ...ref.map(Math.abs));
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

describe('frechetDistance', () => {
  const d = 12;
  const rng = createRng(2024);
  const mixA = randomMixing(rng, d);
  const mixB = randomMixing(rng, d);
  const n = 300;
  const xa = features(rng, n, d, mixA, 0);

  it('identical sets give 0', () => {
    const s = stats(xa, n, d);
    const r = frechetDistance(s, s);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.offset).toBe(0);
    // Tr(S) is ~d here: zero up to float64 round-off.
    expect(Math.abs(r.value.fid)).toBeLessThan(1e-10);
  });

  it('a shifted mean gives exactly |shift|^2 (same covariance)', () => {
    const shift = Array.from({ length: d }, (_, j) => 0.3 * (j + 1) - 1.5);
    const xb = xa.map((v, i) => v + (shift[i % d] as number));
    const r = frechetDistance(stats(xa, n, d), stats(xb, n, d));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const closed = shift.reduce((s, v) => s + v * v, 0);
    expect(Math.abs(r.value.fid - closed) / closed).toBeLessThan(1e-10);
    expect(Math.abs(r.value.covTerm)).toBeLessThan(1e-10);
    expect(referenceFid(xa, n, xb, n, d, 0)).toBeCloseTo(closed, 8);
  });

  it('random full-rank sets agree with scipy sqrtm within 1e-6 relative', () => {
    for (const [nb, shift] of [[250, 0.2], [400, -1]] as const) {
      const xb = features(rng, nb, d, mixB, shift);
      const ours = frechetDistance(stats(xa, n, d), stats(xb, nb, d));
      expect(ours.ok).toBe(true);
      if (!ours.ok) return;
      expect(ours.value.offset).toBe(0);
      const ref = referenceFid(xa, n, xb, nb, d, 0);
      expect(Math.abs(ours.value.fid - ref) / Math.abs(ref)).toBeLessThanOrEqual(1e-6);
    }
  });

  it('rank-deficient sets (n <= d) take the 1e-6 diagonal fallback, as scipy with the same offset', () => {
    const dd = 24;
    const r2 = createRng(5);
    const m1 = randomMixing(r2, dd);
    const m2 = randomMixing(r2, dd);
    const x1 = features(r2, 10, dd, m1, 0);
    const x2 = features(r2, 16, dd, m2, 0.5);
    const ours = frechetDistance(stats(x1, 10, dd), stats(x2, 16, dd));
    expect(ours.ok).toBe(true);
    if (!ours.ok) return;
    expect(ours.value.offset).toBe(1e-6);
    expect(ours.value.fallbackReason).toMatch(/fewer samples/);
    const ref = referenceFid(x1, 10, x2, 16, dd, 1e-6);
    expect(Math.abs(ours.value.fid - ref) / Math.abs(ref)).toBeLessThanOrEqual(1e-6);
  });

  it('detects a numerically singular S1 with n > d (duplicated feature column)', () => {
    const dd = 6;
    const r3 = createRng(9);
    const x1 = features(r3, 50, dd, randomMixing(r3, dd), 0);
    for (let i = 0; i < 50; i++) x1[i * dd + 5] = x1[i * dd + 4] as number;
    const x2 = features(r3, 50, dd, randomMixing(r3, dd), 1);
    const ours = frechetDistance(stats(x1, 50, dd), stats(x2, 50, dd));
    expect(ours.ok).toBe(true);
    if (!ours.ok) return;
    expect(ours.value.offset).toBe(1e-6);
    expect(ours.value.fallbackReason).toMatch(/singular/);
    const ref = referenceFid(x1, 50, x2, 50, dd, 1e-6);
    expect(Math.abs(ours.value.fid - ref) / Math.abs(ref)).toBeLessThanOrEqual(1e-6);
  });

  it('reports bad input as errors', () => {
    expect(featureStats(new Float32Array(10), 3, 3).ok).toBe(false);
    const one = featureStats(new Float32Array(4), 1, 4);
    expect(one.ok === false && one.error.reason).toBe('too-few-samples');
    const nan = featureStats(Float32Array.of(1, NaN, 2, 3), 2, 2);
    expect(nan.ok === false && nan.error.reason).toBe('not-finite');
    const mism = frechetDistance(stats(xa, n, d), stats(new Float64Array(30), 10, 3));
    expect(mism.ok === false && mism.error.reason).toBe('dimension-mismatch');
  });
});
