/**
 * Canonical JSON: the byte-exact form we hash (fingerprints, folder manifests).
 *
 * Rules (so equal values always give equal strings, and different values different strings):
 * - object keys sorted by UTF-16 code units (`Array.prototype.sort` default) at every depth; no whitespace;
 * - strings and finite numbers as `JSON.stringify` writes them (shortest round-trip form);
 * - `-0` is normalised to `0` (JSON cannot tell them apart after a parse anyway);
 * - an object property whose value is `undefined` is omitted (as `JSON.stringify` does);
 * - rejected with a `CanonicalJsonError`: `NaN`, `±Infinity`, `undefined` as a top-level value or an array
 *   element (JSON.stringify would silently turn these into `null`), bigint, functions, symbols, cycles,
 *   and any object that is not a plain object or array (Date, Map, class instances...): convert explicitly.
 */
import { err, ok, type Result } from '../util/result.js';

export class CanonicalJsonError extends Error {
  readonly reason = 'not-canonical-json';
  constructor(message: string, readonly path: string) {
    super(`${message} at ${path}`);
    this.name = 'CanonicalJsonError';
  }
}

export function canonicalJson(value: unknown): string {
  // The path of the value being written, as keys and indexes: formatted only for an error
  // (building a path string per node cost more than the rest of the walk).
  const at: (string | number)[] = [];
  try {
    return write(value, at, new Set());
  } catch (e) {
    if (e instanceof PathlessError) throw new CanonicalJsonError(e.message, formatPath(at));
    throw e;
  }
}

/**
 * Whether `canonicalJson(a) === canonicalJson(b)`, without building either string (false when
 * either is not canonical JSON). The lock updater compares an entry per stage on every run.
 */
export function canonicallyEqual(a: unknown, b: unknown): boolean {
  return sameValue(a, b, new Set());
}

/** Same as `canonicalJson`, as a value instead of a throw. */
export function tryCanonicalJson(value: unknown): Result<string, { reason: 'not-canonical-json'; message: string; path: string }> {
  try {
    return ok(canonicalJson(value));
  } catch (e) {
    if (e instanceof CanonicalJsonError) return err({ reason: e.reason, message: e.message, path: e.path });
    throw e;
  }
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function sameValue(a: unknown, b: unknown, seen: Set<object>): boolean {
  // 0 === -0 (both written as 0); NaN and the infinities are not canonical JSON.
  if (typeof a === 'number') return typeof b === 'number' && Number.isFinite(a) && a === b;
  if (typeof a === 'string' || typeof a === 'boolean') return a === b;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return a === null && b === null;
  if (seen.has(a)) return false;
  seen.add(a);
  let same: boolean;
  if (Array.isArray(a)) {
    same = Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i], seen));
  } else if (isPlainObject(a) && !Array.isArray(b) && isPlainObject(b)) {
    // Properties whose value is undefined are not written.
    const keys = Object.keys(a).filter((k) => a[k] !== undefined);
    same = keys.length === Object.keys(b).filter((k) => b[k] !== undefined).length && keys.every((k) => Object.hasOwn(b, k) && sameValue(a[k], b[k], seen));
  } else {
    same = false;
  }
  seen.delete(a);
  return same;
}

/** Thrown inside the walk; `canonicalJson` adds the path (left on the stack) on the way out. */
class PathlessError extends Error {}

function formatPath(at: readonly (string | number)[]): string {
  return `$${at.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('')}`;
}

function write(v: unknown, at: (string | number)[], seen: Set<object>): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new PathlessError(`non-finite number ${String(v)}`);
      return Object.is(v, -0) ? '0' : JSON.stringify(v);
    case 'undefined':
      throw new PathlessError('undefined value');
    case 'object': {
      if (v === null) return 'null';
      if (seen.has(v)) throw new PathlessError('cycle');
      seen.add(v);
      let out: string;
      if (Array.isArray(v)) {
        out = '[';
        for (let i = 0; i < v.length; i++) {
          if (i > 0) out += ',';
          at.push(i);
          out += write(v[i], at, seen);
          at.pop();
        }
        out += ']';
      } else if (isPlainObject(v)) {
        const keys = Object.keys(v).sort();
        out = '{';
        let first = true;
        for (const k of keys) {
          const child = v[k];
          if (child === undefined) continue;
          if (!first) out += ',';
          first = false;
          at.push(k);
          out += `${JSON.stringify(k)}:${write(child, at, seen)}`;
          at.pop();
        }
        out += '}';
      } else {
        const name = (v as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
        throw new PathlessError(`not a plain object or array (${name})`);
      }
      seen.delete(v);
      return out;
    }
    default:
      throw new PathlessError(`unsupported type ${typeof v}`);
  }
}
