/**
 * Turning a `run:` template into a command. With `shell: false` the literal text is split into
 * argv with shell-like quoting (no expansion of any kind) and each interpolated value is exactly
 * one argv element (a list: one element per item). With `shell: true` the text goes to `sh -c`
 * and every interpolated value is quoted for the context it lands in.
 */
import type { Segment } from './expr.js';
import { err, ok, type Result } from '../util/result.js';

export type ArgvValue = string | number | boolean | null | readonly unknown[] | Readonly<Record<string, unknown>>;

export interface ArgvError {
  readonly message: string;
  /** The expression occurrence that caused it, when one did. */
  readonly occurrence?: number;
}

function scalarText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

type Quote = 'none' | 'single' | 'double';

/** argv for `shell: false`. `valueOf` returns the value of an expression segment. */
export function buildArgv(segments: readonly Segment[], valueOf: (s: Segment & { kind: 'expr' }) => unknown): Result<string[], ArgvError> {
  const out: string[] = [];
  let word: string | null = null;
  let quote: Quote = 'none';
  // A list value waiting to see that it stands alone (followed by whitespace or the end).
  let pendingList: { items: readonly unknown[]; occurrence: number } | null = null;
  const endWord = (): void => {
    if (pendingList) {
      for (const item of pendingList.items) out.push(scalarText(item));
      pendingList = null;
    } else if (word !== null) out.push(word);
    word = null;
  };
  for (const seg of segments) {
    if (seg.kind === 'expr') {
      const v = valueOf(seg);
      if (Array.isArray(v)) {
        if (pendingList || word !== null || quote !== 'none') {
          return err({ message: `a list value (\`${seg.source}\`) must stand alone as its own argument`, occurrence: seg.occurrence });
        }
        pendingList = { items: v, occurrence: seg.occurrence };
      } else {
        if (pendingList) return err({ message: `a list value must stand alone as its own argument`, occurrence: pendingList.occurrence });
        word = (word ?? '') + scalarText(v);
      }
      continue;
    }
    const t = seg.text;
    for (let i = 0; i < t.length; i++) {
      const c = t[i] as string;
      if (quote === 'single') {
        if (c === "'") quote = 'none';
        else word = (word ?? '') + c;
        continue;
      }
      if (quote === 'double') {
        if (c === '"') quote = 'none';
        else if (c === '\\' && i + 1 < t.length && '"\\$`\n'.includes(t[i + 1] as string)) {
          i++;
          if (t[i] !== '\n') word = (word ?? '') + t[i];
        } else word = (word ?? '') + c;
        continue;
      }
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
        endWord();
        continue;
      }
      if (pendingList) {
        return err({ message: 'a list value must stand alone as its own argument', occurrence: pendingList.occurrence });
      }
      if (c === "'") {
        quote = 'single';
        word ??= '';
      } else if (c === '"') {
        quote = 'double';
        word ??= '';
      } else if (c === '\\') {
        i++;
        if (i < t.length) {
          if (t[i] !== '\n') word = (word ?? '') + t[i];
        } else word = (word ?? '') + '\\';
      } else word = (word ?? '') + c;
    }
  }
  if (quote !== 'none') return err({ message: `unterminated ${quote === 'single' ? "'" : '"'} quote` });
  endWord();
  return ok(out);
}

/** Split a plain string into argv with the same rules (no expressions). */
export function splitArgs(s: string): Result<string[], ArgvError> {
  return buildArgv([{ kind: 'text', text: s }], () => '');
}

const SAFE = /^[A-Za-z0-9_\/.,:=+@%-]+$/;

/** POSIX shell quoting: safe words unchanged, anything else in single quotes. */
export function shellQuote(s: string): string {
  if (SAFE.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The `sh -c` script for `shell: true`; each value is quoted for where it lands. */
export function buildShell(segments: readonly Segment[], valueOf: (s: Segment & { kind: 'expr' }) => unknown): Result<string, ArgvError> {
  let out = '';
  let quote: Quote = 'none';
  for (const seg of segments) {
    if (seg.kind === 'text') {
      const t = seg.text;
      for (let i = 0; i < t.length; i++) {
        const c = t[i] as string;
        if (quote === 'none') {
          if (c === "'") quote = 'single';
          else if (c === '"') quote = 'double';
          else if (c === '\\') {
            out += c + (t[i + 1] ?? '');
            i++;
            continue;
          }
        } else if (quote === 'single') {
          if (c === "'") quote = 'none';
        } else if (c === '"') quote = 'none';
        else if (c === '\\') {
          out += c + (t[i + 1] ?? '');
          i++;
          continue;
        }
        out += c;
      }
      continue;
    }
    const v = valueOf(seg);
    const items = Array.isArray(v) ? v.map(scalarText) : [scalarText(v)];
    if (quote === 'none') out += items.map(shellQuote).join(' ');
    else if (quote === 'single') out += items.join(' ').replace(/'/g, `'\\''`);
    else out += items.join(' ').replace(/[\\"$`]/g, (m) => `\\${m}`);
  }
  if (quote !== 'none') return err({ message: `unterminated ${quote === 'single' ? "'" : '"'} quote` });
  return ok(out);
}
