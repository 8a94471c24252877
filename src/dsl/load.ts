/**
 * loadPipeline: files (main + includes + params files) -> merged document -> expanded Pipeline,
 * collecting every diagnostic on the way instead of stopping at the first.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { KindRegistry } from '../stages/index.js';
import { err, ok, type Result } from '../util/result.js';
import type { Diagnostic, SourceRange } from './diagnostic.js';
import { cacheKey, readCachedPipeline, writeCachedPipeline, type KindSource } from './cache.js';
import { Diags } from './diags.js';
import { didYouMean } from './did-you-mean.js';
import { expandStages, type ExpandContext, type TemplateSource } from './expand.js';
import type { Pipeline, Resources, SlurmSettings } from './model.js';
import { canonical, deepMerge, isPlainObject, lookup, parseOverride, setAt } from './params.js';
import { workspacePath } from './paths.js';
import { validatePipelineFile } from './schema.js';
import { mergeSlurmSettings, readSlurmSettings } from './slurm.js';
import { SourceFile } from './source.js';
import { parseDuration, parseMemory } from './units.js';
import { childPointer, keyOrValue, parseYaml, valueAt, type LocatedDoc } from './yaml-source.js';

export interface LoadOptions {
  /** To validate `uses:` and `with:` (each kind has a JSON Schema). */
  kinds: KindRegistry;
  /** `--set a.b=value` overrides; the value is parsed as a YAML scalar or flow value. */
  set?: readonly string[];
  /** Extra `--params file.yaml` files (relative to the current directory), merged after the pipeline's own. */
  paramsFiles?: readonly string[];
  /** Reuse the expansion of an unchanged pipeline (see cache.ts); the CLI turns it on. */
  cache?: boolean;
}

interface Unit {
  readonly doc: LocatedDoc;
  readonly value: Record<string, unknown>;
  readonly broken: ReadonlySet<string>;
  readonly isMain: boolean;
}

const MAIN_ONLY = ['name', 'workspace', 'params_files', 'outputs_root'] as const;

/**
 * `loadPipeline` may be given the kind registry as a loader instead: a cached pipeline that uses
 * no built-in kind is then served without loading the kinds at all (the CLI does this).
 */
export type AsyncLoadOptions = Omit<LoadOptions, 'kinds'> & { readonly kinds: KindSource };

export async function loadPipeline(file: string, opts: AsyncLoadOptions): Promise<Result<Pipeline, readonly Diagnostic[]>> {
  const registry = async (): Promise<KindRegistry> => (typeof opts.kinds === 'function' ? opts.kinds() : opts.kinds);
  if (opts.cache !== true) return loadPipelineSync(file, { ...opts, kinds: await registry() });
  const key = cacheKey(path.resolve(file), opts.set ?? [], opts.paramsFiles ?? []);
  const cached = await readCachedPipeline(key, opts.kinds);
  if (cached) return ok(cached);
  const kinds = await registry();
  const loaded = loadPipelineSync(file, { ...opts, kinds });
  if (loaded.ok) writeCachedPipeline(key, loaded.value, kinds);
  return loaded;
}

