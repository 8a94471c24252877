/**
 * The ML core's public door: backend selection, the ViT (with VPT prompts), methods, optimisers,
 * the training loop, checkpoints and the public ViT `.npz` loader.
 *
 * For analysis stages:
 * - `model.forward(images)` -> logits [B, C], eval mode, differentiable w.r.t. `images`
 *   (normalised NHWC float32 [B, H, W, C]); Integrated Gradients uses this.
 * - `model.forwardWithTap(images, { training: false, tap })`: `tap(a)` receives the LAST block's
 *   pre-attention LayerNorm output a [B, T, D] and its return value replaces it downstream
 *   (GradCAM: return a + 0·a-like variable, or capture `a` and differentiate).
 * - `model.tokenLayout()`: { cls: 1, prompts: P, gridH, gridW, patchStart: 1 + P, total } — the
 *   sequence is [CLS, prompts, patches (row-major gridH × gridW)].
 * - `loadModelFile(path)` + `createViT(config, seed, values)` rebuild a trained model; set
 *   `model.mode = methodMode(...)` / `usePrompts` as the run did (`loadTrainedModel` does it).
 */
export * from './backend.js';
export * from './config.js';
export { linear, layerNorm, gelu, dropout, LAYER_NORM_EPS, type Kernels } from './layers.js';
export { ViT, mixSeed, type ForwardOptions, type ModelMode, type Pooling, type TokenLayout } from './vit.js';
export { createViT, assignParams, paramsToNamed, initValues, type InitSource, type ModelBuildError } from './params.js';
export * from './npz.js';
export * from './vitNpz.js';
export * from './checkpoint.js';
export * from './methods.js';
export * from './optim.js';
export * from './data.js';
export * from './train.js';
export { createStepper, defaultWorkers, shardSizes, TrainStepper, type StepBatch, type StepOutcome, type StepperError, type StepperOptions } from './parallel/stepper.js';
export { loadTrainedModel } from './trained.js';
