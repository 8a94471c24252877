export { StageGraph } from './graph.js';
export { planPipeline, evaluateStage, rememberOutputs, type Plan, type PlanError, type PlanOptions, type PlanContext, type Decision, type KnownOutputs } from './planner.js';
export { selectStages, matchStages, patternToRegExp, type SelectionOptions, type Selection } from './select.js';
export { fingerprintDoc, fingerprintOf, FINGERPRINT_SCHEMA, type FingerprintDoc } from './fingerprint.js';
export { explainChange, diffValues } from './explain.js';
export { describeReason, type Reason } from './reasons.js';
export { preflight, preflightAll, type PreflightContext } from './preflight.js';
export { codeHashOf, computeCodeHashes, closureHash, importsOf, CODE_HASHES_FILE, type CodeHashes } from './code-hash.js';