/** Same as loadPipeline, synchronously (the benchmark and tests use it too). */
export function loadPipelineSync(file: string, opts: LoadOptions): Result<Pipeline, readonly Diagnostic[]> {
  const diags = new Diags();
  const mainFile = path.resolve(file);
  const units: Unit[] = [];
  const loaded = new Set<string>();
  const files: string[] = [];

  const display = (f: string): string => path.relative(path.dirname(mainFile), f) || path.basename(f);

  const loadUnit = (abs: string, namedAt: SourceRange | undefined, stack: readonly string[]): void => {
    if (stack.includes(abs)) {
      const loop = [...stack.slice(stack.indexOf(abs)), abs].map(display).join(' -> ');
      diags.error('include', `include cycle: ${loop}`, namedAt);
      return;
    }
    if (loaded.has(abs)) return; // diamond: each file merges once
    loaded.add(abs);
    const text = readText(abs);
    if (text === undefined) {
      diags.error('missing-file', namedAt ? `included file \`${display(abs)}\` not found (${abs})` : `pipeline file not found: ${abs}`, namedAt);
      return;
    }
    files.push(abs);
    const doc = parseYaml(new SourceFile(abs, text), diags);
    if (!doc) return;
    const broken = validatePipelineFile(doc, diags);
    const value = isPlainObject(doc.value) ? doc.value : {};
    const isMain = stack.length === 0;
    if (!isMain) {
      for (const k of MAIN_ONLY) {
        if (k in value) diags.error('include', `\`${k}\` is only allowed in the main pipeline file, not in an included file`, keyOrValue(doc, `/${k}`));
      }
    }
    if (Array.isArray(value.include)) {
      value.include.forEach((inc, i) => {
        if (typeof inc !== 'string') return;
        loadUnit(path.resolve(path.dirname(abs), inc), valueAt(doc, childPointer('/include', i)), [...stack, abs]);
      });
    }
    units.push({ doc, value, broken, isMain });
  };
  loadUnit(mainFile, undefined, []);

  const main = units.find((u) => u.isMain);
  if (!main) return err(diags.sorted());

  const name = typeof main.value.name === 'string' ? main.value.name : path.basename(mainFile).replace(/\.ya?ml$/i, '');
  const workspace = path.resolve(path.dirname(mainFile), typeof main.value.workspace === 'string' ? main.value.workspace : '.');
  if (!isDirectory(workspace)) diags.error('missing-file', `workspace folder not found: ${workspace}`, valueAt(main.doc, '/workspace'));

  let outputsRoot = `artifacts/${name}`;
  if (typeof main.value.outputs_root === 'string') {
    const r = workspacePath(workspace, main.value.outputs_root);
    if (r.ok) outputsRoot = r.value;
    else diags.error('output-escapes-workspace', `\`outputs_root\`: ${r.error}`, valueAt(main.doc, '/outputs_root'));
  } else {
    const r = workspacePath(workspace, outputsRoot);
    if (r.ok) outputsRoot = r.value;
  }

  // Params: included < inline < params_files < --params < --set.
  let params: unknown = {};
  for (const u of units) if (isPlainObject(u.value.params)) params = deepMerge(params, u.value.params);
  if (Array.isArray(main.value.params_files)) {
    main.value.params_files.forEach((pf, i) => {
      if (typeof pf !== 'string') return;
      const at = valueAt(main.doc, childPointer('/params_files', i));
      const merged = readParamsFile(path.resolve(workspace, pf), at, pf, diags, files);
      if (merged !== undefined) params = deepMerge(params, merged);
    });
  }
  for (const pf of opts.paramsFiles ?? []) {
    const merged = readParamsFile(path.resolve(pf), undefined, pf, diags, files);
    if (merged !== undefined) params = deepMerge(params, merged);
  }
  for (const text of opts.set ?? []) {
    const o = parseOverride(text);
    if (!o.ok) {
      diags.error('bad-override', o.error);
      continue;
    }
    const found = lookup(params, o.value.path);
    if (!found.found) {
      const prefix = o.value.path.slice(0, found.missingAt);
      const s = didYouMean(o.value.path[found.missingAt] ?? '', found.available);
      diags.error('unknown-param', `--set ${text}: unknown param \`${o.value.path.join('.')}\``, undefined, {
        hint: s !== undefined ? `did you mean \`${[...prefix, s].join('.')}\`?` : `known params: ${found.available.join(', ') || '(none)'}`,
      });
      continue;
    }
    params = setAt(params, o.value.path, o.value.value);
  }
  const finalParams = canonical(isPlainObject(params) ? params : {});

  // env, defaults: included first, the including file wins.
  const env: Record<string, string> = {};
  const defaults: { resources: { -readonly [K in keyof Resources]?: Resources[K] }; retries: number | undefined; timeoutSeconds: number | undefined; slurm: SlurmSettings | undefined } = {
    resources: {},
    retries: undefined,
    timeoutSeconds: undefined,
    slurm: undefined,
  };
  for (const u of units) {
    if (isPlainObject(u.value.env)) for (const [k, v] of Object.entries(u.value.env)) env[k] = String(v);
    // `slurm:` at the top level and in `defaults` are the same pipeline-wide setting.
    defaults.slurm = mergeSlurmSettings(defaults.slurm, readSlurmSettings(u.value.slurm, u.doc, '/slurm', diags));
    if (isPlainObject(u.value.defaults)) defaults.slurm = mergeSlurmSettings(defaults.slurm, readSlurmSettings(u.value.defaults.slurm, u.doc, '/defaults/slurm', diags));
    const d = u.value.defaults;
    if (!isPlainObject(d)) continue;
    if (typeof d.retries === 'number') defaults.retries = d.retries;
    if (d.timeout !== undefined) {
      const t = parseDuration(d.timeout);
      if (t.ok) defaults.timeoutSeconds = t.value;
      else diags.error('bad-value', t.error, valueAt(u.doc, '/defaults/timeout'));
    }
    if (typeof d.resources === 'string') diags.error('bad-value', '`defaults.resources` must be an object of cpu, gpu, memory (a `${{ params.<path> }}` expression is for a stage\'s own `resources`)', valueAt(u.doc, '/defaults/resources'));
    if (isPlainObject(d.resources)) {
      const r = d.resources;
      if (typeof r.cpu === 'number') defaults.resources.cpu = r.cpu;
      if (typeof r.gpu === 'number') defaults.resources.gpu = r.gpu;
      if (r.memory !== undefined) {
        const m = parseMemory(r.memory);
        if (m.ok) defaults.resources.memoryMiB = m.value;
        else diags.error('bad-value', m.error, valueAt(u.doc, '/defaults/resources/memory'));
      }
    }
  }

  // Stage templates, ids unique across all files.
  const templates: TemplateSource[] = [];
  const firstAt = new Map<string, SourceRange>();
  for (const u of units) {
    if (!isPlainObject(u.value.stages)) continue;
    for (const [id, raw] of Object.entries(u.value.stages)) {
      const ptr = childPointer('/stages', id);
      const at = keyOrValue(u.doc, ptr);
      const prior = firstAt.get(id);
      if (prior) {
        diags.error('duplicate-id', `duplicate stage id \`${id}\` (also defined in ${display(prior.start.file)})`, at, {
          related: [{ message: `\`${id}\` is first defined here`, location: prior }],
        });
        continue;
      }
      firstAt.set(id, at);
      templates.push({ id, doc: u.doc, ptr, raw: isPlainObject(raw) ? raw : {}, broken: u.broken.has(id) || !isPlainObject(raw) });
    }
  }

  const ctx: ExpandContext = { diags, kinds: opts.kinds, workspace, outputsRoot, params: finalParams, env, defaults };
  const stages = expandStages(templates, ctx);
  if (diags.count > 0) return err(diags.sorted());
  const warnings = diags.warnings();
  return ok({ name, file: mainFile, workspace, params: finalParams, stages, files, ...(warnings.length > 0 ? { warnings } : {}) });
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function isDirectory(p: string): boolean {
  try {
    return existsSync(p) && statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function readParamsFile(abs: string, at: SourceRange | undefined, written: string, diags: Diags, files: string[]): Record<string, unknown> | undefined {
  const text = readText(abs);
  if (text === undefined) {
    diags.error('missing-file', `params file \`${written}\` not found (${abs})`, at);
    return undefined;
  }
  files.push(abs);
  const doc = parseYaml(new SourceFile(abs, text), diags);
  if (!doc) return undefined;
  if (doc.value === null) return {};
  if (!isPlainObject(doc.value)) {
    diags.error('schema', `params file \`${written}\` must be a mapping of params`, valueAt(doc, ''));
    return undefined;
  }
  return doc.value;
}
