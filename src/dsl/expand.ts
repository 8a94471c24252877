/**
 * Stage templates -> expanded, resolved stages: matrix expansion, reference binding
 * (matrix-to-matrix matching through per-key-set indexes, so 10,000 cells stay linear),
 * cycle detection, then resolution in dependency order.
 */
import type { StageKind } from '../stages/index.js';
import type { KindRegistry } from '../stages/index.js';
import { buildArgv, buildShell } from './argv.js';
import type { SourceRange } from './diagnostic.js';
import type { Diags } from './diags.js';
import { didYouMean, hintFor } from './did-you-mean.js';
import { findOccurrence, hasExpr, parseTemplate, type Expr, type Segment } from './expr.js';
import { cyclicComponents, loopIn } from './graph.js';
import { cellId, expandMatrix, type MatrixScalar } from './matrix.js';
import type { BuiltinStage, CommandStage, Resources, SlurmSettings, Stage, StageInput } from './model.js';
import { canonical, isPlainObject, lookup } from './params.js';
import { inputPath, stageSlug, workspacePath } from './paths.js';
import { kindValidator, reportKindErrors } from './schema.js';
import { mergeSlurmSettings, readSlurmSettings } from './slurm.js';
import { lookupParam, staticParamValue } from './static-params.js';
import { parseDuration, parseMemory } from './units.js';
import { childPointer, keyOrValue, valueAt, type LocatedDoc } from './yaml-source.js';

export interface TemplateSource {
  readonly id: string;
  readonly doc: LocatedDoc;
  /** `/stages/<id>` in `doc`. */
  readonly ptr: string;
  readonly raw: Record<string, unknown>;
  /** The schema found errors that make the stage unusable (already reported). */
  readonly broken: boolean;
}

export interface ExpandContext {
  readonly diags: Diags;
  readonly kinds: KindRegistry;
  readonly workspace: string;
  /** Workspace-relative. */
  readonly outputsRoot: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly env: Readonly<Record<string, string>>;
  readonly defaults: {
    readonly resources: Partial<Resources>;
    readonly retries: number | undefined;
    readonly timeoutSeconds: number | undefined;
    /** Pipeline-wide `slurm:` (top level and `defaults`), under each stage's own. */
    readonly slurm?: SlurmSettings | undefined;
  };
}

type StrSeg = Segment & { kind: 'expr' };

/** A value from YAML with its `${{ }}` strings pre-parsed, evaluated once per cell. */
type Compiled =
  | { readonly t: 'static'; readonly v: unknown }
  | { readonly t: 'str'; readonly segs: readonly Segment[]; readonly exact: StrSeg | undefined; readonly ptr: string }
  | { readonly t: 'arr'; readonly items: readonly Compiled[] }
  | { readonly t: 'obj'; readonly entries: readonly (readonly [string, Compiled])[] };

interface Site {
  readonly expr: Expr & { root: 'stages' };
  readonly at: SourceRange;
  /** Unset when the reference is wrong at template level (already reported). */
  target: Template | undefined;
}

interface Template {
  readonly src: TemplateSource;
  readonly index: number;
  readonly kind: StageKind<unknown> | undefined;
  readonly type: 'builtin' | 'command';
  usable: boolean;
  readonly hasMatrix: boolean;
  cells: Cell[];
  /** Every matrix key any cell has, in id order. */
  keyUnion: string[];
  readonly indexes: Map<string, Map<string, Cell[]>>;
  readonly sites: Site[];
  readonly siteOf: Map<Segment, number>;
  withC: Compiled | undefined;
  runC: readonly Segment[] | undefined;
  shell: boolean;
  envC: (readonly [string, Compiled])[];
  staticEnv: Record<string, string> | undefined;
  outsC: { readonly name: string | undefined; readonly c: Compiled; readonly ptr: string }[];
  depsC: Compiled[];
  needs: { readonly text: string; readonly at: SourceRange; cells: Cell[] }[];
  resources: Resources;
  retries: number;
  timeoutSeconds: number | undefined;
  slurm: SlurmSettings | undefined;
  location: SourceRange;
}

interface Cell {
  readonly id: string;
  readonly tpl: Template;
  readonly values: Readonly<Record<string, MatrixScalar>>;
  readonly keys: readonly string[];
  n: number;
  /** Per site of the template: the bound target (one cell, or a list), or undefined if unbound. */
  targets: (Cell | Cell[] | undefined)[];
  deps: number[];
  outputs: Record<string, string> | undefined;
  state: 'pending' | 'done' | 'failed';
  stage: Stage | undefined;
}

const EXPR_OK_IN_OUTS = new Set(['params', 'matrix']);

