/**
 * One ViT with optional VPT prompts (shallow or deep).
 *
 * Sequence: [CLS, prompts (P), patches]; position embeddings cover CLS and patches only (the
 * prompts are inserted after they are added, as in the VPT code). Deep prompts: before layers
 * 1..L-1 the previous layer's outputs at the prompt positions are dropped and replaced by that
 * layer's prompts. Blocks are pre-norm, LayerNorm eps 1e-6, exact-erf GELU. Head: final LayerNorm
 * -> CLS token -> Linear(D, C).
 *
 * A frozen backbone runs in eval mode (no dropout) even while prompts/head train; prompt dropout
 * still applies in training.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone has no gradient functions; the union package registers them like this.
import './gradients.js';
import { blockPrefix, gridSize, numPatches, paramSpecs, promptName, type ParamSpec, type ViTConfig } from './config.js';
import { dropout, dropoutMask, gelu, layerNorm, linear, placePrompts, softmax, type Kernels } from './layers.js';
import { bmm } from './wasmMatmul.js';

/** How tokens are laid out along the sequence axis (GradCAM keeps only the patch tokens). */
export interface TokenLayout {
  readonly cls: 1;
  readonly prompts: number;
  readonly gridH: number;
  readonly gridW: number;
  /** Index of the first patch token: 1 + prompts. */
  readonly patchStart: number;
  readonly total: number;
}

export interface ForwardOptions {
  /** Dropout on (per the mode below); false = eval. */
  readonly training?: boolean;
  /** Base seed of this step's dropout masks (derive it from seed, epoch and step). */
  readonly dropoutSeed?: number;
  /**
   * Receives the LAST block's pre-attention LayerNorm output [B, T, D]; whatever it returns
   * replaces it downstream (GradCAM hooks here).
   */
  readonly tap?: (a: tf.Tensor3D) => tf.Tensor3D;
}

/**
 * How `features` pools the final-LayerNorm token sequence: `cls` is token 0, exactly the vector
 * the head reads; `mean-patch` averages the patch tokens (CLS and prompts left out).
 */
export type Pooling = 'cls' | 'mean-patch';

/** Which parts train and whether prompts are in the sequence (set by the method). */
export interface ModelMode {
  /** Backbone weights receive gradients and backbone dropout is active in training. */
  readonly trainBackbone: boolean;
  readonly trainPrompts: boolean;
  readonly trainHead: boolean;
  /** Prompts inserted in the sequence (false during the FT phase of FT-then-PT). */
  readonly usePrompts: boolean;
}

interface BlockContext {
  readonly i: number;
  readonly B: number;
  readonly T: number;
  readonly seed: number;
  readonly backboneDrop: boolean;
  readonly tap?: (a: tf.Tensor3D) => tf.Tensor3D;
}

export class ViT {
  readonly config: ViTConfig;
  readonly params: ReadonlyMap<string, tf.Variable>;
  readonly specs: readonly ParamSpec[];
  mode: ModelMode;
  kernels: Kernels = 'fast';
  /** Recompute each block in the backward pass instead of keeping its activations (training only). */
  checkpointBlocks = false;

  constructor(config: ViTConfig, params: ReadonlyMap<string, tf.Variable>) {
    this.config = config;
    this.params = params;
    this.specs = paramSpecs(config);
    this.mode = { trainBackbone: true, trainPrompts: true, trainHead: true, usePrompts: config.promptLength > 0 };
  }

  get promptsActive(): number {
    return this.mode.usePrompts ? this.config.promptLength : 0;
  }

  tokenLayout(): TokenLayout {
    const g = gridSize(this.config);
    const p = this.promptsActive;
    return { cls: 1, prompts: p, gridH: g, gridW: g, patchStart: 1 + p, total: 1 + p + g * g };
  }

