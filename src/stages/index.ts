/**
 * The door to the built-in stage kinds. Each family folder exports its kinds; this file is the
 * one place that lists the families.
 */
import { KindRegistry } from './registry.js';
import type { StageKind } from './kind.js';
import { dataKinds } from './data/index.js';
import { trainKinds } from './train/index.js';
import { analysisKinds } from './analysis/index.js';
import { reportKinds } from './report/index.js';

export type { StageKind, StageContext, StageRunResult, ProgressUpdate, JsonSchema, CheckEnv, StageProblem } from './kind.js';
export { defineKind } from './kind.js';
export { KindRegistry } from './registry.js';

const families: ReadonlyArray<readonly StageKind<never>[]> = [
  // Families register here, e.g. `dataKinds` from './data/index.js'.
  dataKinds,
  trainKinds,
  analysisKinds,
  reportKinds,
];

let registry: KindRegistry | undefined;

/** The registry of every built-in kind (metadata only: no ML backend is loaded). */
export function builtinKinds(): KindRegistry {
  if (!registry) {
    registry = new KindRegistry();
    for (const family of families) for (const kind of family) registry.register(kind);
  }
  return registry;
}
