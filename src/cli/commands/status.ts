import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { planPipeline } from '../../plan/index.js';
import { colorEnabled, palette } from '../../ui/color.js';
import { loadWorkspace, splitFileAndTargets, type PipelineOptions } from '../context.js';
import { CliExit, EXIT } from '../exit-codes.js';
import { countActions, planAsJson, renderPlan } from '../plan-report.js';

export interface StatusOptions extends PipelineOptions {
  readonly json?: boolean;
  readonly all?: boolean;
  readonly backend?: string;
}

/** Explains every stale stage. Exit 0 always when the pipeline is valid (scripts read --json). */
export async function statusCommand(positionals: string[], options: StatusOptions): Promise<number> {
  const { file, targets } = splitFileAndTargets(positionals, options.file);
  const { pipeline, kinds, store } = await loadWorkspace(file, options);
  const plan = await planPipeline({ pipeline, store, kinds, backend: options.backend }, { targets });
  await store.flushStatCache();
  for (const w of store.drainWarnings()) process.stderr.write(`warning: store: ${w.message} (${w.path})\n`);
  if (!plan.ok) throw new CliExit(EXIT.invalid, plan.error.message);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(planAsJson(plan.value))}\n`);
    return EXIT.ok;
  }
  const counts = countActions(plan.value);
  // Jobs an earlier `run --executor slurm` left running (its coordinator may be gone).
  const jobs = existsSync(join(pipeline.workspace, '.vpt', 'slurm')) ? await (await import('../../exec/slurm/index.js')).liveSlurmJobs(pipeline.workspace) : [];
  const running = jobs.map((j) => `  ${j.stageId}: running on Slurm (job ${j.jobId}, ${j.state.toLowerCase()})\n`).join('');
  if (counts.run + counts.pending + counts.restore + counts.blocked === 0 && !options.all) {
    process.stdout.write(`${pipeline.name}: everything is up to date (${counts.fresh} stage(s))\n${running}`);
    return EXIT.ok;
  }
  process.stdout.write(renderPlan(plan.value, palette(colorEnabled(process.stdout)), options.all === true) + running);
  return EXIT.ok;
}
