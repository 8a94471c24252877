import { preflightAll } from '../../plan/index.js';
import { loadWorkspace, printDiagnostics, splitFileAndTargets, type PipelineOptions } from '../context.js';
import { EXIT } from '../exit-codes.js';

export interface ValidateOptions extends PipelineOptions {
  /** `--no-data`: the file only, not whether its stages' data is in place. */
  readonly data?: boolean;
}

/**
 * Loads and validates; prints every diagnostic with file:line:col and exits 2 when invalid. Then
 * checks that every stage could start (data packages, data roots, `deps:` files): exit 1 when not.
 */
export async function validateCommand(positionals: string[], options: ValidateOptions): Promise<number> {
  const { file } = splitFileAndTargets(positionals, options.file);
  const { pipeline, kinds } = await loadWorkspace(file, options);
  const templates = new Set(pipeline.stages.map((s) => s.template)).size;
  process.stdout.write(`${file}: valid (${pipeline.stages.length} stage(s) from ${templates} declaration(s))\n`);
  if (options.data === false) return EXIT.ok;
  const problems = await preflightAll({ pipeline, kinds });
  if (problems.length === 0) {
    process.stdout.write('data: every stage has what it needs to start\n');
    return EXIT.ok;
  }
  printDiagnostics(problems);
  process.stderr.write('data: not ready (`--no-data` checks the file only)\n');
  return EXIT.stageFailed;
}
