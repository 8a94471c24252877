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
  const parts: string[] = [];
  write(value, '$', parts, new Set());
  return parts.join('');
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

function write(v: unknown, path: string, out: string[], seen: Set<object>): void {
  switch (typeof v) {
    case 'string':
      out.push(JSON.stringify(v));
      return;
    case 'boolean':
      out.push(v ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(v)) throw new CanonicalJsonError(`non-finite number ${String(v)}`, path);
      out.push(Object.is(v, -0) ? '0' : JSON.stringify(v));
      return;
    case 'undefined':
      throw new CanonicalJsonError('undefined value', path);
    case 'object': {
      if (v === null) {
        out.push('null');
        return;
      }
      if (seen.has(v)) throw new CanonicalJsonError('cycle', path);
      seen.add(v);
      if (Array.isArray(v)) {
        out.push('[');
        for (let i = 0; i < v.length; i++) {
          if (i > 0) out.push(',');
          write(v[i], `${path}[${i}]`, out, seen);
        }
        out.push(']');
      } else if (isPlainObject(v)) {
        const keys = Object.keys(v).sort();
        out.push('{');
        let first = true;
        for (const k of keys) {
          const child = v[k];
          if (child === undefined) continue;
          if (!first) out.push(',');
          first = false;
          out.push(JSON.stringify(k), ':');
          write(child, `${path}.${k}`, out, seen);
        }
        out.push('}');
      } else {
        const name = (v as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
        throw new CanonicalJsonError(`not a plain object or array (${name})`, path);
      }
      seen.delete(v);
      return;
    }
    default:
      throw new CanonicalJsonError(`unsupported type ${typeof v}`, path);
  }
}