export function expandStages(sources: readonly TemplateSource[], ctx: ExpandContext): Stage[] {
  const { diags } = ctx;
  const templates: Template[] = sources.map((src, index) => createTemplate(src, index, ctx));
  const byId = new Map(templates.map((t) => [t.src.id, t]));

  // 1. Matrices (they may only use params, so they expand before anything else).
  for (const t of templates) if (t.usable) expandTemplateMatrix(t, ctx);

  const cells: Cell[] = [];
  const cellById = new Map<string, Cell>();
  for (const t of templates) {
    if (!t.usable) continue;
    for (const cell of t.cells) {
      cell.n = cells.length;
      cells.push(cell);
      cellById.set(cell.id, cell);
    }
  }

  // 2. Compile every value of every template; bind stage references to templates.
  for (const t of templates) if (t.usable) compileTemplate(t, ctx, byId);
  for (const t of templates) if (t.usable) resolveNeeds(t, templates, byId, cellById, diags);

  // 3. Bind references per cell (matrix matching) and build the dependency graph.
  for (const c of cells) bindCell(c, diags);

  // 4. Order by dependencies (Kahn). Only if some cells are left over is there a cycle to name.
  const dependents: number[][] = cells.map(() => []);
  const pending = new Int32Array(cells.length);
  for (const c of cells) {
    pending[c.n] = c.deps.length;
    for (const d of c.deps) (dependents[d] as number[]).push(c.n);
  }
  const order: number[] = [];
  for (const c of cells) if (pending[c.n] === 0) order.push(c.n);
  for (let q = 0; q < order.length; q++) {
    for (const d of dependents[order[q] as number] as number[]) {
      pending[d] = (pending[d] as number) - 1;
      if (pending[d] === 0) order.push(d);
    }
  }
  if (order.length < cells.length) {
    const adj = cells.map((c) => c.deps);
    for (const comp of cyclicComponents(cells.length, adj)) {
      const loop = loopIn(comp, adj).map((v) => cells[v] as Cell);
      const edges = loop.map((a, i) => [a, loop[(i + 1) % loop.length] as Cell] as const);
      const related = edges.map(([a, b]) => ({ message: `\`${a.id}\` depends on \`${b.id}\``, location: edgeLocation(a, b) }));
      const names = [...loop.map((c) => c.id), (loop[0] as Cell).id].join(' -> ');
      diags.error('cycle', `dependency cycle: ${names}`, related[0]?.location ?? (loop[0] as Cell).tpl.location, { related });
    }
  }

  // 5. Resolve in dependency order; cells in or behind a cycle are not in `order`.
  for (const n of order) resolveCell(cells[n] as Cell, ctx);

  checkOutputConflicts(cells, diags);
  return cells.filter((c) => c.state === 'done' && c.stage).map((c) => c.stage as Stage);
}

// ---------------------------------------------------------------------------------------------
// Templates

const BASE_RESOURCES: Resources = { cpu: 1, gpu: 0, memoryMiB: 0 };

/** What the schema checks for a literal `resources:` object, for one that came from the params. */
function checkResourcesFromParams(r: unknown, source: string, at: () => SourceRange, diags: Diags): boolean {
  const bad = (why: string): false => (diags.error('bad-value', `\`resources: ${source}\`: ${why}`, at()), false);
  if (!isPlainObject(r)) return bad(`must give an object of cpu, gpu, memory, got ${JSON.stringify(r)}`);
  for (const k of Object.keys(r)) if (!['cpu', 'gpu', 'memory'].includes(k)) return bad(`unknown key \`${k}\` (resources take cpu, gpu, memory)`);
  if (r.cpu !== undefined && !(typeof r.cpu === 'number' && r.cpu > 0)) return bad(`cpu must be a number > 0, got ${JSON.stringify(r.cpu)}`);
  if (r.gpu !== undefined && !(typeof r.gpu === 'number' && Number.isInteger(r.gpu) && r.gpu >= 0)) return bad(`gpu must be an integer >= 0, got ${JSON.stringify(r.gpu)}`);
  return true;
}

