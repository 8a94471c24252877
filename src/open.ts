/**
 * Opening a pipeline the way every command does: the YAML loaded, validated and expanded with the
 * built-in kinds, and its workspace's store. The CLI prints the diagnostics; a program gets them.
 */
import { basename, dirname, extname, join, resolve } from 'node:path';
import { loadPipeline } from './dsl/index.js';
import type { Diagnostic } from './dsl/diagnostic.js';
import type { Pipeline } from './dsl/model.js';
import type { KindRegistry } from './stages/registry.js';
import { KindRegistry as EmptyRegistry } from './stages/registry.js';
import { Store } from './store/index.js';
import { err, ok, type Result } from './util/result.js';

export interface OpenOptions {
  /** `a.b=value` param overrides, as `--set`. */
  readonly set?: readonly string[];
  /** Extra params files merged over the pipeline's own, as `--params`. */
  readonly params?: readonly string[];
  /** Reuse the expansion of an unchanged pipeline (`.vpt/` cache); default true. */
  readonly cache?: boolean;
}

export interface OpenPipeline {
  readonly pipeline: Pipeline;
  readonly kinds: KindRegistry;
  readonly store: Store;
  /** Where the pipeline's lock file is: `pipelines/vtab-mini.yaml` -> `pipelines/vtab-mini.lock`. */
  readonly lockPath: string;
  /** Warnings of the load (the pipeline is usable). */
  readonly warnings: readonly Diagnostic[];
}

export async function openPipeline(file: string, options: OpenOptions = {}): Promise<Result<OpenPipeline, readonly Diagnostic[]>> {
  const absolute = resolve(file);
  const loaded = await loadPipeline(absolute, { kinds: loadBuiltinKinds, set: options.set ?? [], paramsFiles: options.params ?? [], cache: options.cache !== false });
  if (!loaded.ok) return err(loaded.error);
  // Only built-in stages need the registry (their kind's version is part of the fingerprint).
  const kinds = loaded.value.stages.some((s) => s.type === 'builtin') ? await loadBuiltinKinds() : new EmptyRegistry();
  const store = await Store.open(loaded.value.workspace);
  return ok({ pipeline: loaded.value, kinds, store, lockPath: lockPathFor(absolute), warnings: loaded.value.warnings ?? [] });
}

/** `pipelines/vtab-mini.yaml` -> `pipelines/vtab-mini.lock`; `pipeline.yaml` -> `pipeline.lock`. */
export function lockPathFor(file: string): string {
  return join(dirname(file), `${basename(file, extname(file))}.lock`);
}

/**
 * The built-in kinds are some fifty modules (~60 ms to load): imported only when a pipeline
 * uses one, or when its YAML has to be expanded again.
 */
async function loadBuiltinKinds(): Promise<KindRegistry> {
  return (await import('./stages/index.js')).builtinKinds();
}
