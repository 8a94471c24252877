/**
 * Values a stage template needs before any cell exists (a matrix key's list, `resources`, `timeout`)
 * may come from the params as one `${{ params.<path> }}` expression: params are known when templates
 * are read, matrix values and stage outputs are not. So one stage definition can run with a CPU-sized
 * budget in one pipeline and a GPU-sized one in another (e.g. `resources: ${{ params.resources.train }}`).
 */
import type { SourceRange } from './diagnostic.js';
import type { Diags } from './diags.js';
import { didYouMean } from './did-you-mean.js';
import { hasExpr, parseTemplate } from './expr.js';
import { lookup } from './params.js';

/** The value at `params.<path>`, or a located `unknown-param` error (with the nearest name). */
export function lookupParam(params: unknown, path: readonly string[], where: () => SourceRange, diags: Diags): { ok: true; value: unknown } | { ok: false } {
  const r = lookup(params, path);
  if (r.found) return { ok: true, value: r.value };
  const at = where();
  const prefix = path.slice(0, r.missingAt);
  const missing = path[r.missingAt] ?? '';
  const s = didYouMean(missing, r.available);
  diags.error('unknown-param', `unknown param \`params.${path.join('.')}\``, at, {
    hint: s !== undefined ? `did you mean \`params.${[...prefix, s].join('.')}\`?` : r.available.length > 0 ? `\`params${prefix.length ? `.${prefix.join('.')}` : ''}\` has: ${r.available.slice(0, 12).join(', ')}` : undefined,
  });
  return { ok: false };
}

/**
 * `v` itself when it holds no expression; the param's value when it is exactly one
 * `${{ params.<static path> }}`; otherwise a located error saying what is allowed in `what`.
 */
export function staticParamValue(v: unknown, what: string, params: unknown, where: () => SourceRange, diags: Diags): { ok: true; value: unknown } | { ok: false } {
  if (typeof v !== 'string' || !hasExpr(v)) return { ok: true, value: v };
  const { segments, errors } = parseTemplate(v);
  for (const e of errors) diags.error('bad-reference', e.message, where(), { hint: e.hint });
  if (errors.length > 0) return { ok: false };
  const only = segments.length === 1 && segments[0]?.kind === 'expr' ? segments[0] : undefined;
  const path = only?.expr.root === 'params' && only.expr.path.every((s): s is string => typeof s === 'string') ? (only.expr.path as readonly string[]) : undefined;
  if (!path) {
    diags.error('bad-value', `\`${what}\` may be one \`\${{ params.<path> }}\` expression (known before any matrix cell), not \`${v}\``, where());
    return { ok: false };
  }
  return lookupParam(params, path, where, diags);
}
