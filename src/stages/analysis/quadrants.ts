/**
 * The paper's "when" axes: task disparity (low for Natural/Specialized, high for Structured)
 * crossed with data similarity measured by FID (near = FID <= threshold). Pure logic.
 */
import type { Disparity, QuadrantInput, QuadrantRow, QuadrantTable, Similarity } from '../../artifacts/index.js';

// The table's format is src/artifacts/quadrants.ts; this module places tasks in it.
export type { Disparity, QuadrantInput, QuadrantRow, QuadrantTable, Similarity } from '../../artifacts/index.js';

export const quadrantName = (d: Disparity, s: Similarity): string => `${d}-disparity/${s}`;

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** How many std either side of the FID a placement must clear to count as certain. */
export const UNCERTAIN_STDS = 2;

/**
 * Places every task; FID <= threshold counts as near (similar to the pretraining data). A task
 * whose [fid - 2 std, fid + 2 std] holds the threshold is flagged `uncertain` (never when no std
 * was measured).
 */
export function placeQuadrants(inputs: readonly QuadrantInput[], threshold?: number): QuadrantTable {
  const t = threshold ?? median(inputs.map((i) => i.fid));
  const rows = inputs.map((i): QuadrantRow => {
    const similarity: Similarity = i.fid <= t ? 'near' : 'far';
    const fidStd = i.fidStd ?? 0;
    return {
      ...i, fidStd, similarity, quadrant: quadrantName(i.disparity, similarity),
      mismatch: i.intendedSimilarity !== undefined && i.intendedSimilarity !== similarity,
      uncertain: fidStd > 0 && Math.abs(i.fid - t) <= UNCERTAIN_STDS * fidStd,
    };
  });
  return {
    threshold: t, thresholdRule: threshold === undefined ? 'median' : 'given', rows,
    mismatches: rows.filter((r) => r.mismatch).map((r) => r.task),
    uncertain: rows.filter((r) => r.uncertain).map((r) => r.task),
  };
}

const flags = (r: QuadrantRow): string => [r.mismatch ? 'DIFFERS from intended' : '', r.uncertain ? `UNCERTAIN (threshold within ${UNCERTAIN_STDS} std)` : ''].filter(Boolean).join('; ');

export function quadrantCsv(table: QuadrantTable): string {
  const lines = ['task,group,disparity,fid,fid_std,similarity,intended_similarity,quadrant,mismatch,uncertain'];
  for (const r of table.rows) lines.push([r.task, r.group ?? '', r.disparity, r.fid, r.fidStd, r.similarity, r.intendedSimilarity ?? '', r.quadrant, r.mismatch, r.uncertain].join(','));
  return `${lines.join('\n')}\n`;
}

export function quadrantMarkdown(table: QuadrantTable): string {
  const out = [
    `FID threshold ${table.threshold.toFixed(3)} (${table.thresholdRule}); near = FID <= threshold; uncertain = the threshold lies within ${UNCERTAIN_STDS} std of the FID (std over reference subsamples, when measured).`,
    '',
    '| task | group | disparity | FID | measured | intended | quadrant | flag |',
    '| --- | --- | --- | ---: | --- | --- | --- | --- |',
  ];
  for (const r of table.rows) {
    const fid = r.fidStd > 0 ? `${r.fid.toFixed(3)} ± ${r.fidStd.toFixed(3)}` : r.fid.toFixed(3);
    out.push(`| ${r.task} | ${r.group ?? ''} | ${r.disparity} | ${fid} | ${r.similarity} | ${r.intendedSimilarity ?? '—'} | ${r.quadrant} | ${flags(r)} |`);
  }
  if (table.mismatches.length > 0) out.push('', `Measured placement differs from the intended similarity for: ${table.mismatches.join(', ')}.`);
  if (table.uncertain.length > 0) out.push('', `Uncertain placement (the threshold is within ${UNCERTAIN_STDS} std of the FID) for: ${table.uncertain.join(', ')}.`);
  return `${out.join('\n')}\n`;
}
