/**
 * `train.import`: a public ViT checkpoint (`.npz`, the google-research naming, e.g. ViT-B_16.npz) made
 * into the study's starting backbone: its arrays are checked against the model config (names and
 * shapes) and written as a model file, the same `model` output `train.pretrain` gives at mini scale.
 * So every training stage starts from `${{ stages.backbone.outputs.model }}` at either scale, and the
 * checkpoint is read, checked and hashed once instead of in every training.
 */
import { readFile } from 'node:fs/promises';
import type { NamedTensor } from '../../io/safetensors.js';
import { paramSpecs } from '../../ml/config.js';
import { defineKind, type StageContext, type StageRunResult } from '../kind.js';
import { modelParamSchema, resolveModelConfig, StageParamError, type ModelParam } from './common.js';

export interface ImportParams {
  /** The `.npz` checkpoint (workspace-relative or absolute). */
  readonly checkpoint: string;
  /** The architecture it must fit: a preset or ViTConfig fields (default vit-b16). */
  readonly model?: ModelParam;
}

export const trainImport = defineKind<ImportParams>({
  name: 'train.import',
  module: import.meta.url,
  version: 1,
  description: 'A public ViT checkpoint (.npz) checked against the model config and written as the starting backbone model file',
  paramsSchema: {
    type: 'object', additionalProperties: false, required: ['checkpoint'],
    properties: { checkpoint: { type: 'string', minLength: 1 }, model: modelParamSchema },
  },
  outputs: () => ['model'],
  resources: { cpu: 1, memoryMiB: 2048 },
  async run(ctx: StageContext<ImportParams>): Promise<StageRunResult> {
    // Lazily: the npz reader's module pulls in TensorFlow.js, and kinds load without it.
    const [{ backboneFromNpz }, { readNpz }, { writeSafetensors }, { MODEL_FORMAT }] = await Promise.all([
      import('../../ml/vitNpz.js'), import('../../ml/npz.js'), import('../../io/safetensors.js'), import('../../ml/checkpoint.js'),
    ]);
    const path = ctx.resolve(ctx.params.checkpoint);
    const config = resolveModelConfig(ctx.params.model ?? 'vit-b16');
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (e) {
      throw new StageParamError(`checkpoint: ${(e as Error).message}`);
    }
    const arrays = readNpz(bytes);
    if (!arrays.ok) throw new StageParamError(`checkpoint ${path}: ${arrays.error.message}`);
    const backbone = backboneFromNpz(arrays.value, config, path);
    if (!backbone.ok) throw new StageParamError(backbone.error.message);
    const tensors: Record<string, NamedTensor> = {};
    let count = 0;
    for (const spec of paramSpecs(config)) {
      const values = backbone.value.get(spec.name);
      if (!values) continue;
      tensors[`param/${spec.name}`] = { dtype: 'F32', shape: spec.shape, data: values };
      count += values.length;
    }
    // The head and prompts are not in it: train.vit makes them fresh for each task (as from a pretrain model).
    await writeSafetensors(ctx.outputs['model'] as string, tensors, { format: MODEL_FORMAT, config: JSON.stringify(config), role: 'backbone' });
    ctx.log(`${path}: ${Object.keys(tensors).length} backbone arrays, ${count} parameters`);
    return { metrics: { arrays: Object.keys(tensors).length, parameters: count } };
  },
});
