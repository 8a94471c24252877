/**
 * `metrics.json` of a training run: written by train.vit and train.pretrain, read by train.select,
 * train.aggregate, analysis.select-images and the report. One typed, versioned format, its writer
 * and its reader side by side; the reader accepts this format only, and says what is wrong with
 * anything else. It holds what the computation determines: no timing, host or CPU (run record).
 */
import { err, ok, type Result } from '../util/result.js';
import { artifactError, isRecord, parseArtifactObject, readArtifactText, writeArtifactJson, type ArtifactError } from './errors.js';

export const RUN_METRICS_FORMAT = 'vpt.run-metrics/1';

export interface SplitEval {
  readonly loss: number;
  /** Fraction in [0, 1]. */
  readonly top1: number;
}

export interface EpochMetrics {
  /** 0-based. */
  readonly epoch: number;
  readonly phase: string;
  readonly lr: number;
  readonly train_loss: number;
  readonly train_top1: number;
  /** By split name (`test`, `val200`, ...). */
  readonly evals: Readonly<Record<string, SplitEval>>;
}

/** What shaped the numbers (the same on any machine running the same backend). */
export interface RunCompute {
  readonly backend: string;
  readonly tfBackend: string;
  readonly tfjsVersion: string;
  readonly simd: boolean;
  readonly workers: number;
}

export interface RunMetrics {
  readonly format: typeof RUN_METRICS_FORMAT;
  readonly task: string;
  readonly group: string;
  readonly disparity?: string;
  readonly method: string;
  readonly seed: number;
  readonly baseLr: number;
  readonly weightDecay: number;
  readonly trainSplit: string;
  readonly valSplit: string | null;
  readonly testSplit: string | null;
  readonly environment: RunCompute;
  /** Headline numbers of the last epoch (`test_top1`, `val_top1`, losses). */
  readonly final: Readonly<Record<string, number>>;
  readonly history: readonly EpochMetrics[];
  /** The rest of the recipe (lr, epochs, warmup, batch, prompts, parameter counts, phases, ...). */
  readonly [detail: string]: unknown;
}

export const writeRunMetrics: (path: string, metrics: RunMetrics) => Promise<void> = writeArtifactJson;

const isNum = (v: unknown): v is number => typeof v === 'number';
const isStr = (v: unknown): v is string => typeof v === 'string';
const strOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';

export function parseRunMetrics(text: string, path: string): Result<RunMetrics, ArtifactError> {
  const parsed = parseArtifactObject(text, path, RUN_METRICS_FORMAT, 'a metrics.json as train.vit writes it');
  if (!parsed.ok) return parsed;
  const raw = parsed.value;
  const bad = (what: string): Result<RunMetrics, ArtifactError> => err(artifactError('bad-format', what, path));
  for (const key of ['task', 'group', 'method', 'trainSplit'] as const) if (!isStr(raw[key])) return bad(`${key} must be a string`);
  for (const key of ['seed', 'baseLr', 'weightDecay'] as const) if (!isNum(raw[key])) return bad(`${key} must be a number`);
  for (const key of ['valSplit', 'testSplit'] as const) if (!strOrNull(raw[key])) return bad(`${key} must be a string or null`);
  const env = raw['environment'];
  if (!isRecord(env) || !isStr(env['backend']) || !isStr(env['tfBackend']) || !isStr(env['tfjsVersion']) || typeof env['simd'] !== 'boolean' || !isNum(env['workers'])) {
    return bad('environment must hold backend, tfBackend, tfjsVersion, simd and workers');
  }
  const final = raw['final'];
  if (!isRecord(final) || !Object.values(final).every(isNum)) return bad('final must map metric names to numbers');
  const top1 = final['test_top1'];
  if (isNum(top1) && !(top1 >= 0 && top1 <= 1) && !Number.isNaN(top1)) return bad(`final.test_top1 ${top1} is not a fraction in [0, 1]`);
  const history = raw['history'];
  if (!Array.isArray(history)) return bad('history must be an array of epochs');
  for (const [i, h] of history.entries()) {
    if (!isRecord(h) || !isNum(h['epoch']) || !isStr(h['phase']) || !isNum(h['lr']) || !isNum(h['train_loss']) || !isNum(h['train_top1']) || !isRecord(h['evals'])) {
      return bad(`history[${i}] must hold epoch, phase, lr, train_loss, train_top1 and evals`);
    }
    for (const [split, ev] of Object.entries(h['evals'])) {
      if (!isRecord(ev) || !isNum(ev['loss']) || !isNum(ev['top1'])) return bad(`history[${i}].evals.${split} must hold loss and top1`);
    }
  }
  return ok(raw as unknown as RunMetrics);
}

export async function readRunMetrics(path: string): Promise<Result<RunMetrics, ArtifactError>> {
  const text = await readArtifactText(path);
  return text.ok ? parseRunMetrics(text.value, path) : text;
}
