/**
 * Source files and positions. Every file the DSL reads goes through here so that
 * diagnostics can be printed later with their source line (formatDiagnostics).
 */
import { readFileSync } from 'node:fs';
import type { SourcePosition, SourceRange } from './diagnostic.js';

export class SourceFile {
  readonly #lineStarts: number[];

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    const starts = [0];
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
    this.#lineStarts = starts;
    rememberSource(file, text);
  }

  pos(offset: number): SourcePosition {
    const o = Math.max(0, Math.min(offset, this.text.length));
    // Binary search for the last line start <= o.
    let lo = 0;
    let hi = this.#lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.#lineStarts[mid] ?? 0) <= o) lo = mid;
      else hi = mid - 1;
    }
    return { file: this.file, offset: o, line: lo + 1, column: o - (this.#lineStarts[lo] ?? 0) + 1 };
  }

  range(start: number, end: number): SourceRange {
    return { start: this.pos(start), end: this.pos(Math.max(start, end)) };
  }
}

const sources = new Map<string, string>();

export function rememberSource(file: string, text: string): void {
  sources.set(file, text);
}

/** The text of a file seen by the loader, else read from disk (undefined when unreadable). */
export function sourceText(file: string): string | undefined {
  const cached = sources.get(file);
  if (cached !== undefined) return cached;
  try {
    const text = readFileSync(file, 'utf8');
    sources.set(file, text);
    return text;
  } catch {
    return undefined;
  }
}
