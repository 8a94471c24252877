/** Analysis numerics (FID, GradCAM, Integrated Gradients): no stage code, importable on its own. */
export { symmetricEigen, tridiagonalize, tridiagonalQL, congruence, type SymEig, type EigError } from './linalg.js';
export { featureStats, frechetDistance, traceSqrtProduct, type FeatureStats, type FidError, type FidOptions, type FidResult } from './fid.js';
export { gradCam, type TapForward, type TokenLayout, type GradCamResult, type GradCamOptions, type AttributionError } from './gradcam.js';
export { integratedGradients, integrationRule, type LogitForward, type IgOptions, type IgResult, type IntegrationRule } from './ig.js';
export { normalizeMap, normalizeByQuantile, upsampleBilinear, jet, denormalizeImage, overlay, colorize, encodePng, readPngHeader } from './heatmap.js';
export { fileModelHandler, loadGraphModelFile, graphModelFeatures, type GraphModelError, type GraphFeatureOptions } from './graph-model.js';
export { inspectGraphModelJson, graphModelProblems, type GraphModelFacts } from './graph-model-json.js';
