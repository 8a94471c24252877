import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicallyEqual, compareMetrics, parseLockFile, renderLockFile, sha256, tryCanonicalJson, writeLockFile, type LockFile } from '../src/store/index.js';

const SEED = 20240601;

/** Rebuilds an object with its keys in a permuted order, at every depth. */
function shuffleKeys(v: unknown, perm: number[]): unknown {
  if (Array.isArray(v)) return v.map((x) => shuffleKeys(x, perm));
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v);
    const order = keys.map((k, i) => ({ k, r: perm[i % Math.max(1, perm.length)] ?? 0 })).sort((a, b) => a.r - b.r || (a.k < b.k ? 1 : -1));
    const out: Record<string, unknown> = {};
    for (const { k } of order) out[k] = shuffleKeys((v as Record<string, unknown>)[k], perm);
    return out;
  }
  return v;
}

const key = fc.string({ minLength: 1, maxLength: 8 }).filter((k) => k !== '__proto__');
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 5 }),
  ),
})).value;

const hash = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => sha256(b));
const lockArb: fc.Arbitrary<LockFile> = fc.record({
  version: fc.constant(1 as const),
  pipeline: fc.string(),
  stages: fc.dictionary(
    fc.oneof(key, fc.constantFrom('train[task=dtd,method=vpt-deep]', 'prep', 'eval[k=1]')),
    fc.record(
      {
        fingerprint: hash,
        kind: fc.oneof(fc.constant('command'), fc.constantFrom('train.vit@1', 'data.vtab1k@2')),
        command: fc.string(),
        params: jsonValue,
        deps: fc.dictionary(key, hash, { maxKeys: 3 }),
        outs: fc.dictionary(key, fc.record({ path: fc.string({ minLength: 1 }), hash, size: fc.nat() }), { maxKeys: 3 }),
        metrics: fc.dictionary(key, fc.oneof(fc.double(), fc.integer()), { maxKeys: 4 }),
      },
      { requiredKeys: ['fingerprint', 'kind', 'params', 'deps', 'outs', 'metrics'] },
    ),
    { maxKeys: 4 },
  ),
});

/** -0 renders as 0; everything else must come back identical (NaN included). */
function normalised<T>(v: T): T {
  if (typeof v === 'number') return (Object.is(v, -0) ? 0 : v) as T;
  if (Array.isArray(v)) return v.map(normalised) as T;
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalised(x)])) as T;
  return v;
}

