/**
 * `pipeline.lock`: deterministic YAML meant for git. Same content -> byte-identical text:
 * keys sorted at every depth, no anchors/aliases (duplicate objects are written out in full),
 * no line folding, numbers in JavaScript's shortest round-trip form (-0 written as 0), `.nan`
 * / `.inf` for non-finite metrics, a trailing newline.
 */
import * as fsp from 'node:fs/promises';
import { err, ok, type Result } from '../util/result.js';
import { yaml } from '../util/yaml.js';
import { writeFileAtomic } from './fs-atomic.js';
import { isSha256, type Sha256 } from './sha256.js';

export interface LockFile {
  readonly version: 1;
  readonly pipeline: string;
  readonly stages: Readonly<Record<string, LockStage>>;
}

export interface LockStage {
  readonly fingerprint: string;
  /** `uses` name@version, or 'command'. */
  readonly kind: string;
  readonly command?: string;
  readonly params: unknown;
  readonly deps: Readonly<Record<string, Sha256>>;
  readonly outs: Readonly<Record<string, { readonly path: string; readonly hash: Sha256; readonly size: number }>>;
  readonly metrics: Readonly<Record<string, number>>;
}

export type LockFileError = { readonly reason: 'bad-lock'; readonly message: string; readonly line?: number; readonly column?: number };

const HEADER = '# Written by vpt-pipeline: what each stage last produced. Commit it; do not edit by hand.\n';

/** Plain data with sorted keys; undefined properties dropped, -0 -> 0, Dates as ISO strings. */
function normalise(v: unknown, where: string): unknown {
  if (typeof v === 'number') return Object.is(v, -0) ? 0 : v;
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map((x, i) => (x === undefined ? null : normalise(x, `${where}[${i}]`)));
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') {
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) throw new TypeError(`lock file: unsupported value at ${where}`);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const child = (v as Record<string, unknown>)[k];
      if (child === undefined) continue;
      // defineProperty: a key named __proto__ must stay an ordinary key.
      Object.defineProperty(out, k, { value: normalise(child, `${where}.${k}`), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  throw new TypeError(`lock file: unsupported ${typeof v} at ${where}`);
}

export function renderLockFile(lock: LockFile): string {
  const body = yaml().stringify(normalise(lock, 'lock'), {
    sortMapEntries: true,
    aliasDuplicateObjects: false,
    lineWidth: 0,
    minContentWidth: 0,
    indent: 2,
  });
  return HEADER + (body.endsWith('\n') ? body : `${body}\n`);
}

export async function writeLockFile(file: string, lock: LockFile): Promise<void> {
  const text = renderLockFile(lock);
  // Unchanged content: leave the file (and its mtime) alone.
  const current = await fsp.readFile(file, 'utf8').catch(() => undefined);
  if (current === text) return;
  await writeFileAtomic(file, text, { syncDir: true });
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseLockFile(text: string, file: string): Result<LockFile, LockFileError> {
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first !== undefined) {
    const pos = first.linePos?.[0] ?? lineCounter.linePos(first.pos[0]);
    return err({ reason: 'bad-lock', message: `${file}: ${first.message.split('\n')[0] ?? first.message}`, line: pos.line, column: pos.col });
  }
  const at = (keys: readonly (string | number)[], message: string): { ok: false; error: LockFileError } => {
    const node = doc.getIn(keys, true) as { range?: [number, number, number] } | undefined;
    const offset = node?.range?.[0];
    const pos = offset === undefined ? undefined : lineCounter.linePos(offset);
    return err({ reason: 'bad-lock', message: `${file}: ${keys.length > 0 ? `${keys.join('.')}: ` : ''}${message}`, ...(pos ? { line: pos.line, column: pos.col } : {}) });
  };
  let v: unknown;
  try {
    v = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return err({ reason: 'bad-lock', message: `${file}: ${(e as Error).message}` });
  }
  if (!isMap(v)) return at([], 'not a mapping');
  if (v.version !== 1) return at(['version'], `unsupported version ${JSON.stringify(v.version)} (expected 1)`);
  if (typeof v.pipeline !== 'string') return at(['pipeline'], 'must be a string');
  if (!isMap(v.stages)) return at(['stages'], 'must be a mapping of stage id to stage');
  for (const k of Object.keys(v)) if (!['version', 'pipeline', 'stages'].includes(k)) return at([k], 'unknown key');
  const stages: Record<string, LockStage> = {};
  for (const [id, s] of Object.entries(v.stages)) {
    const p = ['stages', id];
    if (!isMap(s)) return at(p, 'must be a mapping');
    for (const k of Object.keys(s)) if (!['fingerprint', 'kind', 'command', 'params', 'deps', 'outs', 'metrics'].includes(k)) return at([...p, k], 'unknown key');
    if (typeof s.fingerprint !== 'string') return at([...p, 'fingerprint'], 'must be a string');
    if (typeof s.kind !== 'string') return at([...p, 'kind'], 'must be a string');
    if (s.command !== undefined && typeof s.command !== 'string') return at([...p, 'command'], 'must be a string');
    if (!('params' in s)) return at(p, 'missing params');
    if (!isMap(s.deps)) return at([...p, 'deps'], 'must be a mapping of path to sha256');
    for (const [d, h] of Object.entries(s.deps)) if (!isSha256(h)) return at([...p, 'deps', d], 'must be a sha256 (64 lowercase hex)');
    if (!isMap(s.outs)) return at([...p, 'outs'], 'must be a mapping');
    for (const [o, out] of Object.entries(s.outs)) {
      if (!isMap(out) || typeof out.path !== 'string' || !isSha256(out.hash) || typeof out.size !== 'number' || !Number.isSafeInteger(out.size) || out.size < 0) {
        return at([...p, 'outs', o], 'must be {path, hash (sha256), size (bytes)}');
      }
    }
    if (!isMap(s.metrics)) return at([...p, 'metrics'], 'must be a mapping of name to number');
    for (const [m, x] of Object.entries(s.metrics)) if (typeof x !== 'number') return at([...p, 'metrics', m], 'must be a number');
    Object.defineProperty(stages, id, { value: s as unknown as LockStage, enumerable: true, writable: true, configurable: true });
  }
  return ok({ version: 1, pipeline: v.pipeline, stages });
}
