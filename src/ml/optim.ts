/**
 * Optimisers and the learning-rate schedule of the VPT reference recipe.
 *
 * - lr = base_lr × batch / 256.
 * - Linear warm-up from 0, then cosine to 0, evaluated once per EPOCH (the reference
 *   WarmupCosineSchedule is stepped at each epoch's end, so epoch 0 of a warm-up runs at lr 0).
 * - SGD with momentum 0.9 and coupled (L2) weight decay, PyTorch semantics; no decay on the head
 *   bias (reference: `last_layer.bias`).
 * - AdamW (β 0.9/0.999, eps 1e-8, decoupled decay, PyTorch semantics). The reference AdamW branch
 *   excludes parameters whose name contains `bias` from decay; with the ViT's naming that is every
 *   bias (incl. LayerNorm biases and the head bias), and we do the same.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensor } from '../io/safetensors.js';

export type OptimizerKind = 'sgd' | 'adamw';

export function scaledLr(baseLr: number, batchSize: number): number {
  return (baseLr * batchSize) / 256;
}

/** Multiplier of the peak lr used during `epoch` (0-based). */
export function scheduleFactor(epoch: number, totalEpochs: number, warmupEpochs: number): number {
  if (warmupEpochs > 0 && epoch < warmupEpochs) return epoch / warmupEpochs;
  const progress = (epoch - warmupEpochs) / Math.max(1, totalEpochs - warmupEpochs);
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

export function lrAt(epoch: number, o: { baseLr: number; batchSize: number; epochs: number; warmupEpochs: number }): number {
  return scaledLr(o.baseLr, o.batchSize) * scheduleFactor(epoch, o.epochs, o.warmupEpochs);
}

/** Whether weight decay applies to a parameter under an optimizer. */
export function decays(name: string, kind: OptimizerKind): boolean {
  if (kind === 'sgd') return name !== 'head/bias';
  return !name.endsWith('/bias');
}

export interface OptimizerOptions {
  readonly kind: OptimizerKind;
  readonly weightDecay: number;
  readonly momentum?: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
}

/** An optimizer over named variables, with state that round-trips through checkpoints exactly. */
export class Optimizer {
  readonly opts: Required<OptimizerOptions>;
  /** Completed update steps (AdamW bias correction). */
  step = 0;
  readonly #slots = new Map<string, tf.Variable>();

  constructor(opts: OptimizerOptions) {
    this.opts = { momentum: 0.9, beta1: 0.9, beta2: 0.999, eps: 1e-8, ...opts };
  }

  #slot(kind: string, name: string, like: tf.Tensor): tf.Variable {
    const key = `${kind}/${name}`;
    let s = this.#slots.get(key);
    if (!s) {
      const zeros = tf.zerosLike(like);
      s = tf.variable(zeros, false);
      zeros.dispose();
      this.#slots.set(key, s);
    }
    return s;
  }

  /** Applies one update; `grads` maps parameter name -> gradient. */
  apply(params: ReadonlyMap<string, tf.Variable>, grads: ReadonlyMap<string, tf.Tensor>, lr: number): void {
    this.step++;
    const { kind, weightDecay: wd, momentum, beta1, beta2, eps } = this.opts;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    for (const [name, g] of grads) {
      const p = params.get(name);
      if (!p) throw new Error(`optimizer: gradient for unknown parameter ${name}`);
      const wdHere = decays(name, kind) ? wd : 0;
      if (kind === 'sgd') {
        const buf = this.#slot('momentum', name, p);
        tf.tidy(() => {
          const d = wdHere !== 0 ? tf.add(g, tf.mul(p, wdHere)) : g;
          const nb = tf.add(tf.mul(buf, momentum), d);
          buf.assign(nb);
          p.assign(tf.sub(p, tf.mul(nb, lr)));
        });
      } else {
        const m = this.#slot('m', name, p);
        const v = this.#slot('v', name, p);
        tf.tidy(() => {
          const decayed = wdHere !== 0 ? tf.mul(p, 1 - lr * wdHere) : p;
          const nm = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
          const nv = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
          m.assign(nm);
          v.assign(nv);
          const denom = tf.add(tf.div(tf.sqrt(nv), Math.sqrt(bc2)), eps);
          p.assign(tf.sub(decayed, tf.mul(tf.div(nm, denom), lr / bc1)));
        });
      }
    }
  }

  /** Slots as safetensors records named `<slot>/<param>` (prefix added by the caller). */
  stateToNamed(prefix: string): Record<string, NamedTensor> {
    const out: Record<string, NamedTensor> = {};
    for (const [key, s] of this.#slots) out[prefix + key] = { dtype: 'F32', shape: [...s.shape], data: s.dataSync() as Float32Array };
    return out;
  }

  /** Restores slots saved by `stateToNamed` (already stripped of the prefix). */
  loadState(step: number, slots: ReadonlyMap<string, NamedTensor>): void {
    this.step = step;
    for (const [key, t] of slots) {
      const value = tf.tensor(t.data as Float32Array, [...t.shape], 'float32');
      const existing = this.#slots.get(key);
      if (existing) existing.assign(value);
      else this.#slots.set(key, tf.variable(value, false));
      value.dispose();
    }
  }

  dispose(): void {
    for (const s of this.#slots.values()) s.dispose();
    this.#slots.clear();
  }
}
