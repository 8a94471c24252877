/** Params: deep merging, path lookup and `--set a.b=value` overrides. */
import { err, ok, type Result } from '../util/result.js';
import { yaml } from '../util/yaml.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `over` wins; objects merge recursively, everything else (lists too) is replaced. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? deepMerge(base[k], v) : v;
  return out;
}

/** The same value with every object's keys sorted, so equal params print and hash the same. */
export function canonical<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x: unknown) => canonical(x)) as T;
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = canonical(v[k]);
    return out as T;
  }
  return v;
}

export type Lookup = { found: true; value: unknown } | { found: false; missingAt: number; available: string[] };

/** Walks `path` through objects (and lists by numeric index). */
export function lookup(root: unknown, path: readonly string[]): Lookup {
  let cur: unknown = root;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i] as string;
    if (Array.isArray(cur) && /^\d+$/.test(seg) && Number(seg) < cur.length) cur = cur[Number(seg)];
    else if (isPlainObject(cur) && Object.hasOwn(cur, seg)) cur = cur[seg];
    else return { found: false, missingAt: i, available: isPlainObject(cur) ? Object.keys(cur) : [] };
  }
  return { found: true, value: cur };
}

export interface Override {
  readonly path: readonly string[];
  readonly value: unknown;
  readonly text: string;
}

/** `a.b=value`: the value is a YAML scalar or flow collection (`5`, `0.1`, `[a, b]`, `"x y"`). */
export function parseOverride(text: string): Result<Override, string> {
  const eq = text.indexOf('=');
  if (eq < 0) return err(`malformed --set \`${text}\`: expected \`path.to.param=value\``);
  const key = text.slice(0, eq).trim();
  const raw = text.slice(eq + 1);
  const path = key.split('.');
  if (key === '' || !path.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) {
    return err(`malformed --set \`${text}\`: \`${key}\` is not a param path like \`train.epochs\``);
  }
  if (raw.trim() === '') return err(`malformed --set \`${text}\`: missing value after \`=\` (use \`${key}=""\` for an empty string)`);
  try {
    return ok({ path, value: yaml().parse(raw) as unknown, text });
  } catch (e) {
    return err(`malformed --set \`${text}\`: value is not valid YAML (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  }
}

/** A copy of `root` with the value at `path` replaced. The caller checked that the path exists. */
export function setAt(root: unknown, path: readonly string[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head = '', ...rest] = path;
  if (Array.isArray(root)) {
    const copy = [...root];
    copy[Number(head)] = setAt(root[Number(head)], rest, value);
    return copy;
  }
  const obj = isPlainObject(root) ? root : {};
  return { ...obj, [head]: setAt(obj[head], rest, value) };
}
