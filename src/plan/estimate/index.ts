/**
 * Compute estimates: the work of every selected training stage (work.ts), priced with a
 * throughput (a measured figure, or a calibration on this machine: calibrate.ts), summed per stage
 * group, and spread over N parallel slots (GPUs or Slurm nodes) no faster than the DAG's critical
 * path allows. Pure apart from reading task.json files and init-model headers; no ML code.
 */
import type { Pipeline } from '../../dsl/model.js';
import type { BackendName } from '../../ml/backend-name.js';
import type { ViTConfig } from '../../ml/config.js';
import { ok, err, type Result } from '../../util/result.js';
import { StageGraph } from '../graph.js';
import { selectStages, type SelectionError, type SelectionOptions } from '../select.js';
import { flopsPerImage, type PassKind } from './flops.js';
import { SplitSizes, type SizeSource } from './split-sizes.js';
import { archKey, TRAINING_KINDS, trainingWork, type TrainingWork, type WorkError } from './work.js';

export { flopsPerImage, tokens, blockFlops, recomputesBlocks, type PassKind } from './flops.js';
export { VTAB1K_TEST_SIZES, sizeFromSplitName, type SizeSource } from './split-sizes.js';
export { modelLabel, type TrainingWork, type PhaseWork } from './work.js';

/** The model whose measured speed prices the rest: the one carrying most of the FLOPs. */
export interface Reference {
  readonly model: ViTConfig;
  readonly label: string;
  /** Of the reference model's stages: the most common data-parallel worker count and FT batch. */
  readonly workers: number;
  readonly batch: number;
  readonly recompute: boolean;
  readonly stages: number;
}

export interface Workload {
  readonly pipeline: string;
  readonly backend: BackendName;
  readonly graph: StageGraph;
  readonly selected: ReadonlySet<string>;
  readonly trainings: readonly TrainingWork[];
  /** Selected stages that are not trainings, by kind (`run:` stages as `command`): not estimated. */
  readonly others: ReadonlyMap<string, number>;
  /** Split sizes used, by where they came from (one count per stage and split). */
  readonly sizeSources: ReadonlyMap<SizeSource, number>;
  /** Why some sizes are unknown (distinct messages). */
  readonly unknownSizes: readonly string[];
  readonly reference: Reference | undefined;
  readonly notes: readonly string[];
}

export type EstimateError = SelectionError | WorkError;

export async function computeWorkload(pipeline: Pipeline, backend: BackendName, selection: SelectionOptions): Promise<Result<Workload, EstimateError>> {
  const graph = new StageGraph(pipeline);
  const sel = selectStages(graph, selection);
  if (!sel.ok) return sel;
  const selected = sel.value.selected;
  const sizes = new SplitSizes(pipeline.workspace, graph);
  const ctx = { workspace: pipeline.workspace, graph, sizes, backend };
  const others = new Map<string, number>();
  const jobs: Promise<Result<TrainingWork, WorkError>>[] = [];
  for (const id of graph.order) {
    if (!selected.has(id)) continue;
    const stage = graph.stage(id);
    if (stage.type === 'builtin' && TRAINING_KINDS.has(stage.uses)) jobs.push(trainingWork(stage, ctx));
    else {
      const kind = stage.type === 'builtin' ? stage.uses : 'command';
      others.set(kind, (others.get(kind) ?? 0) + 1);
    }
  }
  const trainings: TrainingWork[] = [];
  for (const r of await Promise.all(jobs)) {
    if (!r.ok) return err(r.error);
    trainings.push(r.value);
  }
  const sizeSources = new Map<SizeSource, number>();
  const unknown = new Set<string>();
  const notes = new Set<string>();
  for (const t of trainings) {
    for (const s of [t.train, ...t.evals]) {
      sizeSources.set(s.source, (sizeSources.get(s.source) ?? 0) + 1);
      if (s.source === 'unknown' && s.why) unknown.add(s.why);
    }
    for (const n of t.notes) notes.add(n);
  }
  return ok({
    pipeline: pipeline.name, backend, graph, selected, trainings, others, sizeSources, unknownSizes: [...unknown].sort(), reference: referenceOf(trainings), notes: [...notes],
  });
}

function mostCommon(values: readonly number[], fallback: number): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: [number, number] | undefined;
  for (const e of counts) if (!best || e[1] > best[1] || (e[1] === best[1] && e[0] > best[0])) best = e;
  return best?.[0] ?? fallback;
}

function referenceOf(trainings: readonly TrainingWork[]): Reference | undefined {
  const byArch = new Map<string, TrainingWork[]>();
  for (const t of trainings) byArch.set(archKey(t.model), [...(byArch.get(archKey(t.model)) ?? []), t]);
  let best: TrainingWork[] | undefined;
  let bestFlops = -1;
  for (const group of byArch.values()) {
    const f = group.reduce((a, t) => a + t.flops, 0);
    if (f > bestFlops) [best, bestFlops] = [group, f];
  }
  const first = best?.[0];
  if (!best || !first) return undefined;
  const full = best.filter((t) => t.phases.some((p) => p.pass === 'full'));
  return {
    model: first.model, label: first.modelLabel, recompute: first.recompute, stages: best.length,
    workers: mostCommon(best.map((t) => t.workers), first.workers),
    batch: mostCommon((full.length > 0 ? full : best).map((t) => t.batch), 128),
  };
}