  /** The variables that train under the current mode, in spec order. */
  trainableVariables(): tf.Variable[] {
    const out: tf.Variable[] = [];
    for (const s of this.specs) {
      const on = s.group === 'backbone' ? this.mode.trainBackbone : s.group === 'prompt' ? this.mode.trainPrompts && this.mode.usePrompts : this.mode.trainHead;
      if (on) out.push(this.p(s.name) as tf.Variable);
    }
    return out;
  }

  /** Plain logits [B, C] in eval mode (Integrated Gradients differentiates this w.r.t. images). */
  forward(images: tf.Tensor4D): tf.Tensor2D {
    return this.forwardWithTap(images, { training: false });
  }

  /** images NHWC [B, H, W, C] (normalised) -> logits [B, C]. */
  forwardWithTap(images: tf.Tensor4D, opts: ForwardOptions = {}): tf.Tensor2D {
    return this.forwardPatches(this.patchify(images), opts);
  }

  /** Same as forwardWithTap on already patchified input [B, N, p*p*C] (the training loop patchifies in JS). */
  forwardPatches(patches: tf.Tensor3D, opts: ForwardOptions = {}): tf.Tensor2D {
    return this.head(this.pool(this.encodePatches(patches, opts), 'cls'));
  }

  /**
   * The token sequence after the final LayerNorm [B, T, D] in eval mode (layout: `tokenLayout()`):
   * everything the model computes before the head.
   */
  encode(images: tf.Tensor4D): tf.Tensor3D {
    return this.encodePatches(this.patchify(images), { training: false });
  }

  /** Pooled final-LayerNorm features [B, D] in eval mode; `cls` is exactly what `head` reads in `forward`. */
  features(images: tf.Tensor4D, pooling: Pooling = 'cls'): tf.Tensor2D {
    return tf.tidy(() => this.pool(this.encode(images), pooling));
  }

  /** The classification head alone: features [B, D] -> logits [B, C]. */
  head(features: tf.Tensor2D): tf.Tensor2D {
    return linear(features, this.p('head/kernel') as tf.Tensor2D, this.p('head/bias') as tf.Tensor1D, this.mode.trainHead, this.kernels) as tf.Tensor2D;
  }

  private pool(x: tf.Tensor3D, pooling: Pooling): tf.Tensor2D {
    const [B, , D] = x.shape;
    if (pooling === 'cls') return tf.reshape(tf.slice(x, [0, 0, 0], [B, 1, D]), [B, D]);
    const l = this.tokenLayout();
    return tf.mean(tf.slice(x, [0, l.patchStart, 0], [B, l.gridH * l.gridW, D]), 1) as tf.Tensor2D;
  }

  /** [B, H, W, C] -> [B, N, p*p*C]. */
  private patchify(images: tf.Tensor4D): tf.Tensor3D {
    const c = this.config;
    const [B] = images.shape;
    const g = gridSize(c);
    const p = c.patchSize;
    // [B, g, p, g, p·C] -> [B, g, g, p, p·C] -> [B, N, p*p*C], the HWIO kernel's flatten order.
    // (p, C) stay one block so the transpose is 5-D: the wasm backend aborts on rank 6.
    return tf.reshape(tf.transpose(tf.reshape(images, [B as number, g, p, g, p * c.channels]), [0, 1, 3, 2, 4]), [B as number, g * g, p * p * c.channels]) as tf.Tensor3D;
  }

