/**
 * Loads the public google-research/vision_transformer ViT checkpoints (`ViT-B_16.npz`) — or a
 * tiny npz in the same naming — into our ViT. Attention kernels come as [D, heads, head_dim]
 * (q, k, v) and [heads, head_dim, D] (out), biases [heads, head_dim]; row-major, these are
 * exactly our [D, D] / [D] layouts. `pre_logits` and the pretraining `head` are ignored: the
 * VPT code puts a fresh head directly on the normed CLS token.
 */
import { readFile } from 'node:fs/promises';
import { blockPrefix, numPatches, paramSpecs, type ViTConfig } from './config.js';
import { readNpz, type NpyArray } from './npz.js';
import { createViT } from './params.js';
import type { ViT } from './vit.js';
import { float16BitsToFloat32 } from '../io/safetensors.js';
import { err, ok, type Result } from '../util/result.js';

export type NpzLoadError =
  | { readonly reason: 'unreadable'; readonly message: string; readonly path: string }
  | { readonly reason: 'missing-array'; readonly message: string; readonly path: string; readonly array: string }
  | { readonly reason: 'shape-mismatch'; readonly message: string; readonly path: string; readonly array: string; readonly expected: readonly number[]; readonly actual: readonly number[] }
  | { readonly reason: 'bad-dtype'; readonly message: string; readonly path: string; readonly array: string };

/** npz array name -> (our parameter name, the npz's own shape). */
export function npzLayout(c: ViTConfig): { npz: string; param: string; shape: number[] }[] {
  const D = c.width;
  const H = c.heads;
  const hd = D / H;
  const M = D * c.mlpRatio;
  const rows: { npz: string; param: string; shape: number[] }[] = [
    { npz: 'embedding/kernel', param: 'embedding/kernel', shape: [c.patchSize, c.patchSize, c.channels, D] },
    { npz: 'embedding/bias', param: 'embedding/bias', shape: [D] },
    { npz: 'cls', param: 'cls', shape: [1, 1, D] },
    { npz: 'Transformer/posembed_input/pos_embedding', param: 'Transformer/posembed_input/pos_embedding', shape: [1, 1 + numPatches(c), D] },
    { npz: 'Transformer/encoder_norm/scale', param: 'Transformer/encoder_norm/scale', shape: [D] },
    { npz: 'Transformer/encoder_norm/bias', param: 'Transformer/encoder_norm/bias', shape: [D] },
  ];
  for (let i = 0; i < c.depth; i++) {
    const b = blockPrefix(i);
    const a = `${b}/MultiHeadDotProductAttention_1`;
    const same = (name: string, shape: number[]): void => { rows.push({ npz: name, param: name, shape }); };
    same(`${b}/LayerNorm_0/scale`, [D]);
    same(`${b}/LayerNorm_0/bias`, [D]);
    for (const n of ['query', 'key', 'value']) {
      same(`${a}/${n}/kernel`, [D, H, hd]);
      same(`${a}/${n}/bias`, [H, hd]);
    }
    same(`${a}/out/kernel`, [H, hd, D]);
    same(`${a}/out/bias`, [D]);
    same(`${b}/LayerNorm_2/scale`, [D]);
    same(`${b}/LayerNorm_2/bias`, [D]);
    same(`${b}/MlpBlock_3/Dense_0/kernel`, [D, M]);
    same(`${b}/MlpBlock_3/Dense_0/bias`, [M]);
    same(`${b}/MlpBlock_3/Dense_1/kernel`, [M, D]);
    same(`${b}/MlpBlock_3/Dense_1/bias`, [D]);
  }
  return rows;
}

/** Backbone values from npz arrays, checked against the config (every array named in errors). */
export function backboneFromNpz(arrays: ReadonlyMap<string, NpyArray>, config: ViTConfig, path = '<memory>'): Result<Map<string, Float32Array>, NpzLoadError> {
  const out = new Map<string, Float32Array>();
  for (const row of npzLayout(config)) {
    const a = arrays.get(row.npz);
    if (!a) return err({ reason: 'missing-array', message: `${path}: array ${row.npz} is missing (expected shape [${row.shape.join(', ')}])`, path, array: row.npz });
    if (a.shape.length !== row.shape.length || a.shape.some((d, i) => d !== row.shape[i])) {
      return err({ reason: 'shape-mismatch', message: `${path}: array ${row.npz} has shape [${a.shape.join(', ')}], expected [${row.shape.join(', ')}]`, path, array: row.npz, expected: row.shape, actual: [...a.shape] });
    }
    let values: Float32Array;
    if (a.dtype === 'f4') values = a.data as Float32Array;
    else if (a.dtype === 'f8') values = Float32Array.from(a.data as Float64Array);
    else if (a.dtype === 'f2') values = float16BitsToFloat32(a.data as Uint16Array);
    else return err({ reason: 'bad-dtype', message: `${path}: array ${row.npz} has dtype ${a.dtype}, expected a float type`, path, array: row.npz });
    out.set(row.param, values);
  }
  return ok(out);
}

/** Reads a ViT `.npz` and builds a model for `config`; head and prompts are fresh (seeded). */
export async function loadViTNpz(path: string, config: ViTConfig, seed: number): Promise<Result<ViT, NpzLoadError>> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    return err({ reason: 'unreadable', message: `${path}: ${(e as Error).message}`, path });
  }
  const arrays = readNpz(bytes);
  if (!arrays.ok) return err({ reason: 'unreadable', message: `${path}: ${arrays.error.message}`, path });
  const values = backboneFromNpz(arrays.value, config, path);
  if (!values.ok) return values;
  const model = createViT(config, seed, values.value);
  if (!model.ok) return err({ reason: 'unreadable', message: `${path}: ${model.error.message}`, path });
  return ok(model.value);
}

/** Names of our parameters that an npz provides (the backbone). */
export const npzProvides = (c: ViTConfig): string[] => paramSpecs(c).filter((s) => s.group === 'backbone').map((s) => s.name);