/** FLOP/s for each kind of pass. */
export type Rates = Readonly<Record<PassKind, number>>;

/** Where the rates came from, for the report. */
export type ThroughputSource =
  | { readonly kind: 'per-image-ms'; readonly ms: number }
  | { readonly kind: 'per-step-ms'; readonly ms: number; readonly batch: number }
  | { readonly kind: 'calibrated'; readonly backend: string };

export interface Throughput {
  readonly source: ThroughputSource;
  readonly rates: Rates;
}

/**
 * A measured figure: `msPerImage` of one image of an FT training step (forward, backward and
 * weight gradients) of the reference model. One FLOP rate follows and prices every pass.
 */
export function throughputFromFigure(ref: Reference, msPerImage: number, source: ThroughputSource): Throughput {
  const rate = flopsPerImage(ref.model, 'full', 0, ref.recompute) / (msPerImage / 1000);
  return { source, rates: { full: rate, frozen: rate, head: rate, eval: rate } };
}

export interface Totals {
  readonly stages: number;
  readonly trainImages: number;
  readonly evalImages: number;
  readonly steps: number;
  readonly flops: number;
  /** Compute seconds (one training at a time), when a throughput is known. */
  readonly seconds: number | undefined;
}

export interface GroupEstimate extends Totals {
  readonly group: string;
}

export interface Estimate {
  readonly groups: readonly GroupEstimate[];
  readonly total: Totals;
  /** Per stage id. */
  readonly stageSeconds: ReadonlyMap<string, number> | undefined;
  /** The longest chain of dependent stages, weighted by seconds (or FLOPs with no throughput). */
  readonly criticalPath: { readonly seconds: number | undefined; readonly flops: number; readonly trainings: readonly string[] };
  /** With N slots: wall ≈ max(serial / N, critical path); at most serial / N + critical path. */
  readonly parallel: { readonly slots: number; readonly wallSeconds: number; readonly upperBoundSeconds: number } | undefined;
}

export function stageSeconds(t: TrainingWork, rates: Rates): number {
  return t.phases.reduce((a, p) => a + p.trainFlops / rates[p.pass] + p.evalFlops / rates.eval, 0);
}

export function priceWorkload(w: Workload, throughput: Throughput | undefined, slots: number | undefined): Estimate {
  const seconds = throughput ? new Map(w.trainings.map((t) => [t.id, stageSeconds(t, throughput.rates)])) : undefined;
  const groups = new Map<string, TrainingWork[]>();
  for (const t of w.trainings) groups.set(t.group, [...(groups.get(t.group) ?? []), t]);
  const totals = (ts: readonly TrainingWork[]): Totals => ({
    stages: ts.length,
    trainImages: ts.reduce((a, t) => a + t.trainImages, 0),
    evalImages: ts.reduce((a, t) => a + t.evalImages, 0),
    steps: ts.reduce((a, t) => a + t.steps, 0),
    flops: ts.reduce((a, t) => a + t.flops, 0),
    seconds: seconds ? ts.reduce((a, t) => a + (seconds.get(t.id) ?? 0), 0) : undefined,
  });
  const total = totals(w.trainings);
  const flops = new Map(w.trainings.map((t) => [t.id, t.flops]));
  const cp = longestPath(w, seconds ?? flops);
  const cpFlops = cp.path.reduce((a, id) => a + (flops.get(id) ?? 0), 0);
  const parallel =
    slots !== undefined && total.seconds !== undefined && cp.weight !== undefined
      ? { slots, wallSeconds: Math.max(total.seconds / slots, cp.weight), upperBoundSeconds: total.seconds / slots + cp.weight }
      : undefined;
  return {
    groups: [...groups].map(([group, ts]) => ({ group, ...totals(ts) })),
    total,
    stageSeconds: seconds,
    criticalPath: { seconds: seconds ? cp.weight : undefined, flops: cpFlops, trainings: cp.path },
    parallel,
  };
}

/** Longest path through the selected stages; stages not estimated weigh 0. */
function longestPath(w: Workload, weight: ReadonlyMap<string, number>): { weight: number; path: string[] } {
  const best = new Map<string, { weight: number; prev: string | undefined }>();
  let end: string | undefined;
  for (const id of w.graph.order) {
    if (!w.selected.has(id)) continue;
    let prev: string | undefined;
    let before = 0;
    for (const up of w.graph.upstream.get(id) ?? []) {
      const b = best.get(up);
      if (b && b.weight > before) [before, prev] = [b.weight, up];
    }
    const here = before + (weight.get(id) ?? 0);
    best.set(id, { weight: here, prev });
    if (end === undefined || here > (best.get(end)?.weight ?? 0)) end = id;
  }
  const path: string[] = [];
  for (let id = end; id !== undefined; id = best.get(id)?.prev) if (weight.has(id)) path.unshift(id);
  return { weight: end !== undefined ? (best.get(end)?.weight ?? 0) : 0, path };
}
