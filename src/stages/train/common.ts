/** Shared helpers of the training kinds: param parsing, model configs, small JSON I/O. */
import { writeFile } from 'node:fs/promises';
import type { ViTConfig } from '../../ml/config.js';
import { VIT_B16, VIT_MINI } from '../../ml/config.js';

export class StageParamError extends Error {
  readonly reason = 'bad-params';
}

export const MODEL_PRESETS: Record<string, ViTConfig> = { 'vit-b16': VIT_B16, 'vit-mini': VIT_MINI };

/** A preset name, or an object of ViTConfig fields over `vit-mini` (or over `preset` when given). */
export type ModelParam = string | (Partial<ViTConfig> & { readonly preset?: string });

export function resolveModelConfig(p: ModelParam | undefined): ViTConfig {
  if (p === undefined) return VIT_MINI;
  if (typeof p === 'string') {
    const c = MODEL_PRESETS[p];
    if (!c) throw new StageParamError(`model: unknown preset "${p}" (known: ${Object.keys(MODEL_PRESETS).join(', ')})`);
    return c;
  }
  const base = p.preset !== undefined ? MODEL_PRESETS[p.preset] : VIT_MINI;
  if (!base) throw new StageParamError(`model.preset: unknown preset "${p.preset}"`);
  const { preset: _preset, ...rest } = p;
  void _preset;
  return { ...base, ...rest };
}

export const modelParamSchema = {
  oneOf: [
    { type: 'string', enum: Object.keys(MODEL_PRESETS) },
    {
      type: 'object',
      additionalProperties: false,
      properties: {
        preset: { type: 'string' }, imageSize: { type: 'integer' }, channels: { type: 'integer' }, patchSize: { type: 'integer' },
        width: { type: 'integer' }, depth: { type: 'integer' }, heads: { type: 'integer' }, mlpRatio: { type: 'integer' },
        dropout: { type: 'number' }, attentionDropout: { type: 'number' },
      },
    },
  ],
} as const;

export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

export function num(v: unknown, name: string, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new StageParamError(`${name} must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}

export function int(v: unknown, name: string, fallback?: number, min = 0): number {
  const n = num(v, name, fallback);
  if (!Number.isInteger(n) || n < min) throw new StageParamError(`${name} must be an integer >= ${min}, got ${n}`);
  return n;
}

/** Progress relay that keeps to about two updates a second. */
export function throttled<T>(fn: (x: T) => void, ms = 500): (x: T) => void {
  let last = 0;
  return (x) => {
    const now = Date.now();
    if (now - last >= ms) {
      last = now;
      fn(x);
    }
  };
}

/**
 * What `pipeline verify` accepts from a rerun whose bytes differ (another backend rounds
 * differently): top-1 within half a point (one test image in 200), losses within 2 %.
 */
export const TRAIN_TOLERANCES = {
  test_top1: { abs: 0.005 }, val_top1: { abs: 0.005 }, train_top1: { abs: 0.005 },
  test_loss: { rel: 0.02 }, val_loss: { rel: 0.02 }, train_loss: { rel: 0.02 },
} as const;
