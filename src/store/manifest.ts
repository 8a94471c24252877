/**
 * Folder manifests: a folder's identity is the sha256 of its canonical manifest, which maps
 * sorted '/'-separated relative paths to {hash, size, exec}. Timestamps and owners are left out
 * on purpose (they differ between a build and a restore of the same content). Empty subfolders
 * are listed in `dirs` so a restore recreates them. Symlinks to files count as their target's
 * content; symlinked folders and special files are refused (they would not restore faithfully).
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { err, ok, type Result } from '../util/result.js';
import { canonicalJson } from './canonical-json.js';
import { isSha256, type Sha256 } from './sha256.js';

export const MANIFEST_FORMAT = 'vpt-dir/1';

export interface ManifestEntry {
  readonly hash: Sha256;
  readonly size: number;
  readonly exec: boolean;
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly files: Readonly<Record<string, ManifestEntry>>;
  /** Empty folders (relative); omitted when there are none. */
  readonly dirs?: readonly string[];
}

export function renderManifest(files: ReadonlyMap<string, ManifestEntry>, emptyDirs: readonly string[]): string {
  const obj: Record<string, ManifestEntry> = Object.create(null) as Record<string, ManifestEntry>;
  for (const [k, v] of files) obj[k] = { hash: v.hash, size: v.size, exec: v.exec };
  const m: Record<string, unknown> = { format: MANIFEST_FORMAT, files: obj };
  if (emptyDirs.length > 0) m.dirs = [...emptyDirs].sort();
  return canonicalJson(m);
}

/** A relative path that stays inside its folder: no '..', no absolute, no empty segments. */
function safeRel(p: string): boolean {
  if (p.length === 0 || p.startsWith('/') || p.includes('\\') || p.includes('\0')) return false;
  return p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

export function parseManifest(text: string): Result<Manifest, string> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return err(`manifest is not JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null) return err('manifest is not an object');
  const d = doc as { format?: unknown; files?: unknown; dirs?: unknown };
  if (d.format !== MANIFEST_FORMAT) return err(`unknown manifest format ${String(d.format)}`);
  if (typeof d.files !== 'object' || d.files === null) return err('manifest has no files');
  const files: Record<string, ManifestEntry> = Object.create(null) as Record<string, ManifestEntry>;
  for (const [rel, v] of Object.entries(d.files)) {
    if (!safeRel(rel)) return err(`unsafe path in manifest: ${rel}`);
    const e = v as { hash?: unknown; size?: unknown; exec?: unknown } | null;
    if (e === null || typeof e !== 'object' || !isSha256(e.hash) || typeof e.size !== 'number' || !Number.isSafeInteger(e.size) || e.size < 0 || typeof e.exec !== 'boolean') {
      return err(`bad manifest entry for ${rel}`);
    }
    files[rel] = { hash: e.hash, size: e.size, exec: e.exec };
  }
  let dirs: string[] | undefined;
  if (d.dirs !== undefined) {
    if (!Array.isArray(d.dirs) || !d.dirs.every((x): x is string => typeof x === 'string' && safeRel(x))) return err('bad dirs in manifest');
    dirs = d.dirs;
  }
  return ok(dirs === undefined ? { format: MANIFEST_FORMAT, files } : { format: MANIFEST_FORMAT, files, dirs });
}

export interface WalkedFile {
  readonly rel: string;
  readonly abs: string;
}

export interface Walk {
  readonly files: WalkedFile[];
  readonly emptyDirs: string[];
}

/** Every regular file under `root` (sorted by relative path), plus empty folders. */
export async function walk(root: string): Promise<Result<Walk, { message: string; path: string }>> {
  const files: WalkedFile[] = [];
  const emptyDirs: string[] = [];
  const visit = async (absDir: string, relDir: string): Promise<{ message: string; path: string } | undefined> => {
    const entries = await fsp.readdir(absDir, { withFileTypes: true });
    if (entries.length === 0 && relDir !== '') emptyDirs.push(relDir);
    for (const ent of entries) {
      const abs = path.join(absDir, ent.name);
      const rel = relDir === '' ? ent.name : `${relDir}/${ent.name}`;
      if (ent.isDirectory()) {
        const problem = await visit(abs, rel);
        if (problem !== undefined) return problem;
      } else if (ent.isFile()) {
        files.push({ rel, abs });
      } else if (ent.isSymbolicLink()) {
        let st;
        try {
          st = await fsp.stat(abs);
        } catch {
          return { message: 'dangling symlink', path: abs };
        }
        if (st.isFile()) files.push({ rel, abs });
        else return { message: 'symlinked folders and special files are not supported in outputs', path: abs };
      } else {
        return { message: 'special files (sockets, fifos, devices) are not supported in outputs', path: abs };
      }
    }
    return undefined;
  };
  const problem = await visit(root, '');
  if (problem !== undefined) return err(problem);
  // Code-unit order, the same order canonicalJson uses for the manifest keys.
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return ok({ files, emptyDirs });
}
