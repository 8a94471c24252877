/**
 * What every command needs first: the pipeline loaded and validated (or every diagnostic printed
 * and exit 2), and the workspace's store.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { formatDiagnostics, loadPipeline } from '../dsl/index.js';
import type { Pipeline } from '../dsl/model.js';
import type { KindRegistry } from '../stages/index.js';
import { KindRegistry as EmptyRegistry } from '../stages/registry.js';
import { Store } from '../store/index.js';
import { colorEnabled } from '../ui/color.js';
import { CliExit, EXIT } from './exit-codes.js';

export interface PipelineOptions {
  readonly file?: string;
  readonly set?: readonly string[];
  readonly params?: readonly string[];
}

export interface Loaded {
  readonly pipeline: Pipeline;
  readonly kinds: KindRegistry;
  readonly store: Store;
  readonly lockPath: string;
}

const DEFAULT_FILES = ['pipeline.yaml', 'pipeline.yml'];

/** Splits `[file] [targets...]`: the first positional is the file when it names a YAML file. */
export function splitFileAndTargets(positionals: readonly string[], fileOption: string | undefined): { file: string; targets: string[] } {
  const [first, ...rest] = positionals;
  if (fileOption) return { file: fileOption, targets: [...positionals] };
  if (first !== undefined && /\.ya?ml$/i.test(first)) return { file: first, targets: rest };
  const fallback = DEFAULT_FILES.find((f) => existsSync(f));
  if (!fallback) throw new CliExit(EXIT.invalid, `no pipeline file given and no ${DEFAULT_FILES.join(' or ')} here`);
  return { file: fallback, targets: [...positionals] };
}

/** `pipelines/vtab-mini.yaml` -> `pipelines/vtab-mini.lock`; `pipeline.yaml` -> `pipeline.lock`. */
export function lockPathFor(file: string): string {
  return join(dirname(file), `${basename(file, extname(file))}.lock`);
}

export async function loadWorkspace(file: string, options: PipelineOptions): Promise<Loaded> {
  const absolute = resolve(file);
  if (!existsSync(absolute)) throw new CliExit(EXIT.invalid, `pipeline file not found: ${file}`);
  const loaded = await loadPipeline(absolute, { kinds: loadBuiltinKinds, set: options.set ?? [], paramsFiles: options.params ?? [], cache: true });
  if (!loaded.ok) {
    const text = formatDiagnostics(loaded.error, { color: colorEnabled(process.stderr) });
    process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
    // The diagnostics said it all (with their count); only the exit code is left.
    throw new CliExit(EXIT.invalid, '');
  }
  if (loaded.value.warnings) {
    const text = formatDiagnostics(loaded.value.warnings, { color: colorEnabled(process.stderr) });
    process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }
  // Only built-in stages need the registry (their kind's version is part of the fingerprint).
  const kinds = loaded.value.stages.some((s) => s.type === 'builtin') ? await loadBuiltinKinds() : new EmptyRegistry();
  const store = await Store.open(loaded.value.workspace);
  return { pipeline: loaded.value, kinds, store, lockPath: lockPathFor(absolute) };
}

/**
 * The built-in kinds are some fifty modules (~60 ms to load): imported only when a pipeline
 * uses one, or when its YAML has to be expanded again.
 */
async function loadBuiltinKinds(): Promise<KindRegistry> {
  return (await import('../stages/index.js')).builtinKinds();
}
