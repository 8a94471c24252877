import { join } from 'node:path';

/**
 * Where a stage writes an output while it runs: a mirror of the workspace path inside the
 * attempt's staging folder, moved into place only when the stage succeeds.
 */
export function stagedPath(stagingDir: string, workspaceRelative: string): string {
  return join(stagingDir, 'out', workspaceRelative);
}

/**
 * Points a command's arguments at the staging paths: an argument that is a declared output path
 * (or ends in `=<path>`, as in `--out=<path>`) is rewritten. Arguments stay separate argv elements,
 * so nothing here passes through a shell.
 */
export function redirectArgv(argv: readonly string[], outputs: ReadonlyMap<string, string>): string[] {
  return argv.map((arg) => {
    const exact = outputs.get(arg) ?? outputs.get(arg.replace(/^\.\//, ''));
    if (exact !== undefined) return exact;
    const eq = arg.indexOf('=');
    if (eq > 0) {
      const value = arg.slice(eq + 1);
      const staged = outputs.get(value) ?? outputs.get(value.replace(/^\.\//, ''));
      if (staged !== undefined) return `${arg.slice(0, eq + 1)}${staged}`;
    }
    return arg;
  });
}

/** The same for a `shell: true` command: whole words (between blanks, quotes, `=`, `>`, `;`) only. */
export function redirectShell(command: string, outputs: ReadonlyMap<string, string>): string {
  let result = command;
  // Longest first, so `out/a.txt.gz` is not rewritten through `out/a.txt`.
  for (const [path, staged] of [...outputs].sort((a, b) => b[0].length - a[0].length)) {
    const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const re = new RegExp(`(^|[\\s'"=>;|&(])(?:\\./)?${escaped}(?=$|[\\s'";|&)])`, 'g');
    const safe = /^[\w@%+=:,./-]+$/.test(staged);
    result = result.replace(re, (_m, before: string) => `${before}${safe || before === "'" || before === '"' ? staged : `'${staged.replace(/'/g, `'\\''`)}'`}`);
  }
  return result;
}
