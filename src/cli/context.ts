/**
 * What every command needs first: the pipeline loaded and validated (or every diagnostic printed
 * and exit 2), and the workspace's store.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatDiagnostics, type Diagnostic } from '../dsl/index.js';
import { openPipeline, type OpenPipeline } from '../open.js';
import { colorEnabled } from '../ui/color.js';
import { CliExit, EXIT } from './exit-codes.js';

export interface PipelineOptions {
  readonly file?: string;
  readonly set?: readonly string[];
  readonly params?: readonly string[];
}

export type Loaded = OpenPipeline;

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

export async function loadWorkspace(file: string, options: PipelineOptions): Promise<Loaded> {
  if (!existsSync(resolve(file))) throw new CliExit(EXIT.invalid, `pipeline file not found: ${file}`);
  const opened = await openPipeline(file, { set: options.set ?? [], params: options.params ?? [] });
  if (!opened.ok) {
    printDiagnostics(opened.error);
    // The diagnostics said it all (with their count); only the exit code is left.
    throw new CliExit(EXIT.invalid, '');
  }
  printDiagnostics(opened.value.warnings);
  return opened.value;
}

/** Diagnostics to stderr, compiler-style (nothing when there are none). */
export function printDiagnostics(diagnostics: readonly Diagnostic[]): void {
  if (diagnostics.length === 0) return;
  const text = formatDiagnostics(diagnostics, { color: colorEnabled(process.stderr) });
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}
