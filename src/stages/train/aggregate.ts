/** `train.aggregate`: per task × method mean ± sample std of final runs (JSON + CSV). */
import { defineKind, type StageContext, type StageRunResult } from '../kind.js';
import { formatArtifactError, readRunMetrics } from '../../artifacts/index.js';
import { StageParamError, writeJson } from './common.js';
import { writeFile } from 'node:fs/promises';

export interface AggregateParams {
  /** metrics.json paths of final runs (workspace-relative). */
  readonly runs: readonly string[];
}

export interface RunSummary {
  readonly task: string;
  readonly method: string;
  readonly seed: number;
  readonly test_top1: number;
  readonly val_top1?: number;
  readonly group?: string;
}

export interface AggregateRow {
  readonly task: string;
  readonly group: string;
  readonly method: string;
  readonly n: number;
  readonly seeds: readonly number[];
  readonly test_top1_mean: number;
  /** Sample standard deviation (n-1); 0 for a single run. */
  readonly test_top1_std: number;
}

export function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std };
}

export function aggregateRuns(runs: readonly RunSummary[]): AggregateRow[] {
  const groups = new Map<string, RunSummary[]>();
  for (const r of runs) {
    const key = `${r.task}\u0000${r.method}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const rows: AggregateRow[] = [];
  for (const rs of groups.values()) {
    const first = rs[0] as RunSummary;
    const { mean, std } = meanStd(rs.map((r) => r.test_top1));
    rows.push({ task: first.task, group: first.group ?? '', method: first.method, n: rs.length, seeds: rs.map((r) => r.seed).sort((a, b) => a - b), test_top1_mean: mean, test_top1_std: std });
  }
  return rows.sort((a, b) => (a.task < b.task ? -1 : a.task > b.task ? 1 : a.method < b.method ? -1 : a.method > b.method ? 1 : 0));
}

export function rowsToCsv(rows: readonly AggregateRow[]): string {
  const lines = ['task,group,method,n,test_top1_mean,test_top1_std,seeds'];
  for (const r of rows) lines.push([r.task, r.group, r.method, r.n, r.test_top1_mean.toFixed(6), r.test_top1_std.toFixed(6), r.seeds.join(' ')].join(','));
  return `${lines.join('\n')}\n`;
}

export const trainAggregate = defineKind<AggregateParams>({
  name: 'train.aggregate',
  module: import.meta.url,
  version: 1,
  description: 'Mean ± std of test top-1 per task × method over final runs (summary JSON + CSV table)',
  paramsSchema: {
    type: 'object', additionalProperties: false, required: ['runs'],
    properties: { runs: { type: 'array', minItems: 1, items: { type: 'string' } } },
  },
  outputs: () => ['summary', 'table'],
  resources: { cpu: 1, memoryMiB: 256 },
  async run(ctx: StageContext<AggregateParams>): Promise<StageRunResult> {
    const runs: RunSummary[] = [];
    for (const rel of ctx.params.runs) {
      const read = await readRunMetrics(ctx.resolve(rel));
      if (!read.ok) throw new StageParamError(formatArtifactError(read.error));
      const m = read.value;
      const test = m.final['test_top1'];
      if (test === undefined) throw new StageParamError(`${rel}: a final run's metrics.json needs final.test_top1 (was it trained with a test split?)`);
      const val = m.final['val_top1'];
      runs.push({ task: m.task, method: m.method, seed: m.seed, test_top1: test, group: m.group, ...(val !== undefined ? { val_top1: val } : {}) });
    }
    const rows = aggregateRuns(runs);
    await writeJson(ctx.outputs['summary'] as string, { rows, runs });
    await writeFile(ctx.outputs['table'] as string, rowsToCsv(rows));
    return { metrics: { rows: rows.length, runs: runs.length } };
  },
});
