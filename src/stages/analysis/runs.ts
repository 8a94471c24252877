/**
 * Reading what training stages leave behind: a run's `metrics.json` and its `predictions`.
 * Kept in one small module so a change in the training stages' file shapes is a change here only.
 *
 * metrics.json is read strictly in its one format (src/artifacts/run-metrics.ts). The training-set
 *   size comes from the run reference, `trainSize`, or the split name (`size5000-train` -> 5000,
 *   `train800val200` -> 800); one-shot splits (`oneshot-train`, ...) have no size and mark the run
 *   `oneShot` instead, so the report never puts them on a size axis.
 * predictions likewise (src/artifacts/predictions.ts).
 */
import { readFile } from 'node:fs/promises';
import { parsePredictionsFile, parseRunMetrics } from '../../artifacts/index.js';
import { err, ok, type Result } from '../../util/result.js';

export interface EpochPoint {
  readonly epoch: number;
  readonly phase?: string;
  readonly trainLoss?: number;
  readonly testLoss?: number;
  readonly testTop1?: number;
  readonly valLoss?: number;
  readonly valTop1?: number;
}

export interface RunRecord {
  readonly task: string;
  readonly method: string;
  readonly seed: number;
  readonly trainSize?: number;
  /** Trained on a one-shot split (`oneshot-train`, `oneshot-val`, `oneshot-trainval`). */
  readonly oneShot?: true;
  /** Prompt tokens per layer as metrics.json records it (0 for methods without prompts). */
  readonly promptLength?: number;
  readonly group?: string;
  /** Fraction in [0, 1]. */
  readonly testTop1: number;
  readonly epochs: readonly EpochPoint[];
  readonly environment: Readonly<Record<string, string | number | boolean>>;
  /** The metrics file read. */
  readonly source: string;
}

/** A run as the report's params name it; labels override what metrics.json says. */
export interface RunRef {
  readonly metrics: string;
  readonly predictions?: string;
  readonly task?: string;
  readonly method?: string;
  readonly seed?: number;
  readonly trainSize?: number;
}

export type RunReadError = { readonly reason: 'unreadable' | 'bad-metrics' | 'bad-predictions'; readonly message: string; readonly path: string };


/** A run's metrics.json (src/artifacts/run-metrics.ts, the one format) as the analysis and the report use it. */
export function parseMetrics(text: string, ref: RunRef): Result<RunRecord, RunReadError> {
  const path = ref.metrics;
  const parsed = parseRunMetrics(text, path);
  if (!parsed.ok) return err({ reason: 'bad-metrics', message: parsed.error.message, path });
  const m = parsed.value;
  const testName = m.testSplit ?? 'test';
  const epochs: EpochPoint[] = m.history.map((h) => {
    const test = h.evals[testName];
    const val = m.valSplit !== null ? h.evals[m.valSplit] : undefined;
    return {
      epoch: h.epoch,
      phase: h.phase,
      trainLoss: h.train_loss,
      ...(test ? { testLoss: test.loss, testTop1: test.top1 } : {}),
      ...(val ? { valLoss: val.loss, valTop1: val.top1 } : {}),
    };
  });
  const top1 = m.final['test_top1'];
  if (top1 === undefined) return err({ reason: 'bad-metrics', message: `${path}: no final.test_top1 (a run without a test split)`, path });
  const trainSize = ref.trainSize ?? sizeFromSplit(m.trainSplit);
  const environment: Record<string, string | number | boolean> = { ...m.environment };
  const promptLength = m['promptLength'];
  return ok({
    task: ref.task ?? m.task, method: ref.method ?? m.method, seed: ref.seed ?? m.seed,
    ...(trainSize !== undefined ? { trainSize } : {}),
    ...(isOneShotSplit(m.trainSplit) ? { oneShot: true as const } : {}),
    ...(typeof promptLength === 'number' ? { promptLength } : {}),
    group: m.group, testTop1: top1, epochs, environment, source: path,
  });
}

/** The data stages' one-shot splits: `oneshot-train`, `oneshot-val`, `oneshot-trainval`. */
export const isOneShotSplit = (split: string): boolean => split.startsWith('oneshot-');

/** `size5000-train` / `size5000-trainval` -> 5000; `train800` / `train800val200` -> 800; one-shot splits -> undefined. */
export function sizeFromSplit(split: unknown): number | undefined {
  if (typeof split !== 'string') return undefined;
  const m = /^size(\d+)-/.exec(split) ?? /^train(\d+)/.exec(split);
  return m ? Number(m[1]) : undefined;
}


export async function readRun(ref: RunRef): Promise<Result<RunRecord, RunReadError>> {
  let text: string;
  try {
    text = await readFile(ref.metrics, 'utf8');
  } catch (e) {
    return err({ reason: 'unreadable', message: `${ref.metrics}: ${(e as Error).message}`, path: ref.metrics });
  }
  return parseMetrics(text, ref);
}

export interface Predictions {
  readonly label: Int32Array;
  readonly predicted: Int32Array;
  readonly correct: Uint8Array;
}

/** A run's predictions (src/artifacts/predictions.ts, the one format) as label/predicted/correct arrays. */
export function parsePredictions(text: string, path: string): Result<Predictions, RunReadError> {
  const parsed = parsePredictionsFile(text, path);
  if (!parsed.ok) return err({ reason: 'bad-predictions', message: parsed.error.message, path });
  const items = parsed.value.items;
  const out: Predictions = { label: new Int32Array(items.length), predicted: new Int32Array(items.length), correct: new Uint8Array(items.length) };
  for (const [i, item] of items.entries()) {
    out.label[i] = item.label;
    out.predicted[i] = item.predicted;
    out.correct[i] = item.correct ? 1 : 0;
  }
  return ok(out);
}

export async function readPredictions(path: string): Promise<Result<Predictions, RunReadError>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return err({ reason: 'unreadable', message: `${path}: ${(e as Error).message}`, path });
  }
  return parsePredictions(text, path);
}
