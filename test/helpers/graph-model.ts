/**
 * A tiny Inception-shaped TensorFlow.js graph model in the converter's format, for FID tests:
 * image [B, size, size, 3] -> 1x1 Conv2D (3 -> width, weights `filter`, 3·width values, HWIO) ->
 * Relu -> spatial Mean (node `pool`) -> features [B, width]. Weights in one binary shard.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface TinyGraphModel {
  readonly size: number;
  readonly width: number;
  readonly filter: Float32Array;
  /** File name of the weight shard (default group1-shard1of1.bin). */
  readonly shard?: string;
}

/** Writes `modelJson` and its shard next to it; returns `modelJson`. */
export function writeTinyGraphModel(modelJson: string, m: TinyGraphModel): string {
  if (m.filter.length !== 3 * m.width) throw new Error(`a 3 -> ${m.width} filter needs ${3 * m.width} values, got ${m.filter.length}`);
  const dims = (...s: number[]) => ({ dim: s.map((n) => ({ size: String(n) })) });
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const shard = m.shard ?? 'group1-shard1of1.bin';
  const json = {
    format: 'graph-model',
    generatedBy: 'vpt-pipeline test',
    convertedBy: 'hand-written',
    modelTopology: {
      node: [
        { name: 'images', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dims(-1, m.size, m.size, 3) } } },
        { name: 'filter', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(1, 1, 3, m.width) } } } },
        { name: 'axes', op: 'Const', attr: { dtype: { type: 'DT_INT32' }, value: { tensor: { dtype: 'DT_INT32', tensorShape: dims(2) } } } },
        {
          name: 'conv', op: 'Conv2D', input: ['images', 'filter'],
          attr: { T: { type: 'DT_FLOAT' }, strides: { list: { i: ['1', '1', '1', '1'] } }, padding: { s: b64('VALID') }, data_format: { s: b64('NHWC') }, dilations: { list: { i: ['1', '1', '1', '1'] } } },
        },
        { name: 'relu', op: 'Relu', input: ['conv'], attr: { T: { type: 'DT_FLOAT' } } },
        { name: 'pool', op: 'Mean', input: ['relu', 'axes'], attr: { T: { type: 'DT_FLOAT' }, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } } },
      ],
      library: {},
      versions: { producer: 1 },
    },
    weightsManifest: [{ paths: [shard], weights: [{ name: 'filter', shape: [1, 1, 3, m.width], dtype: 'float32' }, { name: 'axes', shape: [2], dtype: 'int32' }] }],
  };
  mkdirSync(dirname(modelJson), { recursive: true });
  writeFileSync(modelJson, JSON.stringify(json));
  writeFileSync(join(dirname(modelJson), shard), Buffer.concat([Buffer.from(m.filter.buffer, m.filter.byteOffset, m.filter.byteLength), Buffer.from(Int32Array.of(1, 2).buffer)]));
  return modelJson;
}
