/** Stage slugs and workspace-relative output paths. */
import path from 'node:path';
import { err, ok, type Result } from '../util/result.js';

const SLUG_SAFE = /[A-Za-z0-9._=,+-]/;

const ALL_SAFE = /^[A-Za-z0-9._=,+-]*$/;

function encodeSlugPart(s: string): string {
  if (ALL_SAFE.test(s) && s !== '.' && s !== '..') return s;
  let out = '';
  for (const ch of s) {
    if (SLUG_SAFE.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  // `.` and `..` alone would be special path segments.
  return out === '.' || out === '..' ? out.replace(/\./g, '%2E') : out;
}

/**
 * Filesystem-safe folder name for a stage id: `train[task=dtd,method=vpt-deep]` ->
 * `train/task=dtd,method=vpt-deep`. Anything outside [A-Za-z0-9._=,+-] is percent-encoded,
 * so distinct ids give distinct slugs.
 */
export function stageSlug(id: string): string {
  const b = id.indexOf('[');
  if (b < 0 || !id.endsWith(']')) return encodeSlugPart(id);
  return `${encodeSlugPart(id.slice(0, b))}/${encodeSlugPart(id.slice(b + 1, -1))}`;
}

/**
 * A path as written (workspace-relative, or absolute) -> normalised workspace-relative POSIX
 * path; an error when it leaves the workspace or is the workspace itself.
 */
export function workspacePath(workspace: string, written: string): Result<string, string> {
  // Fast path (10,000-cell matrices): already a normalised relative path.
  if (isNormalRelative(written)) return ok(written);
  const abs = path.resolve(workspace, written);
  const rel = path.relative(workspace, abs);
  if (rel === '') return err(`\`${written}\` is the workspace itself`);
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    return err(`\`${written}\` is outside the workspace ${workspace}`);
  }
  return ok(rel.split(path.sep).join('/'));
}

/** Like workspacePath but inputs may live outside the workspace (kept relative, `../x`). */
export function inputPath(workspace: string, written: string): string {
  const rel = path.relative(workspace, path.resolve(workspace, written));
  return rel === '' ? '.' : rel.split(path.sep).join('/');
}

// Relative, no empty, `.` or `..` segments, no trailing slash, no backslash.
const NORMAL_RELATIVE = /^(?:(?!\.\.?\/)[^/\\]+\/)*(?!\.\.?$)[^/\\]+$/;

function isNormalRelative(p: string): boolean {
  return NORMAL_RELATIVE.test(p);
}