describe('canonicalJson', () => {
  it('does not depend on key order', () => {
    fc.assert(
      fc.property(jsonValue, fc.array(fc.nat(100), { minLength: 1, maxLength: 8 }), (v, perm) => {
        expect(canonicalJson(shuffleKeys(v, perm))).toBe(canonicalJson(v));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('different values give different strings (it parses back to the same value)', () => {
    fc.assert(
      fc.property(jsonValue, jsonValue, (a, b) => {
        const ca = canonicalJson(a);
        expect(JSON.parse(ca)).toEqual(normalised(a));
        if (canonicalJson(b) === ca) expect(normalised(b)).toEqual(normalised(a));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('is compact with sorted keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: true, y: null }], c: 'x' } })).toBe('{"a":{"c":"x","d":[1,{"y":null,"z":true}]},"b":1}');
  });

  it('normalises -0 and undefined properties, rejects NaN, Infinity, undefined elements, bigint, cycles and class instances', () => {
    expect(canonicalJson({ a: -0, b: undefined })).toBe('{"a":0}');
    expect(() => canonicalJson(Number.NaN)).toThrow(/non-finite/);
    expect(() => canonicalJson({ x: [Number.POSITIVE_INFINITY] })).toThrow(/\$\.x\[0\]/);
    expect(() => canonicalJson([undefined])).toThrow(/undefined/);
    expect(() => canonicalJson(undefined)).toThrow(/undefined/);
    expect(() => canonicalJson(1n)).toThrow(/bigint/);
    expect(() => canonicalJson(new Date(0))).toThrow(/Date/);
    expect(() => canonicalJson(new Map())).toThrow(/Map/);
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expect(() => canonicalJson(cyc)).toThrow(/cycle/);
    const shared = { s: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"s":1},"b":{"s":1}}');
    const r = tryCanonicalJson({ n: Number.NaN });
    expect(!r.ok && r.error.path).toBe('$.n');
  });
});

describe('canonicallyEqual', () => {
  /** Values near each other (shared parts, reordered keys, -0, NaN, undefined) so that equal pairs are common. */
  const nearValue = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constantFrom('a', 'b', ''),
      fc.constantFrom(0, -0, 1, 1.5, Number.NaN, Number.POSITIVE_INFINITY),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom('x', 'y', 'z'), tie('value'), { maxKeys: 3 }),
    ),
  })).value;
  const canonicalText = (v: unknown): string | undefined => {
    const r = tryCanonicalJson(v);
    return r.ok ? r.value : undefined;
  };

  it('agrees with comparing canonicalJson texts (false when either value is not canonical)', () => {
    fc.assert(
      fc.property(nearValue, nearValue, (a, b) => {
        const [x, y] = [canonicalText(a), canonicalText(b)];
        expect(canonicallyEqual(a, b)).toBe(x !== undefined && y !== undefined && x === y);
      }),
      { seed: SEED, numRuns: 2000 },
    );
    fc.assert(
      fc.property(jsonValue, fc.array(fc.nat(100), { minLength: 1, maxLength: 8 }), (v, perm) => {
        expect(canonicallyEqual(shuffleKeys(v, perm), v)).toBe(true);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('treats -0 as 0 and skips undefined properties; rejects cycles, class instances and undefined elements', () => {
    expect(canonicallyEqual({ a: -0, b: undefined }, { a: 0 })).toBe(true);
    expect(canonicallyEqual({ a: 1 }, { a: '1' })).toBe(false);
    expect(canonicallyEqual([undefined], [undefined])).toBe(false);
    expect(canonicallyEqual(new Date(0), new Date(0))).toBe(false);
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expect(canonicallyEqual(cyc, cyc)).toBe(false);
    const shared = { s: 1 };
    expect(canonicallyEqual({ a: shared, b: shared }, { a: { s: 1 }, b: { s: 1 } })).toBe(true);
  });
});

describe('lock file', () => {
  it('renders the same content byte-identically whatever the key order', () => {
    fc.assert(
      fc.property(lockArb, fc.array(fc.nat(100), { minLength: 1, maxLength: 8 }), (lock, perm) => {
        expect(renderLockFile(shuffleKeys(lock, perm) as LockFile)).toBe(renderLockFile(lock));
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('parse(render(x)) round-trips', () => {
    fc.assert(
      fc.property(lockArb, (lock) => {
        const text = renderLockFile(lock);
        expect(text.endsWith('\n')).toBe(true);
        const back = parseLockFile(text, 'pipeline.lock');
        if (!back.ok) throw new Error(`${back.error.message}\n${text}`);
        expect(back.value).toEqual(normalised(lock));
        expect(renderLockFile(back.value)).toBe(text);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('writes a readable, sorted document without aliases for shared objects', () => {
    const h = sha256('x');
    const shared = { path: 'out/model', hash: h, size: 10 };
    const lock: LockFile = {
      version: 1,
      pipeline: 'vtab-mini',
      stages: {
        'train[task=dtd]': { fingerprint: 'fp2', kind: 'train.vit@1', params: { lr: 0.001, epochs: 2 }, deps: {}, outs: { model: shared }, metrics: { acc: 0.5, nan: Number.NaN, z: -0 } },
        prep: { fingerprint: 'fp1', kind: 'command', command: 'python prep.py', params: null, deps: { 'data/raw.csv': h }, outs: { again: shared }, metrics: {} },
      },
    };
    const text = renderLockFile(lock);
    expect(text).not.toMatch(/[&*]/);
    expect(text.indexOf('  prep:')).toBeLessThan(text.indexOf('  train[task=dtd]:'));
    expect(text).toContain('nan: .nan');
    expect(text).toContain('z: 0\n');
    expect(text).toMatch(/\n( +)epochs: 2\n\1lr: 0\.001\n/);
  });

  it('reports bad documents with a line and column', () => {
    const h = sha256('y');
    const bad = parseLockFile('version: 1\npipeline: p\nstages:\n  a:\n    fingerprint: f\n    kind: command\n    params: {}\n    deps: {x: nothex}\n    outs: {}\n    metrics: {}\n', 'p.lock');
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.error.reason).toBe('bad-lock');
    expect(bad.error.message).toContain('stages.a.deps.x');
    expect(bad.error.line).toBe(8);
    const syntax = parseLockFile('version: 1\npipeline: [unclosed\n', 'p.lock');
    expect(!syntax.ok && syntax.error.line).toBeTypeOf('number');
    const version = parseLockFile('version: 2\npipeline: p\nstages: {}\n', 'p.lock');
    expect(!version.ok && version.error.message).toMatch(/version/);
    const dup = parseLockFile('version: 1\nversion: 1\npipeline: p\nstages: {}\n', 'p.lock');
    expect(dup.ok).toBe(false);
    const unknownKey = parseLockFile(`version: 1\npipeline: p\nstages:\n  a: {fingerprint: f, kind: k, params: 1, deps: {}, outs: {o: {path: p, hash: ${h}, size: 1}}, metrics: {}, extra: 1}\n`, 'p.lock');
    expect(!unknownKey.ok && unknownKey.error.message).toMatch(/extra: unknown key/);
    expect(parseLockFile('just a string\n', 'p.lock').ok).toBe(false);
  });

  it('writeLockFile writes atomically and leaves an unchanged file alone', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vpt-lock-'));
    try {
      const file = path.join(dir, 'pipeline.lock');
      const lock: LockFile = { version: 1, pipeline: 'p', stages: {} };
      await writeLockFile(file, lock);
      const st1 = await fs.stat(file);
      await new Promise((r) => setTimeout(r, 20));
      await writeLockFile(file, lock);
      expect((await fs.stat(file)).mtimeMs).toBe(st1.mtimeMs);
      await writeLockFile(file, { ...lock, pipeline: 'q' });
      const back = parseLockFile(await fs.readFile(file, 'utf8'), file);
      expect(back.ok && back.value.pipeline).toBe('q');
      expect((await fs.readdir(dir)).sort()).toEqual(['pipeline.lock']);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('compareMetrics', () => {
  it('gives per-metric verdicts with abs and rel tolerances', () => {
    const v = compareMetrics({ acc: 0.8, loss: 0.5, zero: 0, gone: 1, nan: Number.NaN }, { acc: 0.805, loss: 0.6, zero: 1e-9, extra: 3, nan: Number.NaN }, { abs: 1e-6, rel: 0.01 });
    const by = Object.fromEntries(v.map((x) => [x.name, x]));
    expect(v.map((x) => x.name)).toEqual(['acc', 'extra', 'gone', 'loss', 'nan', 'zero']);
    expect(by.acc?.status).toBe('within-tolerance');
    expect(by.loss?.status).toBe('out-of-tolerance');
    expect(by.loss?.pass).toBe(false);
    expect(by.zero?.status).toBe('within-tolerance');
    expect(by.gone).toMatchObject({ status: 'missing', pass: false });
    expect(by.extra).toMatchObject({ status: 'unexpected', pass: true });
    expect(by.nan).toMatchObject({ status: 'equal', pass: true });
  });

  it('without tolerances only exact equality passes; negative tolerances are rejected', () => {
    const v = compareMetrics({ a: 1, b: 2 }, { a: 1, b: 2.0000001 }, {});
    expect(v.map((x) => x.pass)).toEqual([true, false]);
    expect(compareMetrics({ a: 1 }, { a: Number.NaN }, { abs: 10 })[0]?.pass).toBe(false);
    expect(() => compareMetrics({}, {}, { rel: -1 })).toThrow(RangeError);
  });
});
