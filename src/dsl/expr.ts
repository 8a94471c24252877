/**
 * `${{ ... }}` references: parsing a string into literal text and expressions.
 * Evaluation lives with the loader, which knows params, matrix cells and stage outputs.
 */
import { hintFor } from './did-you-mean.js';

/** A param path segment: a name, or `[matrix.key]` (looked up by the cell's value of that key). */
export type ParamSegment = string | { readonly matrix: string };

export type Expr =
  | { readonly root: 'params'; readonly path: readonly ParamSegment[] }
  | { readonly root: 'matrix'; readonly key: string }
  | {
      readonly root: 'stages';
      readonly stage: string;
      /** `stages.train[task=a,method=ft]`: pins one cell. */
      readonly selector: readonly (readonly [string, string])[] | undefined;
      readonly output: string;
    }
  | { readonly root: 'outputs'; readonly name: string };

export type Segment =
  | { readonly kind: 'text'; readonly text: string }
  | {
      readonly kind: 'expr';
      readonly expr: Expr;
      /** The expression as written, for messages. */
      readonly source: string;
      /** Which `${{` of the string this is (0-based), to find it in the YAML source. */
      readonly occurrence: number;
    };

export interface ExprError {
  readonly message: string;
  readonly occurrence: number;
  readonly hint?: string;
}

export const ROOTS = ['params', 'matrix', 'stages', 'outputs'] as const;

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const PARAM_SEG = /^[A-Za-z0-9_-]+$/;

export function hasExpr(s: string): boolean {
  return s.includes('${{');
}

/** Splits a string into segments. Never throws; every malformed `${{` is one error. */
export function parseTemplate(s: string): { segments: Segment[]; errors: ExprError[] } {
  const segments: Segment[] = [];
  const errors: ExprError[] = [];
  let i = 0;
  let occurrence = 0;
  let text = '';
  while (i < s.length) {
    const open = s.indexOf('${{', i);
    if (open < 0) {
      text += s.slice(i);
      break;
    }
    text += s.slice(i, open);
    const close = s.indexOf('}}', open + 3);
    if (close < 0) {
      errors.push({ message: `unterminated \`\${{\`: missing \`}}\``, occurrence });
      text += s.slice(open);
      break;
    }
    const inner = s.slice(open + 3, close).trim();
    const source = s.slice(open, close + 2);
    const parsed = parseExpr(inner);
    if ('expr' in parsed) {
      if (text) segments.push({ kind: 'text', text });
      text = '';
      segments.push({ kind: 'expr', expr: parsed.expr, source, occurrence });
    } else {
      errors.push({ message: `${parsed.message} in \`${source}\``, occurrence, ...(parsed.hint ? { hint: parsed.hint } : {}) });
    }
    occurrence++;
    i = close + 2;
  }
  if (text) segments.push({ kind: 'text', text });
  return { segments, errors };
}

export function parseExpr(inner: string): { expr: Expr } | { message: string; hint?: string } {
  if (inner === '') return { message: 'empty expression' };
  const dot = inner.indexOf('.');
  const root = dot < 0 ? inner : inner.slice(0, dot);
  const rest = dot < 0 ? '' : inner.slice(dot + 1);
  switch (root) {
    case 'params': {
      const path = parseParamPath(rest);
      if (!path) return { message: 'expected `params.<name>[.<name>...]` (a segment may be `[matrix.<key>]`)' };
      return { expr: { root: 'params', path } };
    }
    case 'matrix':
      if (!IDENT.test(rest)) return { message: 'expected `matrix.<key>`' };
      return { expr: { root: 'matrix', key: rest } };
    case 'outputs':
      if (rest.trim() === '') return { message: 'expected `outputs.<name>`' };
      return { expr: { root: 'outputs', name: rest } };
    case 'stages':
      return parseStageRef(inner, rest);
    default: {
      const hint = hintFor(root, ROOTS);
      return {
        message: `unknown reference root \`${root}\` (expected params, matrix, stages or outputs)`,
        ...(hint ? { hint } : {}),
      };
    }
  }
}

/** `prompts[matrix.task].length` -> ['prompts', {matrix: 'task'}, 'length']; undefined when malformed. */
function parseParamPath(rest: string): ParamSegment[] | undefined {
  const path: ParamSegment[] = [];
  const token = /([A-Za-z0-9_-]+)|\[\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\]|(\.)/y;
  let expectName = true;
  while (token.lastIndex < rest.length) {
    const m = token.exec(rest);
    if (!m) return undefined;
    const [, name, key, dot] = m;
    if (dot !== undefined) {
      if (expectName) return undefined;
      expectName = true;
    } else if (name !== undefined) {
      if (!expectName) return undefined;
      path.push(name);
      expectName = false;
    } else if (key !== undefined) {
      if (path.length === 0 || expectName) return undefined;
      path.push({ matrix: key });
    }
  }
  return path.length > 0 && !expectName ? path : undefined;
}

function parseStageRef(inner: string, rest: string): { expr: Expr } | { message: string; hint?: string } {
  const bad = { message: 'expected `stages.<id>.outputs.<name>` or `stages.<id>[key=value,...].outputs.<name>`' };
  const m = /^([A-Za-z_][A-Za-z0-9_-]*)(\[[^\]]*\])?\.([A-Za-z_][A-Za-z0-9_-]*)\.(.+)$/.exec(rest);
  if (!m) return bad;
  const [, stage = '', sel, field = '', output = ''] = m;
  if (field !== 'outputs') {
    const hint = hintFor(field, ['outputs']);
    return { message: `unknown stage field \`${field}\` (only \`outputs\` can be referenced)`, ...(hint ? { hint } : {}) };
  }
  let selector: [string, string][] | undefined;
  if (sel !== undefined) {
    selector = [];
    const body = sel.slice(1, -1);
    for (const part of body.split(',')) {
      const eq = part.indexOf('=');
      const k = part.slice(0, eq).trim();
      if (eq < 0 || !IDENT.test(k)) return { message: `malformed cell selector \`${sel}\` (expected \`[key=value,...]\`)` };
      selector.push([k, part.slice(eq + 1).trim()]);
    }
  }
  void inner;
  return { expr: { root: 'stages', stage, selector, output: output.trim() } };
}

/**
 * Where the n-th `${{` of a scalar sits in its YAML source text. Plain and quoted scalars keep
 * `${{ ... }}` verbatim in practice, so searching the raw text is exact; if not found, the
 * caller falls back to the whole scalar.
 */
export function findOccurrence(raw: string, occurrence: number): { start: number; end: number } | undefined {
  let at = -1;
  for (let k = 0; k <= occurrence; k++) {
    at = raw.indexOf('${{', at + 1);
    if (at < 0) return undefined;
  }
  const close = raw.indexOf('}}', at + 3);
  return { start: at, end: close < 0 ? raw.length : close + 2 };
}
