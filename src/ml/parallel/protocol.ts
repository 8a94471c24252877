/**
 * Messages between the data-parallel stepper (main thread) and its training workers.
 *
 * Shared memory, per phase (a phase fixes which parameters train):
 * - `params`: the trainable parameters' values, concatenated in `trainable` order. The main
 *   thread writes them after each optimizer step, then bumps `control[0]` (Atomics.store); a
 *   worker checks that version (Atomics.load) before it reads them.
 * - `grads`: one region per worker, laid out like `params`, for that worker's shard gradient.
 *   The worker writes it, bumps `control[1]`, then replies.
 */
import type { Kernels } from '../layers.js';
import type { ViTConfig } from '../config.js';
import type { ModelMode } from '../vit.js';

export interface WorkerInit {
  /** 1-based: shard k of every batch goes to worker k (shard 0 stays on the main thread). */
  readonly index: number;
  /** Backend to select in the worker: the same as the main thread's. */
  readonly backend: string;
  readonly config: ViTConfig;
  readonly kernels: Kernels;
  readonly checkpointBlocks: boolean;
  /** Set only when starting from TypeScript sources: the entry the tsx bootstrap imports. */
  readonly entry?: string;
}

export interface PhaseMessage {
  readonly type: 'phase';
  readonly mode: ModelMode;
  readonly trainable: readonly string[];
  /** Every parameter's current values (frozen ones included): the worker's model becomes the main model. */
  readonly values: Readonly<Record<string, Float32Array>>;
  readonly params: SharedArrayBuffer;
  readonly grads: SharedArrayBuffer;
  /** Int32 [paramsVersion, gradsVersion]. */
  readonly control: SharedArrayBuffer;
}

export interface StepMessage {
  readonly type: 'step';
  /** The worker reads `params` once `control[0]` has reached this version. */
  readonly paramsVersion: number;
  readonly patches: Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
  readonly dropoutSeed: number;
}

export type ToWorker = PhaseMessage | StepMessage;

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'phase-done' }
  | { readonly type: 'step-done'; readonly loss: number; readonly predicted: Int32Array }
  | { readonly type: 'failed'; readonly message: string };

/** Offsets of each trainable parameter in the flat layout, and the total length. */
export function flatLayout(names: readonly string[], sizeOf: (name: string) => number): { offsets: Map<string, number>; total: number } {
  const offsets = new Map<string, number>();
  let total = 0;
  for (const n of names) {
    offsets.set(n, total);
    total += sizeOf(n);
  }
  return { offsets, total };
}
