/**
 * Can the stages start? Before a run starts anything, every stage it may start is checked for
 * what must already be on disk: its inputs that no stage produces (`deps:`), and whatever its
 * kind's `check` asks for (a data package, the files under a data root). Everything missing is
 * reported at once, as diagnostics at the stage's declaration, instead of as a failure after the
 * stages before it have run.
 */
import { access } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { Diagnostic } from '../dsl/diagnostic.js';
import type { Stage } from '../dsl/model.js';
import type { Pipeline } from '../dsl/model.js';
import type { StageProblem } from '../stages/kind.js';
import type { KindRegistry } from '../stages/registry.js';
import { StageGraph } from './graph.js';

export interface PreflightContext {
  readonly workspace: string;
  readonly graph: StageGraph;
  readonly kinds: KindRegistry;
}

/** Stages checked at once (each check is a few stat calls). */
const CHECK_BATCH = 32;

/**
 * One `stage-not-ready` error per distinct problem, at the first stage that has it; a problem
 * many stages share (a checkpoint 1,000 training stages read) is one diagnostic naming how many.
 */
export async function preflight(ctx: PreflightContext, ids: Iterable<string>): Promise<Diagnostic[]> {
  const byProblem = new Map<string, { problem: StageProblem; stages: Stage[] }>();
  const stages = [...ids].map((id) => ctx.graph.stage(id));
  for (let i = 0; i < stages.length; i += CHECK_BATCH) {
    const batch = stages.slice(i, i + CHECK_BATCH);
    const found = await Promise.all(batch.map((stage) => problemsOf(ctx, stage)));
    for (const [j, problems] of found.entries()) {
      for (const problem of problems) {
        const key = `${problem.message}\0${problem.hint ?? ''}`;
        const entry = byProblem.get(key) ?? { problem, stages: [] };
        entry.stages.push(batch[j] as Stage);
        byProblem.set(key, entry);
      }
    }
  }
  return [...byProblem.values()].map(({ problem, stages: [first, ...others] }) => {
    const stage = first as Stage;
    const who = others.length === 0 ? stage.id : `${stage.id} and ${others.length} more stage${others.length === 1 ? '' : 's'}`;
    return {
      severity: 'error',
      reason: 'stage-not-ready',
      message: `${who} cannot start: ${problem.message}`,
      location: stage.location,
      ...(problem.hint !== undefined ? { hint: problem.hint } : {}),
    };
  });
}

/** Every stage of the pipeline, as `pipeline validate` checks them. */
export function preflightAll(ctx: { readonly pipeline: Pipeline; readonly kinds: KindRegistry }): Promise<Diagnostic[]> {
  const graph = new StageGraph(ctx.pipeline);
  return preflight({ workspace: ctx.pipeline.workspace, graph, kinds: ctx.kinds }, graph.order);
}

async function problemsOf(ctx: PreflightContext, stage: Stage): Promise<StageProblem[]> {
  const problems: StageProblem[] = [];
  if (stage.type === 'builtin') {
    const kind = ctx.kinds.get(stage.uses);
    if (kind?.check) {
      const env = { workspace: ctx.workspace, resolve: (p: string) => (isAbsolute(p) ? p : resolve(ctx.workspace, p)) };
      problems.push(...(await kind.check(stage.with, env)));
    }
  }
  // The kind's own word on a path (e.g. "the VTAB-1k root ... does not exist") says more.
  const explained = new Set(problems.map((p) => p.path).filter((p) => p !== undefined));
  for (const input of stage.inputs) {
    const produced = input.fromStage !== undefined || ctx.graph.producers.has(input.path);
    const path = resolve(ctx.workspace, input.path);
    if (produced || explained.has(path)) continue;
    if (!(await access(path).then(() => true, () => false))) problems.push({ message: `input ${input.path} does not exist`, path });
  }
  return problems;
}
