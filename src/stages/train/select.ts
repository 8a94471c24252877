/**
 * `train.select`: picks (lr, wd) from grid-point metrics by validation top-1 at the last epoch
 * (PROTOCOL.md); ties go to the smaller lr, then the smaller weight decay. A diverged run
 * (non-finite top-1) never wins.
 */
import { defineKind, type StageContext, type StageRunResult } from '../kind.js';
import { formatArtifactError, GRID_SELECTION_FORMAT, readRunMetrics, writeSelection, type GridCandidate } from '../../artifacts/index.js';
import { StageParamError } from './common.js';

export interface SelectParams {
  /** metrics.json paths of the grid points (workspace-relative). */
  readonly candidates: readonly string[];
}

export type Candidate = GridCandidate;

/** The winner among candidates (pure; exported for tests). */
export function pickBest(cands: readonly Candidate[]): Candidate | undefined {
  const score = (c: Candidate): number => (Number.isFinite(c.val_top1) ? c.val_top1 : -Infinity);
  let best: Candidate | undefined;
  for (const c of cands) {
    if (!best) { best = c; continue; }
    const d = score(c) - score(best);
    if (d > 0 || (d === 0 && (c.baseLr < best.baseLr || (c.baseLr === best.baseLr && c.weightDecay < best.weightDecay)))) best = c;
  }
  return best;
}

export const trainSelect = defineKind<SelectParams>({
  name: 'train.select',
  module: import.meta.url,
  version: 1,
  description: 'Pick the grid point (lr, wd) with the best last-epoch validation top-1 (ties: smaller lr)',
  paramsSchema: {
    type: 'object', additionalProperties: false, required: ['candidates'],
    properties: { candidates: { type: 'array', minItems: 1, items: { type: 'string' } } },
  },
  outputs: () => ['best'],
  resources: { cpu: 1, memoryMiB: 256 },
  async run(ctx: StageContext<SelectParams>): Promise<StageRunResult> {
    if (ctx.params.candidates.length === 0) throw new StageParamError('candidates is empty');
    const cands: Candidate[] = [];
    for (const rel of ctx.params.candidates) {
      const m = await readRunMetrics(ctx.resolve(rel));
      if (!m.ok) throw new StageParamError(formatArtifactError(m.error));
      cands.push({ path: rel, baseLr: m.value.baseLr, weightDecay: m.value.weightDecay, val_top1: m.value.final['val_top1'] ?? NaN });
    }
    const best = pickBest(cands) as Candidate;
    if (!Number.isFinite(best.val_top1)) throw new StageParamError('no candidate has a finite validation top-1 (every grid point diverged or lacks a val split)');
    await writeSelection(ctx.outputs['best'] as string, { format: GRID_SELECTION_FORMAT, baseLr: best.baseLr, weightDecay: best.weightDecay, val_top1: best.val_top1, source: best.path, candidates: cands });
    return { metrics: { val_top1: best.val_top1, baseLr: best.baseLr, weightDecay: best.weightDecay } };
  },
});
