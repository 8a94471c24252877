/** Analysis numerics (FID, GradCAM, Integrated Gradients): no stage code, importable on its own. */
export { symmetricEigen, tridiagonalize, tridiagonalQL, type SymEig, type EigError } from './linalg.js';
export { featureStats, statsFromMoments, frechetDistance, traceSqrt, type FeatureStats, type Spread, type FidError, type FidOptions, type FidResult, type FidRoute } from './fid.js';
export { psdFactor, cholesky, pivotedCholesky, type Factor } from './cholesky.js';
export { gemmNT, type Operand, type GemmShape } from './gemm.js';
export { nuclearNorm } from './svd.js';
export { f64KernelName, setF64Threads, useF64Kernels } from './f64-kernels.js';
export { gradCam, type TapForward, type TokenLayout, type GradCamResult, type GradCamOptions, type AttributionError } from './gradcam.js';
export { integratedGradients, integrationRule, type LogitForward, type IgOptions, type IgResult, type IntegrationRule } from './ig.js';
export { normalizeMap, normalizeByQuantile, upsampleBilinear, jet, denormalizeImage, overlay, colorize, encodePng, readPngHeader } from './heatmap.js';
export { fileModelHandler, loadGraphModelFile, graphModelFeatures, type GraphModelError, type GraphFeatureOptions } from './graph-model.js';
export { inspectGraphModelJson, graphModelProblems, type GraphModelFacts } from './graph-model-json.js';
