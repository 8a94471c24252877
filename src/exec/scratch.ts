/**
 * A scratch workspace for `pipeline verify --rerun`: the stages run again there, with their own
 * store, so neither the workspace's outputs nor the cached results of the locked run are touched,
 * whatever the rerun produces. Everything else of the workspace (data, params files, the lock) is
 * seen through symlinks; the inputs the rerun takes from stages it does not rerun are restored
 * from the workspace's store (hash-checked, as any restore).
 */
import { mkdir, readdir, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Pipeline } from '../dsl/model.js';
import type { Plan } from '../plan/index.js';
import type { Store } from '../store/index.js';
import { Store as StoreClass } from '../store/index.js';
import { err, ok, type Result } from '../util/result.js';

export interface Scratch {
  readonly dir: string;
  readonly pipeline: Pipeline;
  readonly store: Store;
}

export async function prepareScratch(pipeline: Pipeline, plan: Plan, store: Store, rerun: ReadonlySet<string>): Promise<Result<Scratch, string>> {
  const dir = join(store.root, 'verify', `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`);
  await mkdir(dir, { recursive: true });
  // Top-level folders that hold stage outputs are real folders in the scratch; the rest are links.
  const outputRoots = new Set(pipeline.stages.flatMap((s) => Object.values(s.outputs).map((p) => p.split('/')[0] as string)));
  for (const entry of await readdir(pipeline.workspace)) {
    if (entry === '.vpt' || outputRoots.has(entry)) continue;
    await symlink(join(pipeline.workspace, entry), join(dir, entry));
  }
  for (const id of rerun) {
    for (const input of plan.graph.stage(id).inputs) {
      const producer = input.fromStage ?? plan.graph.producers.get(input.path)?.stage;
      if (producer !== undefined && rerun.has(producer)) continue;
      const target = join(dir, input.path);
      if (producer === undefined) {
        // A `deps:` file under an output folder: seen through a link like the rest.
        if (outputRoots.has(input.path.split('/')[0] as string)) {
          await mkdir(dirname(target), { recursive: true });
          await symlink(join(pipeline.workspace, input.path), target).catch(() => undefined);
        }
        continue;
      }
      const decision = plan.decisions.get(producer);
      const output = decision && 'record' in decision ? Object.values(decision.record.outputs).find((o) => o.path === input.path) : undefined;
      if (!output) return err(`${id}: its input ${input.path} (from ${producer}) is not in the cache; run the pipeline first`);
      const restored = await store.restore(output.ref, target);
      if (!restored.ok) return err(`${id}: restoring its input ${input.path}: ${restored.error.message}`);
    }
  }
  const scratchStore = await StoreClass.open(dir);
  return ok({ dir, pipeline: { ...pipeline, workspace: dir }, store: scratchStore });
}
