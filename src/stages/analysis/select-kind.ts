/** `analysis.select-images`: test images where FT fails and VPT succeeds (and the reverse), from two runs' predictions. */
import { defineKind, type StageContext, type StageRunResult } from '../kind.js';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { IMAGE_SELECTION_FORMAT, writeSelection } from '../../artifacts/index.js';
import { AnalysisStageError, pathParam } from './common.js';
import { readPredictions } from './runs.js';
import { selectImages } from './select.js';

export interface SelectParams {
  /** Predictions of the FT run and of the VPT run on the same test split. */
  readonly ft: string;
  readonly vpt: string;
  /** At most this many images per direction; default 16. */
  readonly limit?: number;
}

export const selectImagesKind = defineKind<SelectParams>({
  name: 'analysis.select-images',
  module: import.meta.url,
  version: 1,
  description: 'Pick test images where FT fails and VPT succeeds (the paper\'s visualisation set) and the reverse',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['ft', 'vpt'],
    properties: { ft: { type: 'string' }, vpt: { type: 'string' }, limit: { type: 'integer', minimum: 1 }, seed: { type: 'integer' } },
  },
  outputs: () => ['selection'],
  resources: { cpu: 1, memoryMiB: 256 },
  async run(ctx: StageContext<SelectParams>): Promise<StageRunResult> {
    const ftPath = pathParam(ctx, ctx.params.ft);
    const vptPath = pathParam(ctx, ctx.params.vpt);
    const ft = await readPredictions(ftPath);
    if (!ft.ok) throw new AnalysisStageError(ft.error.reason, ft.error.message, ft.error.path);
    const vpt = await readPredictions(vptPath);
    if (!vpt.ok) throw new AnalysisStageError(vpt.error.reason, vpt.error.message, vpt.error.path);
    const sel = selectImages(ft.value, vpt.value, ctx.params.limit ?? 16);
    if (!sel.ok) throw new AnalysisStageError(sel.error.reason, sel.error.message);
    const labels = (idx: readonly number[]) => idx.map((i) => ({ index: i, label: ft.value.label[i] as number, ftPredicted: ft.value.predicted[i] as number, vptPredicted: vpt.value.predicted[i] as number }));
    await mkdir(dirname(ctx.outputs['selection'] as string), { recursive: true });
    await writeSelection(ctx.outputs['selection'] as string, {
      format: IMAGE_SELECTION_FORMAT, ft: ctx.params.ft, vpt: ctx.params.vpt, total: sel.value.total,
      ftFailsVptSucceeds: labels(sel.value.ftFailsVptSucceeds),
      vptFailsFtSucceeds: labels(sel.value.vptFailsFtSucceeds),
    });
    return { metrics: { ftFailsVptSucceeds: sel.value.ftFailsVptSucceeds.length, vptFailsFtSucceeds: sel.value.vptFailsFtSucceeds.length, testImages: sel.value.total } };
  },
});
