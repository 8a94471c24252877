/** Analysis numerics (FID, GradCAM, Integrated Gradients): no stage code, importable on its own. */
export { symmetricEigen, tridiagonalize, tridiagonalQL, congruence, type SymEig, type EigError } from './linalg.js';
export { featureStats, frechetDistance, traceSqrtProduct, type FeatureStats, type FidError, type FidOptions, type FidResult } from './fid.js';
