/**
 * A cache of expanded pipelines, so that a rerun of an unchanged 1,000-stage pipeline does not
 * parse and validate its YAML again (a few hundred milliseconds). An entry is used only when every
 * file the load read (main file, includes, params files) has the same size, mtime, ctime and inode
 * as when the entry was written, the options and the DSL's own code are the same, and every
 * built-in kind the pipeline uses has the same version, params schema and resources (the expansion
 * depends on no other kind, so a pipeline of `run:` stages is served without loading the kinds).
 * Files changed within the last two seconds are never trusted (timestamp granularity). It is only
 * a cache: any failure to read or write it just means a normal load.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KindRegistry, StageKind } from '../stages/index.js';
import type { Pipeline } from './model.js';
import { PIPELINE_SCHEMA_PATH } from './schema.js';

/** Bump when the Pipeline model or the expansion changes meaning. */
const CACHE_FORMAT = 3;
const RACY_MS = 2000;
/** Entries kept: every rebuilt loader or new `--set` makes new keys, so old ones are pruned. */
const MAX_ENTRIES = 64;
/** A temporary file this old belongs to a writer that was killed. */
const STALE_TMP_MS = 3_600_000;

interface FileStamp {
  readonly path: string;
  readonly size: number;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly ino: string;
}

interface Entry {
  readonly format: number;
  readonly key: string;
  readonly files: readonly FileStamp[];
  /** Kind name -> `kindStamp` of each built-in kind the pipeline uses. */
  readonly kinds: Readonly<Record<string, string>>;
  readonly pipeline: Pipeline;
}

/** The registry, or a way to load it when an entry turns out to need it. */
export type KindSource = KindRegistry | (() => Promise<KindRegistry>);

function cacheDir(): string {
  return process.env['VPT_CACHE_DIR'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'vpt-pipeline', 'pipelines');
}

/** What the expansion takes from a kind: its version, params schema and default resources. */
function kindStamp(kind: StageKind<unknown>): string {
  return createHash('sha256').update(JSON.stringify([kind.version, kind.paramsSchema, kind.resources ?? null])).digest('hex');
}

/** The DSL's own code and schema count too: a rebuilt loader must not reuse an old expansion. */
let codeKey: string | undefined;
function loaderCodeKey(): string {
  if (codeKey === undefined) {
    const here = dirname(fileURLToPath(import.meta.url));
    const h = createHash('sha256');
    const files = [...readdirSync(here).filter((f) => /\.(js|ts)$/.test(f)).map((f) => join(here, f)), PIPELINE_SCHEMA_PATH];
    for (const f of files.sort()) {
      const st = stamp(f);
      h.update(`${f}:${st?.size}:${st?.mtimeNs}\n`);
    }
    codeKey = h.digest('hex');
  }
  return codeKey;
}

export function cacheKey(file: string, set: readonly string[], paramsFiles: readonly string[]): string {
  return createHash('sha256')
    .update(JSON.stringify({ format: CACHE_FORMAT, file, set, paramsFiles, code: loaderCodeKey(), cwd: process.cwd() }))
    .digest('hex');
}

function stamp(path: string): FileStamp | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return { path, size: Number(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs), ino: String(st.ino) };
  } catch {
    return undefined;
  }
}

export async function readCachedPipeline(key: string, kinds: KindSource): Promise<Pipeline | undefined> {
  let entry: Entry;
  try {
    entry = JSON.parse(readFileSync(join(cacheDir(), `${key}.json`), 'utf8')) as Entry;
  } catch {
    return undefined;
  }
  if (entry.format !== CACHE_FORMAT || entry.key !== key || typeof entry.kinds !== 'object' || entry.kinds === null) return undefined;
  for (const old of entry.files) {
    const now = stamp(old.path);
    if (!now || now.size !== old.size || now.mtimeNs !== old.mtimeNs || now.ctimeNs !== old.ctimeNs || now.ino !== old.ino) return undefined;
  }
  const used = Object.entries(entry.kinds);
  if (used.length > 0) {
    const registry = typeof kinds === 'function' ? await kinds() : kinds;
    for (const [name, stampThen] of used) {
      const kind = registry.get(name);
      if (kind === undefined || kindStamp(kind) !== stampThen) return undefined;
    }
  }
  return entry.pipeline;
}

export function writeCachedPipeline(key: string, pipeline: Pipeline, registry: KindRegistry): void {
  const files: FileStamp[] = [];
  const racyAfter = BigInt(Date.now() - RACY_MS) * 1_000_000n;
  for (const path of pipeline.files ?? [pipeline.file]) {
    const s = stamp(path);
    // Like git's racy check: content written within the timestamp granularity could change again
    // without moving mtime. (ctime still has to match on reading.)
    if (!s || BigInt(s.mtimeNs) > racyAfter) return;
    files.push(s);
  }
  const kinds: Record<string, string> = {};
  for (const stage of pipeline.stages) {
    if (stage.type !== 'builtin' || stage.uses in kinds) continue;
    const kind = registry.get(stage.uses);
    if (kind === undefined) return;
    kinds[stage.uses] = kindStamp(kind);
  }
  try {
    const dir = cacheDir();
    mkdirSync(dir, { recursive: true });
    const target = join(dir, `${key}.json`);
    const tmp = `${target}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ format: CACHE_FORMAT, key, files, kinds, pipeline } satisfies Entry));
    renameSync(tmp, target);
    prune(dir);
  } catch {
    // A read-only home or a full disk: no cache, no harm.
  }
}

/** Keeps the MAX_ENTRIES most recently written entries and drops killed writers' temporary files. */
function prune(dir: string): void {
  const entries: Array<{ path: string; mtimeMs: number }> = [];
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    try {
      const { mtimeMs } = statSync(path);
      if (name.endsWith('.json')) entries.push({ path, mtimeMs });
      else if (name.endsWith('.tmp') && now - mtimeMs > STALE_TMP_MS) unlinkSync(path);
    } catch {
      // Removed by a concurrent run meanwhile.
    }
  }
  if (entries.length <= MAX_ENTRIES) return;
  entries.sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const { path } of entries.slice(MAX_ENTRIES)) {
    try {
      unlinkSync(path);
    } catch {
      // Already gone.
    }
  }
}

/** For tests. */
export function resetCacheState(): void {
  codeKey = undefined;
}
