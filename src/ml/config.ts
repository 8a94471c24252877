/**
 * ViT model configuration and the parameter layout derived from it (names and shapes only, so
 * ViT-B/16 can be counted without allocating 86M floats).
 *
 * Parameter names follow google-research/vision_transformer (the `.npz` naming) where a
 * counterpart exists, but shapes are the 2-D forms the forward pass uses: q/k/v/out kernels are
 * [D, D] (the npz holds [D, heads, head_dim] / [heads, head_dim, D]), biases [D].
 */
export type PromptMode = 'shallow' | 'deep';

export interface ViTConfig {
  readonly imageSize: number;
  readonly channels: number;
  readonly patchSize: number;
  /** Hidden width D. */
  readonly width: number;
  readonly depth: number;
  readonly heads: number;
  /** MLP hidden = width * mlpRatio. */
  readonly mlpRatio: number;
  /** Dropout after the embedding, attention out-projection and both MLP linears (backbone in training mode only). */
  readonly dropout: number;
  readonly attentionDropout: number;
  readonly numClasses: number;
  /** Number of prompt tokens per prompted layer P (0 = no prompts). */
  readonly promptLength: number;
  readonly promptMode: PromptMode;
  readonly promptDropout: number;
}

export const VIT_B16: ViTConfig = {
  imageSize: 224, channels: 3, patchSize: 16, width: 768, depth: 12, heads: 12, mlpRatio: 4,
  // The VPT reference ViT-B/16 config uses dropout 0.1 in the transformer and 0 on attention.
  dropout: 0.1, attentionDropout: 0, numClasses: 1000, promptLength: 0, promptMode: 'deep', promptDropout: 0,
};

/** The vtab-mini model (32x32 grey images). */
export const VIT_MINI: ViTConfig = {
  imageSize: 32, channels: 1, patchSize: 4, width: 64, depth: 4, heads: 4, mlpRatio: 4,
  dropout: 0.1, attentionDropout: 0, numClasses: 10, promptLength: 0, promptMode: 'deep', promptDropout: 0,
};

export type ParamGroup = 'backbone' | 'prompt' | 'head';

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly group: ParamGroup;
  /** How a fresh parameter is initialised. */
  readonly init: 'zeros' | 'ones' | 'xavier' | 'normal002' | 'prompt' | 'kaiming-head' | 'head-bias';
}

export type ConfigError = { readonly reason: 'bad-config'; readonly message: string };

export function validateConfig(c: ViTConfig): ConfigError | undefined {
  const positive: (keyof ViTConfig)[] = ['imageSize', 'channels', 'patchSize', 'width', 'depth', 'heads', 'mlpRatio', 'numClasses'];
  for (const k of positive) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) return { reason: 'bad-config', message: `model.${k} must be a positive integer, got ${String(v)}` };
  }
  if (c.imageSize % c.patchSize !== 0) return { reason: 'bad-config', message: `model.imageSize ${c.imageSize} is not a multiple of patchSize ${c.patchSize}` };
  if (c.width % c.heads !== 0) return { reason: 'bad-config', message: `model.width ${c.width} is not a multiple of heads ${c.heads}` };
  if (!Number.isInteger(c.promptLength) || c.promptLength < 0) return { reason: 'bad-config', message: `promptLength must be an integer >= 0, got ${c.promptLength}` };
  for (const k of ['dropout', 'attentionDropout', 'promptDropout'] as const) {
    if (!(c[k] >= 0 && c[k] < 1)) return { reason: 'bad-config', message: `model.${k} must be in [0, 1), got ${c[k]}` };
  }
  return undefined;
}

export const gridSize = (c: ViTConfig): number => c.imageSize / c.patchSize;
export const numPatches = (c: ViTConfig): number => gridSize(c) ** 2;

export const blockPrefix = (i: number): string => `Transformer/encoderblock_${i}`;
export const promptName = (layer: number): string => `prompt/layer_${layer}`;

