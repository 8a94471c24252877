/**
 * The code a built-in kind runs, as one hash: its module and every project module it imports,
 * statically or with `import()`, transitively (type-only imports excluded: they run nothing). It is
 * part of the kind's fingerprint, so an edit to `src/ml/train.ts` reruns the training stages and
 * `pipeline status` says `code of train.vit changed`, without anyone bumping a version.
 *
 * The hash is over the TypeScript sources, so it is the same from `src/` (tests, tsx) and from
 * `dist/`. The build writes `dist/code-hashes.json` once (`npm run build`), since a package has
 * no sources; a process running from the sources computes it on first use, once.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CODE_HASHES_FILE = 'code-hashes.json';

/** Module key (`stages/train/vit`, relative to src/ or dist/, no extension) -> sha256 of its closure. */
export type CodeHashes = Readonly<Record<string, string>>;

// `import x from './a.js'`, `export { y } from '../b.js'`, `import './c.js'`, `import('./d.js')`.
const STATIC = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm;
const DYNAMIC = /import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

/** Project files a source file imports (resolved to .ts paths that exist). */
export function importsOf(file: string, text: string): string[] {
  const out = new Set<string>();
  const add = (spec: string): void => {
    const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
    if (existsSync(target)) out.add(target);
  };
  for (const m of text.matchAll(STATIC)) if (m[2] === undefined) add(m[3] as string);
  for (const m of text.matchAll(DYNAMIC)) add(m[1] as string);
  return [...out].sort();
}

/** sha256 over the sorted (relative path, content) pairs of `entry` and everything it imports. */
export function closureHash(srcRoot: string, entry: string, read: (file: string) => string = (f) => readFileSync(f, 'utf8')): string {
  const seen = new Map<string, string>();
  const stack = [resolve(entry)];
  while (stack.length > 0) {
    const file = stack.pop() as string;
    if (seen.has(file)) continue;
    const text = read(file);
    seen.set(file, text);
    for (const next of importsOf(file, text)) if (!seen.has(next)) stack.push(next);
  }
  const hash = createHash('sha256');
  for (const file of [...seen.keys()].sort()) {
    const rel = relative(srcRoot, file).split(sep).join('/');
    hash.update(`${rel}\0${seen.get(file) as string}\0`);
  }
  return hash.digest('hex');
}

/** The closure hash of every module under `src/stages` that defines a kind. */
export function computeCodeHashes(srcRoot: string): CodeHashes {
  const out: Record<string, string> = {};
  // Kinds share most of their closure (src/ml): each file is read once.
  const texts = new Map<string, string>();
  const read = (file: string): string => {
    let text = texts.get(file);
    if (text === undefined) texts.set(file, (text = readFileSync(file, 'utf8')));
    return text;
  };
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') && /=\s*defineKind\s*[<(]/.test(read(path))) {
        out[moduleKey(srcRoot, path)] = closureHash(srcRoot, path, read);
      }
    }
  };
  walk(join(srcRoot, 'stages'));
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

function moduleKey(root: string, file: string): string {
  return relative(root, file).split(sep).join('/').replace(/\.(ts|js)$/, '');
}

let loaded: { root: string; hashes: CodeHashes } | undefined;

/**
 * The code hash of the kind defined in `moduleUrl` (its `import.meta.url`), or undefined for a
 * module outside this project's src/ or dist/ (a test's fixture kind, a plugin).
 */
export function codeHashOf(moduleUrl: string): string | undefined {
  const file = fileURLToPath(moduleUrl);
  const root = projectRoot(file);
  if (root === undefined) return undefined;
  if (loaded?.root !== root.dir) {
    const built = join(root.dir, CODE_HASHES_FILE);
    const hashes = root.built
      ? (JSON.parse(readFileSync(built, 'utf8')) as CodeHashes)
      : computeCodeHashes(root.dir);
    loaded = { root: root.dir, hashes };
  }
  return loaded.hashes[moduleKey(root.dir, file)];
}

/** The src/ or dist/ folder a module sits in (dist/ only with its code-hashes.json). */
function projectRoot(file: string): { dir: string; built: boolean } | undefined {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    if (dir.endsWith(`${sep}dist`) && existsSync(join(dir, CODE_HASHES_FILE))) return { dir, built: true };
    if (dir.endsWith(`${sep}src`) && existsSync(join(dir, 'stages'))) return { dir, built: false };
  }
  return undefined;
}
