import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { selectStages, StageGraph } from '../../plan/index.js';
import { loadWorkspace, splitFileAndTargets, type PipelineOptions } from '../context.js';
import { CliExit, EXIT } from '../exit-codes.js';

export interface CleanOptions extends PipelineOptions {
  readonly dryRun?: boolean;
}

/** Removes the selected stages' outputs from the workspace; the store keeps them, so a run restores them. */
export async function cleanCommand(positionals: string[], options: CleanOptions): Promise<number> {
  const { file, targets } = splitFileAndTargets(positionals, options.file);
  const { pipeline } = await loadWorkspace(file, options);
  const graph = new StageGraph(pipeline);
  // With targets: those stages only (not their ancestors).
  const selection = targets.length > 0 ? selectStages(graph, { only: targets }) : selectStages(graph, {});
  if (!selection.ok) throw new CliExit(EXIT.invalid, selection.error.message);
  let removed = 0;
  for (const id of graph.order) {
    if (!selection.value.selected.has(id)) continue;
    for (const path of Object.values(graph.stage(id).outputs)) {
      process.stdout.write(`${options.dryRun ? 'would remove' : 'removing'} ${path}\n`);
      if (!options.dryRun) await rm(resolve(pipeline.workspace, path), { recursive: true, force: true });
      removed++;
    }
  }
  process.stdout.write(`${removed} output(s)${options.dryRun ? ' would be' : ''} removed; the store still holds them (pipeline run restores them)\n`);
  return EXIT.ok;
}
