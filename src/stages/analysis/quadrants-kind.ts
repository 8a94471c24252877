/**
 * `analysis.quadrants`: places each task by measured FID (threshold: a param, default the median)
 * and disparity (task.json), writes the table as JSON/CSV/MD plus a figure, and flags tasks whose
 * measured similarity differs from the intended one.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defineKind, type StageContext, type StageRunResult } from '../kind.js';
import { AnalysisStageError, expandTaskDirs, pathParam } from './common.js';
import { readFidSummary, writeQuadrantsJson } from '../../artifacts/index.js';
import { placeQuadrants, quadrantCsv, quadrantMarkdown, UNCERTAIN_STDS, type Disparity, type QuadrantInput, type Similarity } from './quadrants.js';

export interface QuadrantParams {
  /** fid.json files (or `analysis.fid` output folders). */
  readonly fid: string | readonly string[];
  /** Task folders (or folders of them) whose task.json gives disparity and intended similarity (overrides what fid.json copied). */
  readonly tasks?: readonly string[];
  /** FID at or below which a task counts as near; default the median. */
  readonly threshold?: number;
}

export async function readFidSummaries(paths: readonly string[]): Promise<QuadrantInput[]> {
  const out: QuadrantInput[] = [];
  for (const p of paths) {
    const summary = await readFidSummary(p);
    if (!summary.ok) throw new AnalysisStageError(summary.error.reason === 'unreadable' ? 'unreadable' : 'bad-fid', summary.error.message, summary.error.path);
    for (const r of summary.value.tasks) {
      out.push({ task: r.task, fid: r.fid, fidStd: r.fidStd, disparity: r.disparity ?? 'low', ...(r.similarity ? { intendedSimilarity: r.similarity } : {}), ...(r.group ? { group: r.group } : {}) });
    }
  }
  return out;
}

export const quadrantsKind = defineKind<QuadrantParams>({
  name: 'analysis.quadrants',
  module: import.meta.url,
  // 2: FID std carried into the table (uncertain placements); vpt.quadrants/2.
  version: 2,
  description: 'Place tasks in the disparity x FID quadrants (threshold default: median FID); table, figure, mismatch flags',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['fid'],
    properties: {
      fid: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }] },
      tasks: { type: 'array', items: { type: 'string' } },
      threshold: { type: 'number' },
      seed: { type: 'integer' },
    },
  },
  outputs: () => ['quadrants'],
  resources: { cpu: 1, memoryMiB: 512 },
  async run(ctx: StageContext<QuadrantParams>): Promise<StageRunResult> {
    const p = ctx.params;
    const fidPaths = (typeof p.fid === 'string' ? [p.fid] : p.fid).map((f) => pathParam(ctx, f));
    let inputs = await readFidSummaries(fidPaths);
    if (p.tasks) {
      const { readTaskMeta } = await import('../../io/shards.js');
      const metas = new Map<string, { disparity: Disparity; similarity?: Similarity; group: string }>();
      for (const t of await expandTaskDirs(p.tasks.map((x) => pathParam(ctx, x)))) {
        const m = await readTaskMeta(t);
        if (!m.ok) throw new AnalysisStageError(m.error.reason, m.error.message, m.error.path);
        metas.set(m.value.name, { disparity: m.value.disparity, group: m.value.group, ...(m.value.similarity ? { similarity: m.value.similarity } : {}) });
      }
      inputs = inputs.map((i) => {
        const m = metas.get(i.task);
        if (!m) return i;
        const { intendedSimilarity: _old, ...rest } = i;
        void _old;
        return { ...rest, disparity: m.disparity, group: m.group, ...(m.similarity ? { intendedSimilarity: m.similarity } : {}) };
      });
    }
    if (inputs.length === 0) throw new AnalysisStageError('bad-fid', 'no FID values to place');
    const table = placeQuadrants(inputs, p.threshold);
    const out = ctx.outputs['quadrants'] as string;
    await mkdir(out, { recursive: true });
    await writeQuadrantsJson(join(out, 'quadrants.json'), table);
    await writeFile(join(out, 'quadrants.csv'), quadrantCsv(table));
    await writeFile(join(out, 'quadrants.md'), quadrantMarkdown(table));
    const { renderFigure, quadrantSpec } = await import('../report/index.js');
    const fig = await renderFigure('quadrants', 'Tasks by FID and disparity', quadrantSpec(table.rows, table.threshold));
    if (!fig.ok) throw new AnalysisStageError(fig.error.reason, fig.error.message);
    await writeFile(join(out, 'quadrants.svg'), fig.value.svg);
    await writeFile(join(out, 'quadrants.png'), fig.value.png);
    for (const r of table.rows) {
      ctx.log(`${r.task}: FID ${r.fid.toFixed(3)}${r.fidStd > 0 ? ` ± ${r.fidStd.toFixed(3)}` : ''} -> ${r.quadrant}${r.mismatch ? ` (intended ${r.intendedSimilarity})` : ''}${r.uncertain ? ` (uncertain: threshold within ${UNCERTAIN_STDS} std)` : ''}`);
    }
    const notes = [
      ...(table.mismatches.length ? [`measured placement differs from intended similarity: ${table.mismatches.join(', ')}`] : []),
      ...(table.uncertain.length ? [`uncertain placement (threshold within ${UNCERTAIN_STDS} std of the FID): ${table.uncertain.join(', ')}`] : []),
    ];
    return {
      metrics: { threshold: table.threshold, tasks: table.rows.length, mismatches: table.mismatches.length, uncertain: table.uncertain.length },
      ...(notes.length ? { notes } : {}),
    };
  },
});