  /** Embedding, prompts, blocks and the final LayerNorm: [B, N, p*p*C] -> [B, T, D]. */
  private encodePatches(patches: tf.Tensor3D, opts: ForwardOptions): tf.Tensor3D {
    const c = this.config;
    const m = this.mode;
    const D = c.width;
    const B = patches.shape[0];
    const training = opts.training ?? false;
    const backboneDrop = training && m.trainBackbone;
    const seed = opts.dropoutSeed ?? 0;
    let site = 0;
    // Each dropout site gets its own seed from the step seed and its position in the graph.
    const drop = (x: tf.Tensor, rate: number, on: boolean): tf.Tensor => {
      site++;
      return on && rate > 0 ? dropout(x, rate, mixSeed(seed, site)) : x;
    };
    const tb = m.trainBackbone;
    const lin = (x: tf.Tensor, name: string): tf.Tensor =>
      linear(x, this.p(`${name}/kernel`) as tf.Tensor2D, this.p(`${name}/bias`) as tf.Tensor1D, tb, this.kernels);

    const kernel = tf.reshape(this.p('embedding/kernel'), [c.patchSize * c.patchSize * c.channels, D]) as tf.Tensor2D;
    let x = linear(patches, kernel, this.p('embedding/bias') as tf.Tensor1D, tb, this.kernels);
    const cls = tf.broadcastTo(this.p('cls'), [B, 1, D]);
    x = tf.add(tf.concat([cls, x], 1), this.p('Transformer/posembed_input/pos_embedding'));
    x = drop(x, c.dropout, backboneDrop);

    const P = this.promptsActive;
    const N = numPatches(c);
    // Prompt dropout keeps its dropout site numbering: one site per layer's prompts.
    const place = (xin: tf.Tensor3D, layer: number, replace: boolean): tf.Tensor3D => {
      site++;
      const rate = training && m.trainPrompts ? c.promptDropout : 0;
      const mask = rate > 0 ? dropoutMask(B * P * D, rate, mixSeed(seed, site)) : undefined;
      return placePrompts(xin, this.p(promptName(layer)) as tf.Tensor2D, mask, replace, this.kernels);
    };
    if (P > 0) x = place(x as tf.Tensor3D, 0, false);
    const deep = P > 0 && c.promptMode === 'deep';
    for (let i = 0; i < c.depth; i++) {
      if (deep && i > 0) {
        const xin = x as tf.Tensor3D;
        x = tf.tidy(() => place(xin, i, true));
      }
      // Dropout seeds of a block depend on (step seed, block index) only, so a recomputed block
      // (checkpointing) draws the same masks.
      const ctx: BlockContext = { i, B, T: 1 + P + N, seed: mixSeed(seed, 1000 + i), backboneDrop, ...(opts.tap && i === c.depth - 1 ? { tap: opts.tap } : {}) };
      const xin = x as tf.Tensor3D;
      // A tidy per block frees its intermediates as soon as the block is done: the gradient tape
      // keeps only what each backward pass saved.
      x = this.checkpointBlocks && training ? this.checkpointedBlock(xin, ctx) : tf.tidy(() => this.block(xin, ctx));
    }
    return layerNorm(x, this.p('Transformer/encoder_norm/scale') as tf.Tensor1D, this.p('Transformer/encoder_norm/bias') as tf.Tensor1D, tb, this.kernels) as tf.Tensor3D;
  }

