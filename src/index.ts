/**
 * `vpt-pipeline`: the pipeline engine as a library, what `pipeline run` does, step by step.
 *
 *   const opened = await openPipeline('pipelines/vtab-mini.yaml', { set: ['train.epochs=2'] });
 *   if (!opened.ok) throw new Error(formatDiagnostics(opened.error, { color: false }));
 *   const notReady = await preflightAll(opened.value);      // [] when every stage has its data
 *   const plan = await planPipeline(opened.value, { targets: ['final[*method=vpt*]'] });
 *   const run = await runPipeline(opened.value, { plan: { targets: [...] }, jobs: 2, capacity, emit: console.log });
 *
 * The ML core is `vpt-pipeline/ml`; FID, GradCAM and Integrated Gradients are `vpt-pipeline/fid`
 * (also `vpt-pipeline/analysis`); the stage-kind contract is `vpt-pipeline/stages`.
 */
export { openPipeline, lockPathFor, type OpenOptions, type OpenPipeline } from './open.js';
export { loadPipeline, formatDiagnostics, type LoadOptions, type AsyncLoadOptions } from './dsl/index.js';
export type { Pipeline, Stage, BuiltinStage, CommandStage, StageInput, Resources, Diagnostic, DiagnosticReason, SourcePosition, SourceRange } from './dsl/index.js';
export { planPipeline, preflight, preflightAll, StageGraph, describeReason, explainChange, type Plan, type PlanError, type PlanOptions, type PlanContext, type Decision, type Reason } from './plan/index.js';
export * from './exec/index.js';
export { Store, parseLockFile, renderLockFile, compareMetrics, type RunRecord, type LockFile, type LockStage, type MetricTolerance } from './store/index.js';
export { builtinKinds, KindRegistry } from './stages/index.js';
export { PlainRenderer, JsonRenderer, type Renderer } from './ui/index.js';
export { VERSION } from './version.js';

