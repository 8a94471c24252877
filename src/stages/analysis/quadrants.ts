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

/** Places every task; FID <= threshold counts as near (similar to the pretraining data). */
export function placeQuadrants(inputs: readonly QuadrantInput[], threshold?: number): QuadrantTable {
  const t = threshold ?? median(inputs.map((i) => i.fid));
  const rows = inputs.map((i): QuadrantRow => {
    const similarity: Similarity = i.fid <= t ? 'near' : 'far';
    return { ...i, similarity, quadrant: quadrantName(i.disparity, similarity), mismatch: i.intendedSimilarity !== undefined && i.intendedSimilarity !== similarity };
  });
  return { threshold: t, thresholdRule: threshold === undefined ? 'median' : 'given', rows, mismatches: rows.filter((r) => r.mismatch).map((r) => r.task) };
}

export function quadrantCsv(table: QuadrantTable): string {
  const lines = ['task,group,disparity,fid,similarity,intended_similarity,quadrant,mismatch'];
  for (const r of table.rows) lines.push([r.task, r.group ?? '', r.disparity, r.fid, r.similarity, r.intendedSimilarity ?? '', r.quadrant, r.mismatch].join(','));
  return `${lines.join('\n')}\n`;
}

export function quadrantMarkdown(table: QuadrantTable): string {
  const out = [
    `FID threshold ${table.threshold.toFixed(3)} (${table.thresholdRule}); near = FID <= threshold.`,
    '',
    '| task | group | disparity | FID | measured | intended | quadrant | flag |',
    '| --- | --- | --- | ---: | --- | --- | --- | --- |',
  ];
  for (const r of table.rows) {
    out.push(`| ${r.task} | ${r.group ?? ''} | ${r.disparity} | ${r.fid.toFixed(3)} | ${r.similarity} | ${r.intendedSimilarity ?? '—'} | ${r.quadrant} | ${r.mismatch ? 'DIFFERS from intended' : ''} |`);
  }
  if (table.mismatches.length > 0) out.push('', `Measured placement differs from the intended similarity for: ${table.mismatches.join(', ')}.`);
  return `${out.join('\n')}\n`;
}
