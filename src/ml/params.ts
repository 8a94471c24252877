/**
 * Creating, initialising and (de)serialising the ViT's parameters.
 *
 * Fresh init (from scratch or for parts a checkpoint lacks): linear kernels Xavier-uniform, biases
 * 0, LayerNorm 1/0, position embedding normal(0.02), CLS 0; prompts uniform(±sqrt(6/(3·p·p+D)))
 * (the VPT code hard-codes 3 input channels in this formula, so we do too); head weight
 * Kaiming-normal (fan_in, gain √2) and head bias -log(99) as PROTOCOL.md prescribes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { paramSpecs, specSize, validateConfig, type ParamSpec, type ViTConfig } from './config.js';
import { ViT } from './vit.js';
import { createRng, type Rng } from '../util/rng.js';
import type { NamedTensor } from '../io/safetensors.js';
import { err, ok, type Result } from '../util/result.js';

export function initValues(spec: ParamSpec, config: ViTConfig, rng: Rng): Float32Array {
  const n = specSize(spec);
  const out = new Float32Array(n);
  const shape = spec.shape;
  switch (spec.init) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'xavier': {
      // For the HWIO patch kernel the fans are p*p*C and D, as for the equivalent [p*p*C, D] linear.
      const fanOut = shape[shape.length - 1] as number;
      const fanIn = n / fanOut;
      const a = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < n; i++) out[i] = (rng.next() * 2 - 1) * a;
      break;
    }
    case 'normal002':
      for (let i = 0; i < n; i++) out[i] = rng.normal() * 0.02;
      break;
    case 'prompt': {
      const v = Math.sqrt(6 / (3 * config.patchSize * config.patchSize + config.width));
      for (let i = 0; i < n; i++) out[i] = (rng.next() * 2 - 1) * v;
      break;
    }
    case 'kaiming-head': {
      const std = Math.sqrt(2 / (shape[0] as number));
      for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
      break;
    }
    case 'head-bias':
      out.fill(-Math.log(99));
      break;
  }
  return out;
}

export type InitSource = ReadonlyMap<string, Float32Array>;

export type ModelBuildError =
  | { readonly reason: 'bad-config'; readonly message: string }
  | { readonly reason: 'shape-mismatch'; readonly message: string; readonly name: string; readonly expected: readonly number[]; readonly actual: number };

/**
 * Builds a ViT. Parameters found in `from` (name -> values, same sizes as the specs) are taken
 * from it, the rest are freshly initialised from `seed` (each from its own forked stream, so
 * adding prompts does not change the head's init).
 */
export function createViT(config: ViTConfig, seed: number, from?: InitSource): Result<ViT, ModelBuildError> {
  const bad = validateConfig(config);
  if (bad) return err(bad);
  const specs = paramSpecs(config);
  const params = new Map<string, tf.Variable>();
  for (const s of specs) {
    const given = from?.get(s.name);
    if (given && given.length !== specSize(s)) {
      for (const v of params.values()) v.dispose();
      return err({ reason: 'shape-mismatch', message: `parameter ${s.name}: expected shape [${s.shape.join(', ')}] (${specSize(s)} values), got ${given.length} values`, name: s.name, expected: s.shape, actual: given.length });
    }
    const values = given ?? initValues(s, config, createRng(seed).fork(s.name));
    const t = tf.tensor(values, [...s.shape], 'float32');
    params.set(s.name, tf.variable(t, true, `${s.name}#${nextId++}`));
    t.dispose();
  }
  return ok(new ViT(config, params));
}
let nextId = 0;

/** The model's parameters as safetensors records (F32). */
export function paramsToNamed(model: ViT, prefix = ''): Record<string, NamedTensor> {
  const out: Record<string, NamedTensor> = {};
  for (const s of model.specs) {
    out[prefix + s.name] = { dtype: 'F32', shape: [...s.shape], data: model.p(s.name).dataSync() as Float32Array };
  }
  return out;
}

/** Overwrites the model's parameters in place from name -> values (sizes must match). */
export function assignParams(model: ViT, values: InitSource): Result<void, ModelBuildError> {
  for (const s of model.specs) {
    const v = values.get(s.name);
    if (!v) continue;
    if (v.length !== specSize(s)) return err({ reason: 'shape-mismatch', message: `parameter ${s.name}: expected ${specSize(s)} values, got ${v.length}`, name: s.name, expected: s.shape, actual: v.length });
  }
  for (const s of model.specs) {
    const v = values.get(s.name);
    if (!v) continue;
    const t = tf.tensor(v, [...s.shape], 'float32');
    model.p(s.name).assign(t);
    t.dispose();
  }
  return ok(undefined);
}
