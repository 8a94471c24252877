/** `pipeline run --estimate`: the estimate as a plain-text table, or as one JSON document. */
import type { Estimate, Throughput, Totals, Workload } from '../plan/estimate/index.js';
import type { Calibration } from '../plan/estimate/calibrate.js';
import type { SizeSource } from '../plan/estimate/split-sizes.js';

export interface EstimateReport {
  readonly workload: Workload;
  readonly estimate: Estimate;
  readonly throughput: Throughput | undefined;
  readonly calibration: Calibration | undefined;
  /** How the backend was chosen (`--backend wasm`, or predicted). */
  readonly backendNote: string;
  /** `8 GPUs`, `4 nodes x 2 GPUs`. */
  readonly slotsLabel: string | undefined;
}

const grouped = (n: number): string => Math.round(n).toLocaleString('en-US');

/** 1234 -> 1.2k, 85_100_000 -> 85.1M, 4.4e19 -> 44.1E */
export function compact(n: number): string {
  const units: [number, string][] = [[1e18, 'E'], [1e15, 'P'], [1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [size, unit] of units) if (Math.abs(n) >= size) return `${(n / size).toFixed(n / size >= 100 ? 0 : 1)}${unit}`;
  return String(Math.round(n));
}

/** Hours with one decimal below 100, and days beside them from 48 h on. */
export function formatHours(seconds: number): string {
  const h = seconds / 3600;
  const text = h < 0.1 ? `${(seconds / 60).toFixed(1)} min` : h < 100 ? `${h.toFixed(1)} h` : `${grouped(h)} h`;
  return h >= 48 ? `${text} (${grouped(h / 24)} days)` : text;
}

const SOURCE_TEXT: Record<SizeSource, string> = {
  'task.json': 'from task.json on disk',
  'split-name': 'from the split name (train800 = 800, val200 = 200, train800val200 = 1,000)',
  'stage-params': "from the data stage's params (e.g. testSize)",
  'vtab-table': 'VTAB-1k test sets from the table in src/plan/estimate/split-sizes.ts (data not on disk)',
  unknown: 'unknown until the data exists, counted as 0 images',
};

export function renderEstimate(r: EstimateReport): string {
  const { workload: w, estimate: e, throughput } = r;
  const out: string[] = [];
  const other = [...w.others.values()].reduce((a, b) => a + b, 0);
  out.push(`${w.pipeline}: ${grouped(w.trainings.length)} training stage${w.trainings.length === 1 ? '' : 's'} selected${other ? ` (and ${grouped(other)} other stage${other === 1 ? '' : 's'}, not estimated)` : ''}; backend ${w.backend} (${r.backendNote})`);
  if (w.trainings.length === 0) {
    out.push('nothing to estimate: no train.vit or train.pretrain stage is selected');
    return `${out.join('\n')}\n`;
  }
  const head = ['group', 'trainings', 'train img', 'eval img', 'steps', 'FLOP', 'compute h'];
  const row = (name: string, t: Totals): string[] => [
    name, grouped(t.stages), compact(t.trainImages), compact(t.evalImages), compact(t.steps), compact(t.flops),
    t.seconds === undefined ? '-' : t.seconds >= 360_000 ? grouped(t.seconds / 3600) : (t.seconds / 3600).toFixed(1),
  ];
  const rows = [head, ...e.groups.map((g) => row(g.group, g)), row('total', e.total)];
  const widths = head.map((_, i) => Math.max(...rows.map((cells) => (cells[i] as string).length)));
  for (const [k, cells] of rows.entries()) {
    if (k === rows.length - 1) out.push(`  ${widths.map((n) => '-'.repeat(n)).join('  ')}`);
    out.push(`  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ')}`);
  }
  out.push(...describeThroughput(r));
  if (throughput && e.total.seconds !== undefined) {
    out.push(`serial, one training at a time: ${formatHours(e.total.seconds)}`);
    if (e.criticalPath.seconds !== undefined) out.push(`critical path: ${formatHours(e.criticalPath.seconds)} through ${e.criticalPath.trainings.join(' -> ') || 'no training'}`);
    if (e.parallel && r.slotsLabel) {
      out.push(`on ${r.slotsLabel} (${e.parallel.slots} trainings at once, each at the throughput above): ${formatHours(e.parallel.wallSeconds)} = max(serial / ${e.parallel.slots}, critical path); at most ${formatHours(e.parallel.upperBoundSeconds)} (serial / ${e.parallel.slots} + critical path)`);
    } else {
      out.push('give --gpus N (and/or --nodes N) for the wall time on N trainings at once');
    }
  } else {
    out.push(`critical path: ${compact(e.criticalPath.flops)}FLOP through ${e.criticalPath.trainings.join(' -> ') || 'no training'}`);
    out.push('no throughput: give --per-image-ms, --per-step-ms (a measured FT step) or --calibrate (time steps here) for hours');
  }
  const sources = [...w.sizeSources].map(([s, n]) => `${grouped(n)} ${SOURCE_TEXT[s]}`);
  out.push(`split sizes (per stage and split): ${sources.join('; ')}`);
  for (const why of w.unknownSizes.slice(0, 5)) out.push(`  unknown: ${why}`);
  if (w.unknownSizes.length > 5) out.push(`  ... and ${w.unknownSizes.length - 5} more`);
  if (other) out.push(`not estimated (no cost model; not in the hours above): ${[...w.others].map(([k, n]) => `${k} x${n}`).join(', ')}`);
  for (const n of w.notes) out.push(`note: ${n}`);
  out.push('cost model: FLOPs of the matrix products per image (FT ~3x a forward pass, VPT ~2x: gradients through the frozen backbone without weight gradients, evaluation 1x), times the images each epoch trains and evaluates; see docs/vtab-full.md "What it costs"');
  return `${out.join('\n')}\n`;
}

function describeThroughput(r: EstimateReport): string[] {
  const t = r.throughput;
  const ref = r.workload.reference;
  if (!t || !ref) return [];
  const gflops = (x: number): string => (x >= 1e12 ? `${(x / 1e12).toFixed(1)} TFLOP/s` : `${(x / 1e9).toFixed(1)} GFLOP/s`);
  // A figure measured elsewhere (a GPU) is priced as if its steps recomputed blocks like wasm's.
  const recomputeNote = ref.recompute ? ` (priced for ${r.workload.backend}, whose training steps recompute every block; for a figure measured on a GPU add --backend tensorflow-gpu)` : '';
  switch (t.source.kind) {
    case 'per-image-ms':
      return [`throughput: --per-image-ms ${t.source.ms} (one image of an FT step of ${ref.label}) = ${gflops(t.rates.full)}, for every pass${recomputeNote}`];
    case 'per-step-ms':
      return [`throughput: --per-step-ms ${t.source.ms} at batch ${t.source.batch} (an FT step of ${ref.label}) = ${(t.source.ms / t.source.batch).toFixed(2)} ms/image = ${gflops(t.rates.full)}, for every pass${recomputeNote}`];
    case 'calibrated': {
      const c = r.calibration;
      if (!c) return [];
      const depth = c.plan.config.depth === c.plan.fullDepth ? `all ${c.plan.fullDepth} blocks` : `${c.plan.config.depth} of its ${c.plan.fullDepth} blocks (same matrix shapes; FLOP rates scaled to ${c.plan.fullDepth})`;
      return [
        `throughput: calibrated here on ${c.backend.name} (tfjs ${c.backend.tfjsVersion}${c.backend.simd ? ', SIMD' : ''}; ${c.backend.cpuCount} x ${c.backend.cpuModel}): ${ref.label} with ${depth}, batch ${c.plan.batch}, ${c.plan.workers} worker${c.plan.workers === 1 ? '' : 's'}${c.recompute ? ', blocks recomputed in backward' : ''}, ${c.plan.steps} steps after a warm-up`,
        ...c.measurements.map((m) => `  ${m.as}: ${m.msPerStep.toFixed(0)} ms/step = ${gflops(m.flopsPerSecond)}`),
      ];
    }
  }
}

export function estimateAsJson(r: EstimateReport): unknown {
  const { workload: w, estimate: e } = r;
  const hours = (s: number | undefined): number | null => (s === undefined ? null : s / 3600);
  const totals = (t: Totals): Record<string, unknown> => ({ trainings: t.stages, trainImages: t.trainImages, evalImages: t.evalImages, steps: t.steps, flops: t.flops, computeHours: hours(t.seconds) });
  return {
    pipeline: w.pipeline,
    backend: w.backend,
    backendNote: r.backendNote,
    reference: w.reference ? { model: w.reference.label, config: w.reference.model, workers: w.reference.workers, batch: w.reference.batch, recompute: w.reference.recompute } : null,
    throughput: r.throughput ? { source: r.throughput.source, flopsPerSecond: r.throughput.rates } : null,
    calibration: r.calibration ?? null,
    groups: e.groups.map((g) => ({ group: g.group, ...totals(g) })),
    total: totals(e.total),
    serialHours: hours(e.total.seconds),
    criticalPath: { hours: hours(e.criticalPath.seconds), flops: e.criticalPath.flops, trainings: e.criticalPath.trainings },
    parallel: e.parallel ? { slots: e.parallel.slots, label: r.slotsLabel, wallHours: e.parallel.wallSeconds / 3600, upperBoundHours: e.parallel.upperBoundSeconds / 3600 } : null,
    notEstimated: Object.fromEntries(w.others),
    splitSizes: Object.fromEntries(w.sizeSources),
    unknownSizes: w.unknownSizes,
    notes: w.notes,
    stages: w.trainings.map((t) => ({
      id: t.id, group: t.group, kind: t.kind, method: t.method, model: t.modelLabel, batch: t.batch, workers: t.workers, recompute: t.recompute,
      train: t.train, evals: t.evals, trainImages: t.trainImages, evalImages: t.evalImages, steps: t.steps, flops: t.flops,
      hours: hours(e.stageSeconds?.get(t.id)),
      phases: t.phases,
    })),
  };
}
