/**
 * A cache of expanded pipelines, so that a rerun of an unchanged 1,000-stage pipeline does not
 * parse and validate its YAML again (a few hundred milliseconds). An entry is used only when every
 * file the load read (main file, includes, params files) has the same size, mtime, ctime and inode
 * as when the entry was written, and the options and the kind registry are the same. Files changed
 * within the last two seconds are never trusted (timestamp granularity). It is only a cache:
 * any failure to read or write it just means a normal load.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KindRegistry } from '../stages/registry.js';
import type { Pipeline } from './model.js';
import { PIPELINE_SCHEMA_PATH } from './schema.js';

/** Bump when the Pipeline model or the expansion changes meaning. */
const CACHE_FORMAT = 1;
const RACY_MS = 2000;

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
  readonly pipeline: Pipeline;
}

function cacheDir(): string {
  return process.env['VPT_CACHE_DIR'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'vpt-pipeline', 'pipelines');
}

let registryKeys = new WeakMap<KindRegistry, string>();

function registryKey(kinds: KindRegistry): string {
  let key = registryKeys.get(kinds);
  if (key === undefined) {
    const h = createHash('sha256');
    for (const name of kinds.names()) {
      const k = kinds.get(name);
      h.update(`${name}@${k?.version}:${JSON.stringify(k?.paramsSchema)}\n`);
    }
    key = h.digest('hex');
    registryKeys.set(kinds, key);
  }
  return key;
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

export function cacheKey(file: string, set: readonly string[], paramsFiles: readonly string[], kinds: KindRegistry): string {
  return createHash('sha256')
    .update(JSON.stringify({ format: CACHE_FORMAT, file, set, paramsFiles, kinds: registryKey(kinds), code: loaderCodeKey(), cwd: process.cwd() }))
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

export function readCachedPipeline(key: string): Pipeline | undefined {
  let entry: Entry;
  try {
    entry = JSON.parse(readFileSync(join(cacheDir(), `${key}.json`), 'utf8')) as Entry;
  } catch {
    return undefined;
  }
  if (entry.format !== CACHE_FORMAT || entry.key !== key) return undefined;
  for (const old of entry.files) {
    const now = stamp(old.path);
    if (!now || now.size !== old.size || now.mtimeNs !== old.mtimeNs || now.ctimeNs !== old.ctimeNs || now.ino !== old.ino) return undefined;
  }
  return entry.pipeline;
}

export function writeCachedPipeline(key: string, pipeline: Pipeline): void {
  const files: FileStamp[] = [];
  const racyAfter = BigInt(Date.now() - RACY_MS) * 1_000_000n;
  for (const path of pipeline.files ?? [pipeline.file]) {
    const s = stamp(path);
    // Like git's racy check: content written within the timestamp granularity could change again
    // without moving mtime. (ctime still has to match on reading.)
    if (!s || BigInt(s.mtimeNs) > racyAfter) return;
    files.push(s);
  }
  try {
    const dir = cacheDir();
    mkdirSync(dir, { recursive: true });
    const target = join(dir, `${key}.json`);
    const tmp = `${target}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ format: CACHE_FORMAT, key, files, pipeline } satisfies Entry));
    renameSync(tmp, target);
  } catch {
    // A read-only home or a full disk: no cache, no harm.
  }
}

/** For tests. */
export function resetCacheState(): void {
  registryKeys = new WeakMap();
  codeKey = undefined;
}
