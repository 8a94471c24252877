import { loadWorkspace, splitFileAndTargets, type PipelineOptions } from '../context.js';
import { EXIT } from '../exit-codes.js';

/** Loads and validates; prints every diagnostic with file:line:col and exits 2 when invalid. */
export async function validateCommand(positionals: string[], options: PipelineOptions): Promise<number> {
  const { file } = splitFileAndTargets(positionals, options.file);
  const { pipeline } = await loadWorkspace(file, options);
  const templates = new Set(pipeline.stages.map((s) => s.template)).size;
  process.stdout.write(`${file}: valid (${pipeline.stages.length} stage(s) from ${templates} declaration(s))\n`);
  return EXIT.ok;
}