function createTemplate(src: TemplateSource, index: number, ctx: ExpandContext): Template {
  const { diags } = ctx;
  const { raw, doc, ptr, id } = src;
  const location = keyOrValue(doc, ptr);
  let usable = !src.broken;
  const hasUses = typeof raw.uses === 'string';
  const hasRun = typeof raw.run === 'string';
  let kind: StageKind<unknown> | undefined;
  if (hasUses && hasRun) {
    diags.error('bad-stage', `stage \`${id}\` has both \`uses\` and \`run\`: a stage is either a built-in kind or a command`, location);
    usable = false;
  } else if (!hasUses && !hasRun && !src.broken) {
    diags.error('bad-stage', `stage \`${id}\` needs \`uses:\` (a built-in kind) or \`run:\` (a command)`, location);
    usable = false;
  }
  if (hasUses && !hasRun) {
    const name = raw.uses as string;
    kind = ctx.kinds.get(name);
    if (!kind) {
      diags.error('unknown-kind', `unknown stage kind \`${name}\``, valueAt(doc, childPointer(ptr, 'uses')), {
        hint: hintFor(name, ctx.kinds.names()),
      });
      usable = false;
    }
    if ('shell' in raw) diags.error('bad-stage', '`shell` only applies to `run:` stages', keyOrValue(doc, childPointer(ptr, 'shell')));
  }
  if (hasRun && !hasUses && 'with' in raw) {
    diags.error('bad-stage', '`with` only applies to `uses:` stages (pass values to a command inside `run`)', keyOrValue(doc, childPointer(ptr, 'with')));
  }

  // Resources, retries, timeout: defaults < kind's own < stage.
  const res = { ...BASE_RESOURCES, ...ctx.defaults.resources, ...definedOnly(kind?.resources ?? {}) };
  const resAt = (): SourceRange => valueAt(doc, `${ptr}/resources`);
  const fromParams = typeof raw.resources === 'string';
  const rv = staticParamValue(raw.resources, 'resources', ctx.params, resAt, diags);
  const r = rv.ok ? rv.value : undefined;
  if (fromParams && rv.ok && !checkResourcesFromParams(r, raw.resources as string, resAt, diags)) usable = false;
  if (isPlainObject(r)) {
    if (typeof r.cpu === 'number') res.cpu = r.cpu;
    if (typeof r.gpu === 'number') res.gpu = r.gpu;
    if (r.memory !== undefined) {
      const m = parseMemory(r.memory);
      if (m.ok) res.memoryMiB = m.value;
      else if (!src.broken) diags.error('bad-value', m.error, fromParams ? resAt() : valueAt(doc, `${ptr}/resources/memory`));
    }
  }
  let timeoutSeconds = ctx.defaults.timeoutSeconds;
  const tv = staticParamValue(raw.timeout, 'timeout', ctx.params, () => valueAt(doc, `${ptr}/timeout`), diags);
  if (tv.ok && tv.value !== undefined) {
    const d = parseDuration(tv.value);
    if (d.ok) timeoutSeconds = d.value;
    else if (!src.broken) diags.error('bad-value', d.error, valueAt(doc, `${ptr}/timeout`));
  }
  const retries = typeof raw.retries === 'number' ? raw.retries : (ctx.defaults.retries ?? 0);
  const slurm = mergeSlurmSettings(ctx.defaults.slurm, readSlurmSettings(raw.slurm, doc, childPointer(ptr, 'slurm'), diags));

  return {
    src,
    index,
    kind,
    type: hasRun ? 'command' : 'builtin',
    usable,
    hasMatrix: isPlainObject(raw.matrix),
    cells: [],
    keyUnion: [],
    indexes: new Map(),
    sites: [],
    siteOf: new Map(),
    withC: undefined,
    runC: undefined,
    shell: raw.shell === true,
    envC: [],
    staticEnv: undefined,
    outsC: [],
    depsC: [],
    needs: [],
    resources: res,
    retries,
    timeoutSeconds,
    slurm,
    location,
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Source range of the n-th `${{` inside the scalar at `ptr`. */
function exprAt(doc: LocatedDoc, ptr: string, occurrence: number): SourceRange {
  const loc = valueAt(doc, ptr);
  const raw = doc.source.text.slice(loc.start.offset, loc.end.offset);
  const f = findOccurrence(raw, occurrence);
  return f ? doc.source.range(loc.start.offset + f.start, loc.start.offset + f.end) : loc;
}

function isScalar(v: unknown): v is MatrixScalar {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

function expandTemplateMatrix(t: Template, ctx: ExpandContext): void {
  const { diags } = ctx;
  const { raw, doc, ptr, id } = t.src;
  if (!t.hasMatrix) {
    t.cells = [mkCell(id, t, {}, [])];
    return;
  }
  const m = raw.matrix as Record<string, unknown>;
  const mptr = childPointer(ptr, 'matrix');
  const keys: [string, MatrixScalar[]][] = [];
  let ok = true;
  for (const [k, v] of Object.entries(m)) {
    if (k === 'include' || k === 'exclude') continue;
    const kptr = childPointer(mptr, k);
    if (Array.isArray(v)) {
      if (v.length === 0 || !v.every(isScalar)) return void (t.usable = false); // schema reported it
      keys.push([k, v]);
      continue;
    }
    if (typeof v !== 'string') return void (t.usable = false);
    const { segments, errors } = parseTemplate(v);
    for (const e of errors) diags.error('bad-reference', e.message, exprAt(doc, kptr, e.occurrence), { hint: e.hint });
    const only = segments.length === 1 && segments[0]?.kind === 'expr' ? segments[0] : undefined;
    if (errors.length > 0) {
      ok = false;
      continue;
    }
    if (!only || only.expr.root !== 'params') {
      diags.error('bad-matrix', `matrix key \`${k}\` must be a list or a single \`\${{ params.<path> }}\` expression`, valueAt(doc, kptr));
      ok = false;
      continue;
    }
    const staticPath = only.expr.path.every((seg): seg is string => typeof seg === 'string') ? (only.expr.path as readonly string[]) : undefined;
    if (!staticPath) {
      diags.error('bad-matrix', `matrix key \`${k}\`: a matrix value cannot depend on \`[matrix.<key>]\``, exprAt(doc, kptr, 0));
      ok = false;
      continue;
    }
    const found = lookupParam(ctx.params, staticPath, () => exprAt(doc, kptr, 0), diags);
    if (!found.ok) {
      ok = false;
      continue;
    }
    const list = found.value;
    if (!Array.isArray(list) || list.length === 0 || !list.every(isScalar)) {
      diags.error('bad-matrix', `matrix key \`${k}\`: \`${only.source}\` must give a non-empty list of strings, numbers or booleans, got ${JSON.stringify(list)}`, valueAt(doc, kptr));
      ok = false;
      continue;
    }
    keys.push([k, list]);
  }
  const declared = keys.map(([k]) => k);
  const combos = (which: 'include' | 'exclude'): Record<string, MatrixScalar>[] => {
    const list = m[which];
    if (!Array.isArray(list)) return [];
    const out: Record<string, MatrixScalar>[] = [];
    list.forEach((entry, i) => {
      if (!isPlainObject(entry)) return;
      const eptr = childPointer(childPointer(mptr, which), i);
      for (const k of Object.keys(entry)) {
        if (declared.includes(k)) continue;
        const suggestion = didYouMean(k, declared);
        // `exclude` may only name declared keys; `include` may add keys (GitHub semantics) unless it is a typo.
        if (which === 'exclude' || suggestion) {
          diags.error('unknown-matrix-key', `unknown matrix key \`${k}\` in \`${which}\` of stage \`${id}\``, keyOrValue(doc, childPointer(eptr, k)), {
            hint: suggestion ? `did you mean \`${suggestion}\`?` : `declared keys: ${declared.join(', ') || '(none)'}`,
          });
          ok = false;
        }
      }
      out.push(Object.fromEntries(Object.entries(entry).filter(([, v]) => isScalar(v))) as Record<string, MatrixScalar>);
    });
    return out;
  };
  const exclude = combos('exclude');
  const include = combos('include');
  if (!ok) {
    t.usable = false;
    return;
  }
  const expanded = expandMatrix({ keys, exclude, include });
  if (expanded.length === 0) {
    diags.error('bad-matrix', `the matrix of stage \`${id}\` expands to no stages (everything is excluded)`, keyOrValue(doc, mptr));
    t.usable = false;
    return;
  }
  const seen = new Set<string>();
  const union: string[] = [];
  for (const cell of expanded) {
    const cid = cellId(id, cell);
    if (seen.has(cid)) {
      diags.error('bad-matrix', `the matrix of stage \`${id}\` gives \`${cid}\` twice (duplicate values?)`, keyOrValue(doc, mptr));
      t.usable = false;
    }
    seen.add(cid);
    for (const k of cell.keys) if (!union.includes(k)) union.push(k);
    t.cells.push(mkCell(cid, t, cell.values, cell.keys));
  }
  t.keyUnion = union;
}

function mkCell(id: string, tpl: Template, values: Readonly<Record<string, MatrixScalar>>, keys: readonly string[]): Cell {
  return { id, tpl, values, keys, n: -1, targets: [], deps: [], outputs: undefined, state: 'pending', stage: undefined };
}

function compileTemplate(t: Template, ctx: ExpandContext, byId: ReadonlyMap<string, Template>): void {
  const { diags } = ctx;
  const { raw, doc, ptr } = t.src;
  let ok = true;
  const compile = (v: unknown, p: string, allowedRoots?: ReadonlySet<string>, where?: string): Compiled => {
    if (typeof v === 'string') {
      if (!hasExpr(v)) return { t: 'static', v };
      const { segments, errors } = parseTemplate(v);
      for (const e of errors) {
        diags.error('bad-reference', e.message, exprAt(doc, p, e.occurrence), { hint: e.hint });
        ok = false;
      }
      for (const s of segments) {
        if (s.kind !== 'expr') continue;
        const at = exprAt(doc, p, s.occurrence);
        if (allowedRoots && !allowedRoots.has(s.expr.root)) {
          diags.error('bad-reference', `\`${s.source}\` cannot be used in ${where ?? 'this field'}`, at, { hint: `use ${[...allowedRoots].map((r) => `${r}.*`).join(', ')} here` });
          ok = false;
          continue;
        }
        if (s.expr.root === 'matrix' && !t.keyUnion.includes(s.expr.key)) {
          diags.error('unknown-matrix-key', t.hasMatrix ? `unknown matrix key \`${s.expr.key}\` in stage \`${t.src.id}\`` : `stage \`${t.src.id}\` has no matrix, so \`${s.source}\` means nothing`, at, {
            hint: hintFor(s.expr.key, t.keyUnion),
          });
          ok = false;
        }
        if (s.expr.root === 'stages') t.siteOf.set(s, t.sites.push(bindSite(s.expr, at, t, byId, diags)) - 1);
      }
      const only = segments.length === 1 && segments[0]?.kind === 'expr' ? (segments[0] as StrSeg) : undefined;
      return { t: 'str', segs: segments, exact: only, ptr: p };
    }
    if (Array.isArray(v)) {
      const items = v.map((x, i) => compile(x, childPointer(p, i), allowedRoots, where));
      return items.every((i) => i.t === 'static') ? { t: 'static', v } : { t: 'arr', items };
    }
    if (isPlainObject(v)) {
      const entries = Object.keys(v)
        .sort()
        .map((k) => [k, compile(v[k], childPointer(p, k), allowedRoots, where)] as const);
      return entries.every(([, c]) => c.t === 'static') ? { t: 'static', v: canonical(v) } : { t: 'obj', entries };
    }
    return { t: 'static', v };
  };

  if (t.type === 'builtin') t.withC = compile(isPlainObject(raw.with) ? raw.with : {}, childPointer(ptr, 'with'), new Set(['params', 'matrix', 'stages']), '`with`: a built-in stage\'s output paths are assigned by the engine');
  if (t.type === 'command' && typeof raw.run === 'string') {
    const runPtr = childPointer(ptr, 'run');
    const c = compile(raw.run, runPtr);
    t.runC = c.t === 'str' ? c.segs : [{ kind: 'text', text: raw.run }];
  }
  if (isPlainObject(raw.env)) {
    for (const k of Object.keys(raw.env)) t.envC.push([k, compile(raw.env[k], childPointer(childPointer(ptr, 'env'), k))]);
  }
  const outsPtr = childPointer(ptr, 'outs');
  if (isPlainObject(raw.outs)) {
    for (const [k, v] of Object.entries(raw.outs)) {
      const p = childPointer(outsPtr, k);
      t.outsC.push({ name: k, c: compile(v, p, EXPR_OK_IN_OUTS, '`outs`'), ptr: p });
    }
  } else if (Array.isArray(raw.outs)) {
    raw.outs.forEach((v, i) => {
      const p = childPointer(outsPtr, i);
      t.outsC.push({ name: undefined, c: compile(v, p, EXPR_OK_IN_OUTS, '`outs`'), ptr: p });
    });
  }
  if (Array.isArray(raw.deps)) raw.deps.forEach((v, i) => t.depsC.push(compile(v, childPointer(childPointer(ptr, 'deps'), i), EXPR_OK_IN_OUTS, '`deps`')));
  if (!ok) t.usable = false;
}

function bindSite(expr: Expr & { root: 'stages' }, at: SourceRange, t: Template, byId: ReadonlyMap<string, Template>, diags: Diags): Site {
  const target = byId.get(expr.stage);
  if (!target) {
    diags.error('unknown-stage', `unknown stage \`${expr.stage}\``, at, { hint: hintFor(expr.stage, byId.keys()) });
    t.usable = false;
    return { expr, at, target: undefined };
  }
  if (!target.usable) return { expr, at, target: undefined };
  if (expr.selector) {
    for (const [k] of expr.selector) {
      if (!target.keyUnion.includes(k)) {
        diags.error('unknown-matrix-key', target.hasMatrix ? `stage \`${target.src.id}\` has no matrix key \`${k}\`` : `stage \`${target.src.id}\` has no matrix, so it has no cell \`[${k}=...]\``, at, {
          hint: hintFor(k, target.keyUnion),
        });
        t.usable = false;
        return { expr, at, target: undefined };
      }
    }
  }
  return { expr, at, target };
}

function globRegex(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

function resolveNeeds(t: Template, templates: readonly Template[], byId: ReadonlyMap<string, Template>, cellById: ReadonlyMap<string, Cell>, diags: Diags): void {
  const { raw, doc, ptr } = t.src;
  const list = typeof raw.needs === 'string' ? [raw.needs] : Array.isArray(raw.needs) ? raw.needs : [];
  const nptr = childPointer(ptr, 'needs');
  list.forEach((entry, i) => {
    if (typeof entry !== 'string') return;
    const at = typeof raw.needs === 'string' ? valueAt(doc, nptr) : valueAt(doc, childPointer(nptr, i));
    const exactCell = cellById.get(entry);
    const exactTpl = byId.get(entry);
    let cells: Cell[];
    if (exactTpl) cells = exactTpl.usable ? exactTpl.cells : [];
    else if (exactCell) cells = [exactCell];
    else if (/[*?]/.test(entry)) {
      const re = globRegex(entry);
      cells = [];
      for (const o of templates) {
        if (o === t || !o.usable) continue;
        if (re.test(o.src.id)) cells.push(...o.cells);
        else for (const c of o.cells) if (re.test(c.id)) cells.push(c);
      }
      if (cells.length === 0) diags.error('unknown-stage', `\`needs\` pattern \`${entry}\` matches no stage`, at, { hint: hintFor(entry, byId.keys()) });
    } else {
      const candidates = [...byId.keys()];
      diags.error('unknown-stage', `\`needs\` names unknown stage \`${entry}\``, at, { hint: hintFor(entry.replace(/\[.*$/, ''), candidates) ?? (entry.includes('[') ? 'a cell id lists every matrix key in declaration order, e.g. `train[task=a,method=ft]`' : undefined) });
      return;
    }
    t.needs.push({ text: entry, at, cells });
  });
}

// ---------------------------------------------------------------------------------------------
// Binding references to cells

function indexFor(t: Template, keys: readonly string[]): Map<string, Cell[]> {
  const name = keys.join('\u0000');
  let idx = t.indexes.get(name);
  if (!idx) {
    idx = new Map();
    for (const c of t.cells) {
      if (!keys.every((k) => k in c.values)) continue;
      const sig = signature(c.values, keys);
      const list = idx.get(sig);
      if (list) list.push(c);
      else idx.set(sig, [c]);
    }
    t.indexes.set(name, idx);
  }
  return idx;
}

function signature(values: Readonly<Record<string, MatrixScalar>>, keys: readonly string[]): string {
  let s = '';
  for (const k of keys) {
    const v = values[k];
    s += `${typeof v}:${String(v)}\u0000`;
  }
  return s;
}

function bindCell(c: Cell, diags: Diags): void {
  const t = c.tpl;
  if (!t.usable) return;
  const deps = new Set<number>();
  c.targets = t.sites.map((site) => {
    const target = site.target;
    if (!target) return undefined;
    let bound: Cell | Cell[] | undefined;
    if (site.expr.selector) {
      const sel = site.expr.selector;
      // A partial selector is narrowed by the keys the referring cell shares with the target and
      // does not name itself: `final[method=ft]` from a `task` matrix means this task's ft cell.
      const implied = target.keyUnion.filter((k) => k in c.values && !sel.some(([s]) => s === k));
      const matches = target.cells.filter(
        (tc) => sel.every(([k, v]) => k in tc.values && String(tc.values[k]) === v) && implied.every((k) => k in tc.values && tc.values[k] === c.values[k]),
      );
      const text = `${site.expr.stage}[${sel.map(([k, v]) => `${k}=${v}`).join(',')}]`;
      if (matches.length === 0) {
        diags.error('unknown-stage', `no cell \`${text}\``, site.at, { hint: hintFor(text, target.cells.map((x) => x.id)) });
        return undefined;
      }
      if (matches.length > 1) {
        const missing = target.keyUnion.filter((k) => !sel.some(([s]) => s === k) && !implied.includes(k));
        diags.error('bad-reference', `\`${text}\` matches ${matches.length} cells; a selector names one cell`, site.at, { hint: `also pin ${missing.map((k) => `\`${k}\``).join(', ')}` });
        return undefined;
      }
      bound = matches[0] as Cell;
    } else if (!target.hasMatrix) {
      bound = target.cells[0];
    } else {
      const shared = target.keyUnion.filter((k) => k in c.values);
      const candidates = shared.length === 0 ? target.cells : (indexFor(target, shared).get(signature(c.values, shared)) ?? []);
      if (candidates.length === 0) {
        diags.error('bad-reference', `no cell of \`${target.src.id}\` matches ${shared.map((k) => `${k}=${String(c.values[k])}`).join(',')} (referenced from \`${c.id}\`)`, site.at);
        return undefined;
      }
      const one = candidates.length === 1 ? candidates[0] : undefined;
      bound = one && one.keys.every((k) => shared.includes(k)) ? one : candidates;
    }
    if (Array.isArray(bound)) for (const b of bound) deps.add(b.n);
    else if (bound) deps.add(bound.n);
    return bound;
  });
  for (const need of t.needs) for (const b of need.cells) deps.add(b.n);
  c.deps = [...deps];
}

function edgeLocation(a: Cell, b: Cell): SourceRange {
  const t = a.tpl;
  for (let i = 0; i < t.sites.length; i++) {
    const bound = a.targets[i];
    if (bound === b || (Array.isArray(bound) && bound.includes(b))) return (t.sites[i] as Site).at;
  }
  for (const need of t.needs) if (need.cells.includes(b)) return need.at;
  return t.location;
}

// ---------------------------------------------------------------------------------------------
// Resolution

interface EvalState {
  readonly cell: Cell;
  readonly ctx: ExpandContext;
  ownOutputs: Readonly<Record<string, string>> | undefined;
  readonly inputs: StageInput[];
  readonly paramsUsed: Record<string, unknown>;
  failed: boolean;
}

function evalExpr(seg: StrSeg, p: string, st: EvalState): unknown {
  const { cell, ctx } = st;
  const t = cell.tpl;
  const doc = t.src.doc;
  const e = seg.expr;
  switch (e.root) {
    case 'params': {
      // `params.prompts[matrix.task]`: the cell's value of `task` names the next segment.
      const path: string[] = [];
      for (const part of e.path) {
        if (typeof part === 'string') {
          path.push(part);
        } else if (part.matrix in cell.values) {
          path.push(String(cell.values[part.matrix]));
        } else {
          ctx.diags.error('unknown-matrix-key', `matrix key \`${part.matrix}\` is not set in \`${cell.id}\``, exprAt(doc, p, seg.occurrence), { hint: hintFor(part.matrix, Object.keys(cell.values)) });
          st.failed = true;
          return undefined;
        }
      }
      const r = lookupParam(ctx.params, path, () => exprAt(doc, p, seg.occurrence), ctx.diags);
      if (!r.ok) {
        st.failed = true;
        return undefined;
      }
      st.paramsUsed[path.join('.')] = r.value;
      return r.value;
    }
    case 'matrix': {
      if (e.key in cell.values) return cell.values[e.key];
      ctx.diags.error('unknown-matrix-key', `matrix key \`${e.key}\` is not set in \`${cell.id}\` (it only comes from some \`include\` entries)`, exprAt(doc, p, seg.occurrence));
      st.failed = true;
      return undefined;
    }
    case 'outputs': {
      const own = st.ownOutputs;
      if (!own) {
        st.failed = true;
        return undefined;
      }
      if (e.name in own) return own[e.name];
      ctx.diags.error('unknown-output', `stage \`${t.src.id}\` has no output \`${e.name}\``, exprAt(doc, p, seg.occurrence), { hint: hintFor(e.name, Object.keys(own)) });
      st.failed = true;
      return undefined;
    }
    case 'stages': {
      const idx = t.siteOf.get(seg);
      const bound = idx === undefined ? undefined : cell.targets[idx];
      if (!bound) {
        st.failed = true;
        return undefined;
      }
      const list = Array.isArray(bound) ? bound : [bound];
      const paths: string[] = [];
      for (const b of list) {
        if (b.state !== 'done' || !b.outputs) {
          st.failed = true;
          return undefined;
        }
        const path = b.outputs[e.output];
        if (path === undefined) {
          ctx.diags.error('unknown-output', `stage \`${b.tpl.src.id}\` has no output \`${e.output}\``, exprAt(doc, p, seg.occurrence), {
            hint: hintFor(e.output, Object.keys(b.outputs)) ?? `its outputs: ${Object.keys(b.outputs).join(', ') || '(none)'}`,
          });
          st.failed = true;
          return undefined;
        }
        st.inputs.push({ path, fromStage: b.id, fromOutput: e.output });
        paths.push(path);
      }
      return Array.isArray(bound) ? paths : paths[0];
    }
  }
}

function interpolate(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function evaluate(c: Compiled, st: EvalState): unknown {
  switch (c.t) {
    case 'static':
      return c.v;
    case 'arr':
      return c.items.map((i) => evaluate(i, st));
    case 'obj': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of c.entries) out[k] = evaluate(v, st);
      return out;
    }
    case 'str': {
      if (c.exact) return evalExpr(c.exact, c.ptr, st);
      let s = '';
      for (const seg of c.segs) s += seg.kind === 'text' ? seg.text : interpolate(evalExpr(seg, c.ptr, st));
      return s;
    }
  }
}

function resolveCell(cell: Cell, ctx: ExpandContext): void {
  const t = cell.tpl;
  if (!t.usable) {
    cell.state = 'failed';
    return;
  }
  const { diags } = ctx;
  const doc = t.src.doc;
  const st: EvalState = { cell, ctx, ownOutputs: undefined, inputs: [], paramsUsed: {}, failed: false };
  const slug = stageSlug(cell.id);

  // Outputs first: everything else may refer to them.
  const outs: [string, string, string][] = [];
  for (const o of t.outsC) {
    const v = evaluate(o.c, st);
    if (typeof v !== 'string' || v === '') {
      if (!st.failed) diags.error('bad-value', `output path must be a non-empty string, got ${JSON.stringify(v)}`, valueAt(doc, o.ptr));
      st.failed = true;
      continue;
    }
    outs.push([o.name ?? v, v, o.ptr]);
  }
  const outputs: Record<string, string> = {};
  const assign = (name: string, written: string, ptr: string | undefined): void => {
    const wp = workspacePath(ctx.workspace, written);
    if (!wp.ok) {
      diags.error('output-escapes-workspace', `output \`${name}\` of \`${cell.id}\`: ${wp.error}`, ptr ? valueAt(doc, ptr) : t.location);
      st.failed = true;
      return;
    }
    outputs[name] = wp.value;
  };
  let withValue: Record<string, unknown> | undefined;
  if (t.type === 'builtin' && t.kind) {
    const kind = t.kind;
    const w = t.withC ? evaluate(t.withC, st) : {};
    withValue = isPlainObject(w) ? w : {};
    if (st.failed) {
      cell.state = 'failed';
      return;
    }
    const validate = kindValidator(kind.paramsSchema);
    if (typeof validate === 'string') {
      diags.error('bad-params', `the params schema of kind \`${kind.name}\` does not compile: ${validate}`, valueAt(doc, childPointer(t.src.ptr, 'uses')));
      cell.state = 'failed';
      return;
    }
    if (!validate(withValue)) {
      reportKindErrors(validate.errors ?? [], kind.name, doc, childPointer(t.src.ptr, 'with'), childPointer(t.src.ptr, 'uses'), diags);
      cell.state = 'failed';
      return;
    }
    checkThreads(t, kind, withValue, doc, diags);
    let names: readonly string[];
    try {
      names = kind.outputs(withValue);
    } catch (e) {
      diags.error('bad-params', `kind \`${kind.name}\` rejected these params: ${e instanceof Error ? e.message : String(e)}`, valueAt(doc, childPointer(t.src.ptr, 'with')));
      cell.state = 'failed';
      return;
    }
    const mapped = outs.length > 0 ? new Map(outs.map(([n, w2, p]) => [n, [w2, p] as const])) : undefined;
    for (const [n, , p] of outs) {
      if (!names.includes(n)) {
        diags.error('unknown-output', `kind \`${kind.name}\` has no output \`${n}\``, keyOrValue(doc, p), { hint: hintFor(n, names) ?? `its outputs: ${names.join(', ') || '(none)'}` });
        st.failed = true;
      }
    }
    for (const n of names) {
      const m = mapped?.get(n);
      assign(n, m ? m[0] : `${ctx.outputsRoot}/${slug}/${n}`, m ? m[1] : undefined);
    }
  } else {
    for (const [n, w2, p] of outs) assign(n, w2, p);
  }
  st.ownOutputs = outputs;

  let env: Record<string, string>;
  if (t.staticEnv) env = t.staticEnv;
  else {
    env = { ...ctx.env };
    for (const [k, c] of t.envC) env[k] = interpolate(evaluate(c, st));
    env = canonical(env);
    // Without expressions every cell has the same env: share one object.
    if (t.envC.every(([, c]) => c.t === 'static')) t.staticEnv = env;
  }
  for (const d of t.depsC) {
    const v = evaluate(d, st);
    if (typeof v === 'string' && v !== '') st.inputs.push({ path: inputPath(ctx.workspace, v) });
  }

  let command: string[] | string | undefined;
  if (t.type === 'command' && t.runC) {
    const runPtr = childPointer(t.src.ptr, 'run');
    const valueOf = (s: StrSeg): unknown => evalExpr(s, runPtr, st);
    const r = t.shell ? buildShell(t.runC, valueOf) : buildArgv(t.runC, valueOf);
    if (!st.failed) {
      if (!r.ok) {
        diags.error('bad-value', `\`run\` of \`${cell.id}\`: ${r.error.message}`, r.error.occurrence !== undefined ? exprAt(doc, runPtr, r.error.occurrence) : valueAt(doc, runPtr));
        st.failed = true;
      } else if ((Array.isArray(r.value) && r.value.length === 0) || (typeof r.value === 'string' && r.value.trim() === '')) {
        diags.error('bad-value', '`run` is empty', valueAt(doc, runPtr));
        st.failed = true;
      } else command = r.value;
    }
  }
  if (st.failed) {
    cell.state = 'failed';
    return;
  }
  cell.outputs = outputs;

  const needs = new Set<string>();
  for (const b of cell.targets) {
    if (Array.isArray(b)) for (const x of b) needs.add(x.id);
    else if (b) needs.add(b.id);
  }
  for (const need of t.needs) for (const x of need.cells) needs.add(x.id);

  const seen = new Set<string>();
  const inputs = st.inputs
    .filter((i) => {
      const k = `${i.path}\u0000${i.fromStage ?? ''}\u0000${i.fromOutput ?? ''}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => cmp(a.path, b.path) || cmp(a.fromStage ?? '', b.fromStage ?? '') || cmp(a.fromOutput ?? '', b.fromOutput ?? ''));

  const base = {
    id: cell.id,
    template: t.src.id,
    matrix: cell.values,
    needs: [...needs].sort(),
    inputs,
    outputs,
    env,
    resources: t.resources,
    retries: t.retries,
    timeoutSeconds: t.timeoutSeconds,
    paramsUsed: canonical(st.paramsUsed),
    ...(t.slurm ? { slurm: t.slurm } : {}),
    location: t.location,
  };
  if (t.type === 'builtin' && t.kind) {
    // Already canonical: compiled objects evaluate with sorted keys and params are canonical.
    const stage: BuiltinStage = { ...base, type: 'builtin', uses: t.kind.name, with: withValue ?? {} };
    cell.stage = stage;
  } else {
    const stage: CommandStage = { ...base, type: 'command', command: command ?? [], shell: t.shell };
    cell.stage = stage;
  }
  cell.state = 'done';
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkOutputConflicts(cells: readonly Cell[], diags: Diags): void {
  const owner = new Map<string, { cell: Cell; name: string }>();
  const reported = new Set<string>();
  const report = (path: string, a: { cell: Cell; name: string }, b: { cell: Cell; name: string }, nested: boolean): void => {
    const key = `${a.cell.tpl.src.id}|${a.name}|${b.cell.tpl.src.id}|${b.name}`;
    if (reported.has(key)) return;
    reported.add(key);
    const where = (x: { cell: Cell; name: string }): SourceRange => {
      const o = x.cell.tpl.outsC.find((oc) => oc.name === x.name);
      return o ? valueAt(x.cell.tpl.src.doc, o.ptr) : x.cell.tpl.location;
    };
    const msg = nested
      ? `output \`${b.name}\` of \`${b.cell.id}\` (${b.cell.outputs?.[b.name] ?? ''}) is inside output \`${a.name}\` of \`${a.cell.id}\` (${path})`
      : `\`${a.cell.id}\` and \`${b.cell.id}\` both write \`${path}\``;
    diags.error('output-conflict', msg, where(b), { related: [{ message: `\`${a.cell.id}\` writes it here`, location: where(a) }] });
  };
  for (const c of cells) {
    if (c.state !== 'done' || !c.outputs) continue;
    for (const [name, path] of Object.entries(c.outputs)) {
      const prior = owner.get(path);
      if (prior) report(path, prior, { cell: c, name }, false);
      else owner.set(path, { cell: c, name });
    }
  }
  for (const [path, who] of owner) {
    for (let cut = path.lastIndexOf('/'); cut > 0; cut = path.lastIndexOf('/', cut - 1)) {
      const parent = owner.get(path.slice(0, cut));
      if (parent && parent.cell !== who.cell) report(path.slice(0, cut), parent, who, true);
    }
  }
}

/**
 * Warns when a stage keeps more threads busy than the CPUs it reserves (e.g. a training stage with
 * the default two data-parallel workers and `cpu: 1`): the scheduler would run two such stages on
 * one core each while each uses two. Not for GPU stages, where the work is not on the CPU threads.
 */
function checkThreads(t: Template, kind: StageKind<unknown>, params: Record<string, unknown>, doc: LocatedDoc, diags: Diags): void {
  if (!kind.threads || t.resources.gpu > 0) return;
  let threads: number;
  try {
    threads = kind.threads(params);
  } catch {
    return;
  }
  if (!(threads > t.resources.cpu)) return;
  const declared = 'resources' in t.src.raw;
  diags.warning(
    'oversubscribed',
    `stage \`${t.src.id}\` keeps ${threads} threads busy but reserves cpu: ${t.resources.cpu}, so parallel stages will share cores`,
    keyOrValue(doc, childPointer(t.src.ptr, declared ? 'resources' : 'uses')),
    { hint: kind.name.startsWith('train.') ? 'set `workers:` in `with:` to the reserved CPUs, or reserve more (resources: { cpu: N })' : 'reserve more CPUs (resources: { cpu: N })' },
  );
}