/** Every parameter of the model (backbone, prompts when P > 0, head), in a fixed order. */
export function paramSpecs(c: ViTConfig): ParamSpec[] {
  const D = c.width;
  const M = D * c.mlpRatio;
  const specs: ParamSpec[] = [
    { name: 'embedding/kernel', shape: [c.patchSize, c.patchSize, c.channels, D], group: 'backbone', init: 'xavier' },
    { name: 'embedding/bias', shape: [D], group: 'backbone', init: 'zeros' },
    { name: 'cls', shape: [1, 1, D], group: 'backbone', init: 'zeros' },
    { name: 'Transformer/posembed_input/pos_embedding', shape: [1, 1 + numPatches(c), D], group: 'backbone', init: 'normal002' },
  ];
  for (let i = 0; i < c.depth; i++) {
    const p = blockPrefix(i);
    const a = `${p}/MultiHeadDotProductAttention_1`;
    specs.push(
      { name: `${p}/LayerNorm_0/scale`, shape: [D], group: 'backbone', init: 'ones' },
      { name: `${p}/LayerNorm_0/bias`, shape: [D], group: 'backbone', init: 'zeros' },
      { name: `${a}/query/kernel`, shape: [D, D], group: 'backbone', init: 'xavier' },
      { name: `${a}/query/bias`, shape: [D], group: 'backbone', init: 'zeros' },
      { name: `${a}/key/kernel`, shape: [D, D], group: 'backbone', init: 'xavier' },
      { name: `${a}/key/bias`, shape: [D], group: 'backbone', init: 'zeros' },
      { name: `${a}/value/kernel`, shape: [D, D], group: 'backbone', init: 'xavier' },
      { name: `${a}/value/bias`, shape: [D], group: 'backbone', init: 'zeros' },
      { name: `${a}/out/kernel`, shape: [D, D], group: 'backbone', init: 'xavier' },
      { name: `${a}/out/bias`, shape: [D], group: 'backbone', init: 'zeros' },
      { name: `${p}/LayerNorm_2/scale`, shape: [D], group: 'backbone', init: 'ones' },
      { name: `${p}/LayerNorm_2/bias`, shape: [D], group: 'backbone', init: 'zeros' },
      { name: `${p}/MlpBlock_3/Dense_0/kernel`, shape: [D, M], group: 'backbone', init: 'xavier' },
      { name: `${p}/MlpBlock_3/Dense_0/bias`, shape: [M], group: 'backbone', init: 'zeros' },
      { name: `${p}/MlpBlock_3/Dense_1/kernel`, shape: [M, D], group: 'backbone', init: 'xavier' },
      { name: `${p}/MlpBlock_3/Dense_1/bias`, shape: [D], group: 'backbone', init: 'zeros' },
    );
  }
  specs.push(
    { name: 'Transformer/encoder_norm/scale', shape: [D], group: 'backbone', init: 'ones' },
    { name: 'Transformer/encoder_norm/bias', shape: [D], group: 'backbone', init: 'zeros' },
  );
  if (c.promptLength > 0) {
    const layers = c.promptMode === 'deep' ? c.depth : 1;
    for (let l = 0; l < layers; l++) specs.push({ name: promptName(l), shape: [c.promptLength, D], group: 'prompt', init: 'prompt' });
  }
  specs.push(
    { name: 'head/kernel', shape: [D, c.numClasses], group: 'head', init: 'kaiming-head' },
    { name: 'head/bias', shape: [c.numClasses], group: 'head', init: 'head-bias' },
  );
  return specs;
}

export const specSize = (s: ParamSpec): number => s.shape.reduce((a, b) => a * b, 1);

/** Parameter counts per group (no allocation). */
export function countParams(c: ViTConfig): Record<ParamGroup, number> {
  const out: Record<ParamGroup, number> = { backbone: 0, prompt: 0, head: 0 };
  for (const s of paramSpecs(c)) out[s.group] += specSize(s);
  return out;
}
