/**
 * The DSL's door: YAML text -> validated, fully expanded Pipeline, and its diagnostics.
 * See docs/dsl.md for the syntax.
 */
export { loadPipeline, loadPipelineSync, type LoadOptions, type AsyncLoadOptions } from './load.js';
export type { KindSource } from './cache.js';
export { formatDiagnostics } from './format.js';
export { didYouMean, editDistance } from './did-you-mean.js';
export { stageSlug, workspacePath } from './paths.js';
export { PIPELINE_SCHEMA_PATH } from './schema.js';
export { parseMemory, parseDuration } from './units.js';
export { splitArgs, shellQuote } from './argv.js';
export { parseOverride } from './params.js';
export { sortDiagnostics } from './diags.js';
export { cellId } from './matrix.js';
export type { Pipeline, Stage, BuiltinStage, CommandStage, StageInput, Resources } from './model.js';
export type { Diagnostic, DiagnosticReason, SourcePosition, SourceRange } from './diagnostic.js';
