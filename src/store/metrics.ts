/** Metric comparison for `pipeline verify`: recorded (expected) vs reproduced (actual). */

export interface MetricTolerance {
  /** Pass when |actual - expected| <= abs. */
  readonly abs?: number;
  /** Pass when |actual - expected| <= rel * |expected|. */
  readonly rel?: number;
}

export type MetricStatus = 'equal' | 'within-tolerance' | 'out-of-tolerance' | 'missing' | 'unexpected';

export interface MetricVerdict {
  readonly name: string;
  readonly status: MetricStatus;
  /** `missing` and `out-of-tolerance` fail; an `unexpected` new metric does not. */
  readonly pass: boolean;
  readonly expected?: number;
  readonly actual?: number;
  readonly absDiff?: number;
  /** |diff| / |expected|; Infinity when expected is 0 and they differ. */
  readonly relDiff?: number;
}

/**
 * Per-metric verdicts, sorted by name. With both tolerances a metric passes if EITHER holds
 * (numpy.isclose style, so values near 0 can pass on `abs`); with none, only exact equality
 * passes. NaN equals NaN here (a run that diverged reproduces as diverged). Negative or NaN
 * tolerances are programmer errors (RangeError).
 */
export function compareMetrics(
  expected: Readonly<Record<string, number>>,
  actual: Readonly<Record<string, number>>,
  tolerance: MetricTolerance,
): MetricVerdict[] {
  for (const [k, t] of Object.entries(tolerance)) {
    if (t !== undefined && !(typeof t === 'number' && t >= 0)) throw new RangeError(`tolerance ${k} must be a number >= 0, got ${String(t)}`);
  }
  const names = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  return names.map((name): MetricVerdict => {
    const e = Object.hasOwn(expected, name) ? expected[name] : undefined;
    const a = Object.hasOwn(actual, name) ? actual[name] : undefined;
    if (e === undefined) return { name, status: 'unexpected', pass: true, ...(a !== undefined ? { actual: a } : {}) };
    if (a === undefined) return { name, status: 'missing', pass: false, expected: e };
    if (Object.is(e, a) || e === a || (Number.isNaN(e) && Number.isNaN(a))) return { name, status: 'equal', pass: true, expected: e, actual: a, absDiff: 0, relDiff: 0 };
    const absDiff = Math.abs(a - e);
    const relDiff = e === 0 ? Number.POSITIVE_INFINITY : absDiff / Math.abs(e);
    const okAbs = tolerance.abs !== undefined && absDiff <= tolerance.abs;
    const okRel = tolerance.rel !== undefined && absDiff <= tolerance.rel * Math.abs(e);
    const within = okAbs || okRel;
    return { name, status: within ? 'within-tolerance' : 'out-of-tolerance', pass: within, expected: e, actual: a, absDiff, relDiff };
  });
}