  /** One pre-norm transformer block on [B, T, D]. */
  block(x: tf.Tensor3D, k: BlockContext): tf.Tensor3D {
    const c = this.config;
    const { B, T, i } = k;
    const D = c.width;
    const H = c.heads;
    const hd = D / H;
    const bp = blockPrefix(i);
    const tb = this.mode.trainBackbone;
    const backboneDrop = k.backboneDrop;
    let site = 0;
    const drop = (t: tf.Tensor, rate: number, on: boolean): tf.Tensor => {
      site++;
      return on && rate > 0 ? dropout(t, rate, mixSeed(k.seed, site)) : t;
    };
    const lin = (t: tf.Tensor, name: string): tf.Tensor =>
      linear(t, this.p(`${name}/kernel`) as tf.Tensor2D, this.p(`${name}/bias`) as tf.Tensor1D, tb, this.kernels);
    const opts = { tap: k.tap };
    let h = layerNorm(x, this.p(`${bp}/LayerNorm_0/scale`) as tf.Tensor1D, this.p(`${bp}/LayerNorm_0/bias`) as tf.Tensor1D, tb, this.kernels);
    if (opts.tap && i === c.depth - 1) h = opts.tap(h as tf.Tensor3D);
    const a = `${bp}/MultiHeadDotProductAttention_1`;
    const heads = (t: tf.Tensor): tf.Tensor3D => tf.reshape(tf.transpose(tf.reshape(t, [B, T, H, hd]), [0, 2, 1, 3]), [B * H, T, hd]) as tf.Tensor3D;
    // 1/sqrt(hd) is folded into q (a [BH, T, hd] multiply instead of [BH, T, T]).
    const q = tf.mul(heads(lin(h, `${a}/query`)), 1 / Math.sqrt(hd)) as tf.Tensor3D;
    const v = heads(lin(h, `${a}/value`));
    const fast = this.kernels === 'fast';
    let scores: tf.Tensor3D;
    if (fast) {
      // k^T straight from [B, T, H, hd] with one transpose, so every matMul is untransposed.
      const kT = tf.reshape(tf.transpose(tf.reshape(lin(h, `${a}/key`), [B, T, H, hd]), [0, 2, 3, 1]), [B * H, hd, T]) as tf.Tensor3D;
      scores = bmm(q, kT);
    } else {
      scores = tf.matMul(q, heads(lin(h, `${a}/key`)), false, true);
    }
    let probs = softmax(scores, this.kernels);
    probs = drop(probs, c.attentionDropout, backboneDrop) as tf.Tensor3D;
    const ctx = tf.reshape(tf.transpose(tf.reshape(fast ? bmm(probs as tf.Tensor3D, v) : tf.matMul(probs as tf.Tensor3D, v), [B, H, T, hd]), [0, 2, 1, 3]), [B, T, D]);
    x = tf.add(x, drop(lin(ctx, `${a}/out`), c.dropout, backboneDrop));
    h = layerNorm(x, this.p(`${bp}/LayerNorm_2/scale`) as tf.Tensor1D, this.p(`${bp}/LayerNorm_2/bias`) as tf.Tensor1D, tb, this.kernels);
    let f = drop(gelu(lin(h, `${bp}/MlpBlock_3/Dense_0`), this.kernels), c.dropout, backboneDrop);
    f = drop(lin(f, `${bp}/MlpBlock_3/Dense_1`), c.dropout, backboneDrop);
    x = tf.add(x, f);
    return x as tf.Tensor3D;
  }

  /**
   * The block as one custom op that saves only its input and recomputes itself in the backward
   * pass (gradient checkpointing): tfjs keeps every intermediate gradient until a whole backward
   * pass ends, which takes ViT-B/16 at batch 8 past the 4 GiB wasm heap. About one extra block
   * forward per step.
   */
  checkpointedBlock(x: tf.Tensor3D, k: BlockContext): tf.Tensor3D {
    const vars = this.mode.trainBackbone ? this.specs.filter((s) => s.name.startsWith(`${blockPrefix(k.i)}/`)).map((s) => this.p(s.name)) : [];
    const f = tf.customGrad((...args) => {
      const save = args[args.length - 1] as tf.GradSaveFunc;
      const xx = args[0] as tf.Tensor3D;
      save([xx]);
      return {
        value: tf.tidy(() => this.block(xx, k)),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [sx] = saved as [tf.Tensor3D];
          // A nested tf.grads replaces and then clears the engine's active tape, which the outer
          // backward pass still walks; keep it aside (tfjs-core 4.22 internals, pinned; tested).
          const state = (tf.engine() as unknown as { state: { activeTape: unknown } }).state;
          const outerTape = state.activeTape;
          try {
            return tf.grads((...inputs: tf.Tensor[]) => tf.sum(tf.mul(this.block(inputs[0] as tf.Tensor3D, k), dy)))([sx, ...vars]);
          } finally {
            state.activeTape = outerTape;
          }
        },
      };
    }) as (...inputs: tf.Tensor[]) => tf.Tensor3D;
    return f(x, ...vars);
  }

  p(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`ViT: no parameter ${name}`);
    return v;
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
  }
}

/** A 32-bit mix of a step seed and a site index (Murmur3 finaliser). */
export function mixSeed(seed: number, site: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(site + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
