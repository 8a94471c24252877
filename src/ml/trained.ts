/** Rebuild a model written by `train.vit` (its `model` output) ready for analysis. */
import { loadModelFile, type CheckpointError } from './checkpoint.js';
import { createViT, type ModelBuildError } from './params.js';
import type { ViT } from './vit.js';
import { err, ok, type Result } from '../util/result.js';

export async function loadTrainedModel(path: string): Promise<Result<ViT, CheckpointError | ModelBuildError>> {
  const file = await loadModelFile(path);
  if (!file.ok) return file;
  const model = createViT(file.value.config, 0, file.value.values);
  if (!model.ok) return model;
  // Prompts (if any) were in the sequence at the end of training; nothing trains here.
  model.value.mode = { trainBackbone: false, trainPrompts: false, trainHead: false, usePrompts: file.value.config.promptLength > 0 };
  return ok(model.value);
}
void err;
