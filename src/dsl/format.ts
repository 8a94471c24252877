/** Compiler-style printing of diagnostics: `file:line:col: error: message`, source line, `^~~~`. */
import path from 'node:path';
import type { Diagnostic, SourceRange } from './diagnostic.js';
import { sortDiagnostics } from './diags.js';
import { sourceText } from './source.js';

const C = { red: '\x1b[31;1m', yellow: '\x1b[33;1m', cyan: '\x1b[36m', bold: '\x1b[1m', green: '\x1b[32;1m', dim: '\x1b[2m', off: '\x1b[0m' };

function where(r: SourceRange): string {
  const rel = path.relative(process.cwd(), r.start.file);
  const shown = rel && !rel.startsWith('..') ? rel : r.start.file;
  return `${shown}:${r.start.line}:${r.start.column}`;
}

/** The source line of `r` and an underline (`^~~~`) under its first line. */
function excerpt(r: SourceRange, color: boolean): string[] {
  const text = sourceText(r.start.file);
  if (text === undefined) return [];
  const lines = text.split('\n');
  const line = (lines[r.start.line - 1] ?? '').replace(/\r$/, '');
  const startCol = r.start.column - 1;
  const endCol = r.end.line === r.start.line ? Math.max(r.end.column - 1, startCol + 1) : Math.max(line.length, startCol + 1);
  // Keep tabs as tabs in the padding so the caret lines up.
  const pad = line.slice(0, startCol).replace(/[^\t]/g, ' ');
  const mark = `^${'~'.repeat(Math.max(0, endCol - startCol - 1))}`;
  return [`  ${line}`, `  ${pad}${color ? C.green + mark + C.off : mark}`];
}

export function formatDiagnostics(ds: readonly Diagnostic[], opts: { color: boolean }): string {
  const c = (code: string, s: string): string => (opts.color ? `${code}${s}${C.off}` : s);
  const out: string[] = [];
  for (const d of sortDiagnostics(ds)) {
    const sev = d.severity === 'error' ? c(C.red, 'error') : c(C.yellow, 'warning');
    const head = d.location ? `${c(C.bold, `${where(d.location)}:`)} ` : '';
    out.push(`${head}${sev}: ${c(C.bold, d.message)} ${c(C.dim, `[${d.reason}]`)}`);
    if (d.location) out.push(...excerpt(d.location, opts.color));
    if (d.hint) out.push(`${c(C.cyan, 'hint')}: ${d.hint}`);
    for (const r of d.related ?? []) {
      out.push(`  ${c(C.cyan, 'note')}: ${where(r.location)}: ${r.message}`);
    }
  }
  const errors = ds.filter((d) => d.severity === 'error').length;
  if (ds.length > 0) out.push(`${errors} error${errors === 1 ? '' : 's'}${ds.length > errors ? `, ${ds.length - errors} warning(s)` : ''}`);
  return out.join('\n');
}
