/** Collects diagnostics; drops exact duplicates (matrix cells repeat their template's mistakes). */
import type { Diagnostic, DiagnosticReason, SourceRange } from './diagnostic.js';

export class Diags {
  readonly #list: Diagnostic[] = [];
  readonly #seen = new Set<string>();

  error(
    reason: DiagnosticReason,
    message: string,
    location?: SourceRange,
    extra: { hint?: string | undefined; related?: Diagnostic['related'] } = {},
  ): void {
    this.#add('error', reason, message, location, extra);
  }

  /** Reported, but the pipeline still loads. */
  warning(reason: DiagnosticReason, message: string, location?: SourceRange, extra: { hint?: string | undefined } = {}): void {
    this.#add('warning', reason, message, location, extra);
  }

  #add(
    severity: Diagnostic['severity'],
    reason: DiagnosticReason,
    message: string,
    location: SourceRange | undefined,
    extra: { hint?: string | undefined; related?: Diagnostic['related'] },
  ): void {
    const key = `${reason}|${message}|${location?.start.file ?? ''}|${location?.start.offset ?? -1}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    const d: Diagnostic = {
      severity,
      reason,
      message,
      ...(location ? { location } : {}),
      ...(extra.hint ? { hint: extra.hint } : {}),
      ...(extra.related && extra.related.length > 0 ? { related: extra.related } : {}),
    };
    this.#list.push(d);
  }

  /** Errors only: warnings do not stop a load. */
  get count(): number {
    return this.#list.filter((d) => d.severity === 'error').length;
  }

  warnings(): Diagnostic[] {
    return sortDiagnostics(this.#list.filter((d) => d.severity === 'warning'));
  }

  /** Sorted by file, then position; file-less diagnostics first. */
  sorted(): Diagnostic[] {
    return sortDiagnostics(this.#list);
  }
}

export function sortDiagnostics(ds: readonly Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => {
    const fa = a.location?.start.file ?? '';
    const fb = b.location?.start.file ?? '';
    if (fa !== fb) return fa < fb ? -1 : 1;
    const oa = a.location?.start.offset ?? -1;
    const ob = b.location?.start.offset ?? -1;
    if (oa !== ob) return oa - ob;
    return a.message < b.message ? -1 : a.message > b.message ? 1 : 0;
  });
}
