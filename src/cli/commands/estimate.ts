/**
 * `pipeline run X.yaml --estimate`: what the selected training stages would cost, without running
 * anything or needing their data. Throughput from `--per-image-ms` / `--per-step-ms` (a measured
 * FT step) or `--calibrate` (a few steps timed here); wall time on `--gpus N` / `--nodes N`.
 */
import { predictBackend } from '../../ml/backend-name.js';
import { computeWorkload, priceWorkload, throughputFromFigure, type Throughput } from '../../plan/estimate/index.js';
import type { Calibration } from '../../plan/estimate/calibrate.js';
import type { Pipeline } from '../../dsl/model.js';
import { loadWorkspace, splitFileAndTargets, type PipelineOptions } from '../context.js';
import { CliExit, EXIT } from '../exit-codes.js';
import { estimateAsJson, renderEstimate, type EstimateReport } from '../estimate-report.js';

export interface EstimateOptions extends PipelineOptions {
  readonly from?: string[];
  readonly until?: string[];
  readonly only?: string[];
  readonly backend?: string;
  readonly json?: boolean;
  readonly gpus?: string;
  readonly nodes?: string;
  readonly perImageMs?: string;
  readonly perStepMs?: string;
  readonly stepBatch?: string;
  readonly calibrate?: boolean;
}

export async function estimateCommand(positionals: string[], options: EstimateOptions): Promise<number> {
  const figure = parseFigure(options);
  const slots = parseSlots(options);
  const backend = predictBackend(options.backend);
  if (backend === undefined) throw new CliExit(EXIT.invalid, `--backend: unknown backend '${options.backend ?? process.env['VPT_BACKEND']}' (use auto, tensorflow-gpu, tensorflow, wasm or cpu)`);
  const { file, targets } = splitFileAndTargets(positionals, options.file);
  const { pipeline } = await loadWorkspace(file, options);
  return estimatePipeline(pipeline, { ...options, targets, figure, slots, predicted: backend });
}

type Figure = { readonly kind: 'per-image-ms'; readonly ms: number } | { readonly kind: 'per-step-ms'; readonly ms: number; readonly batch: number | undefined } | { readonly kind: 'calibrate' } | undefined;

async function estimatePipeline(
  pipeline: Pipeline,
  o: EstimateOptions & { targets: string[]; figure: Figure; slots: { count: number; label: string } | undefined; predicted: NonNullable<ReturnType<typeof predictBackend>> },
): Promise<number> {
  const workload = await computeWorkload(pipeline, o.predicted, { targets: o.targets, from: o.from ?? [], until: o.until ?? [], only: o.only ?? [] });
  if (!workload.ok) {
    const e = workload.error;
    throw new CliExit(EXIT.invalid, `${e.message}${'hint' in e && e.hint ? ` (${e.hint})` : ''}`);
  }
  const w = workload.value;
  const ref = w.reference;
  let throughput: Throughput | undefined;
  let calibration: Calibration | undefined;
  if (o.figure && ref) {
    switch (o.figure.kind) {
      case 'per-image-ms':
        throughput = throughputFromFigure(ref, o.figure.ms, o.figure);
        break;
      case 'per-step-ms': {
        const batch = o.figure.batch ?? ref.batch;
        throughput = throughputFromFigure(ref, o.figure.ms / batch, { kind: 'per-step-ms', ms: o.figure.ms, batch });
        break;
      }
      case 'calibrate': {
        const { calibrate, planCalibration } = await import('../../plan/estimate/calibrate.js');
        const plan = planCalibration(ref, w.backend);
        process.stderr.write(`calibrating: ${plan.steps} steps each of FT, VPT-deep and a forward pass of ${ref.label} (${plan.config.depth} of ${plan.fullDepth} blocks, batch ${plan.batch})...\n`);
        const c = await calibrate(plan, o.backend);
        if (!c.ok) throw new CliExit(c.error.reason === 'unknown-backend' ? EXIT.invalid : EXIT.stageFailed, `--calibrate: ${c.error.message}`);
        calibration = c.value;
        if (c.value.backend.name !== w.backend) process.stderr.write(`note: the stages were costed for backend ${w.backend}, the calibration ran on ${c.value.backend.name}\n`);
        throughput = { source: { kind: 'calibrated', backend: c.value.backend.name }, rates: c.value.rates };
        break;
      }
    }
  }
  const estimate = priceWorkload(w, throughput, o.slots?.count);
  const report: EstimateReport = {
    workload: w, estimate, throughput, calibration, slotsLabel: o.slots?.label,
    backendNote: o.backend !== undefined ? `--backend ${o.backend}` : process.env['VPT_BACKEND'] ? `VPT_BACKEND=${process.env['VPT_BACKEND']}` : 'predicted: the first native TensorFlow package installed, else wasm',
  };
  process.stdout.write(o.json ? `${JSON.stringify(estimateAsJson(report))}\n` : renderEstimate(report));
  return EXIT.ok;
}

/** A time in milliseconds > 0. */
function positiveMs(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new CliExit(EXIT.invalid, `${flag} takes a time in milliseconds > 0, got '${value}'`);
  return n;
}

function positiveCount(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliExit(EXIT.invalid, `${flag} takes a whole number >= 1, got '${value}'`);
  return n;
}

function parseFigure(o: EstimateOptions): Figure {
  const given = [o.perImageMs !== undefined && '--per-image-ms', o.perStepMs !== undefined && '--per-step-ms', o.calibrate === true && '--calibrate'].filter((x): x is string => typeof x === 'string');
  if (given.length > 1) throw new CliExit(EXIT.invalid, `${given.join(' and ')} are alternatives: give one`);
  if (o.stepBatch !== undefined && o.perStepMs === undefined) throw new CliExit(EXIT.invalid, '--step-batch goes with --per-step-ms');
  if (o.perImageMs !== undefined) return { kind: 'per-image-ms', ms: positiveMs(o.perImageMs, '--per-image-ms') };
  if (o.perStepMs !== undefined) return { kind: 'per-step-ms', ms: positiveMs(o.perStepMs, '--per-step-ms'), batch: o.stepBatch !== undefined ? positiveCount(o.stepBatch, '--step-batch') : undefined };
  return o.calibrate ? { kind: 'calibrate' } : undefined;
}

/** `--gpus G` and `--nodes N`: N x G trainings at once (each training takes one GPU). */
function parseSlots(o: EstimateOptions): { count: number; label: string } | undefined {
  const gpus = o.gpus !== undefined ? positiveCount(o.gpus, '--gpus') : undefined;
  const nodes = o.nodes !== undefined ? positiveCount(o.nodes, '--nodes') : undefined;
  if (gpus === undefined && nodes === undefined) return undefined;
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (nodes === undefined) return { count: gpus as number, label: plural(gpus as number, 'GPU') };
  if (gpus === undefined) return { count: nodes, label: plural(nodes, 'node') };
  return { count: nodes * gpus, label: `${plural(nodes, 'node')} x ${plural(gpus, 'GPU')}` };
}
