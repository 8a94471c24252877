/**
 * Floating-point work of the ViT per image, for compute estimates: matrix products only (a
 * multiply-add counts as 2 FLOPs). LayerNorm, GELU, softmax, dropout, the optimizer update and the
 * classification head are left out: each is under 1 % of a ViT-B/16 step.
 *
 * Per block with T tokens, width D and MLP width M (T = 1 CLS + patches + prompts when in use):
 *   linear  = 2·T·(4·D² + 2·D·M)     q, k, v, out projections and the two MLP layers
 *   attn    = 4·T²·D                 q·kᵀ and the attention-weighted sum of v
 * and the patch embedding costs 2·N·(p²·C)·D (N patches of p×p×C values). So
 *   forward = embed + depth·(linear + attn)
 * The backward pass of a matrix product costs one forward per operand it needs a gradient for:
 *   full    (FT, Mixed, pretraining: every weight trains)
 *           = forward + depth·2·(linear + attn) + embed            ≈ 3 × forward
 *   frozen  (VPT: prompts and head train, backbone frozen; the gradient still flows through every
 *           block down to the first layer's prompts, but no weight gradient is formed; attention's
 *           two operands are both activations)
 *           = forward + depth·(linear + 2·attn)                      ≈ 2 × forward
 *   head    (linear probe: nothing before the head needs a gradient) = forward
 *   eval    (evaluation, eval mode)                                  = forward
 * With `recompute` (blocks recomputed in the backward pass, as train.vit does on wasm for width
 * >= 384) a training pass through the blocks costs one more depth·(linear + attn).
 */
import { numPatches, type ViTConfig } from '../../ml/config.js';

/** What one image of a step costs, by what trains. */
export type PassKind = 'full' | 'frozen' | 'head' | 'eval';

export const PASS_KINDS: readonly PassKind[] = ['full', 'frozen', 'head', 'eval'];

/** Tokens in the sequence: CLS, the patches and, when the phase uses them, the prompts. */
export function tokens(c: ViTConfig, prompts: number): number {
  return 1 + numPatches(c) + prompts;
}

export interface BlockFlops {
  readonly embed: number;
  readonly linear: number;
  readonly attn: number;
}

/** The three terms above for one image. */
export function blockFlops(c: ViTConfig, prompts: number): BlockFlops {
  const T = tokens(c, prompts);
  const D = c.width;
  const M = D * c.mlpRatio;
  return {
    embed: 2 * numPatches(c) * c.patchSize * c.patchSize * c.channels * D,
    linear: 2 * T * (4 * D * D + 2 * D * M),
    attn: 4 * T * T * D,
  };
}

/** FLOPs of one image through a pass of this kind. */
export function flopsPerImage(c: ViTConfig, kind: PassKind, prompts: number, recompute: boolean): number {
  const { embed, linear, attn } = blockFlops(c, prompts);
  const forward = embed + c.depth * (linear + attn);
  const again = recompute ? c.depth * (linear + attn) : 0;
  switch (kind) {
    case 'eval':
    case 'head':
      return forward;
    case 'full':
      return forward + c.depth * 2 * (linear + attn) + embed + again;
    case 'frozen':
      return forward + c.depth * (linear + 2 * attn) + again;
  }
}

/** Whether train.vit recomputes blocks in the backward pass on this backend (runVit.ts: wasm, width >= 384). */
export function recomputesBlocks(c: Pick<ViTConfig, 'width'>, backend: string | undefined): boolean {
  return backend === 'wasm' && c.width >= 384;
}
