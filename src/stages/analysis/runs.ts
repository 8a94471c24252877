/**
 * Reading what training stages leave behind: a run's `metrics.json` and its `predictions`.
 * Kept in one small module so a change in the training stages' file shapes is a change here only.
 *
 * metrics.json is read strictly in its one format (src/artifacts/run-metrics.ts). The training-set
 *   size comes from the run reference, `trainSize`, or the split name (`size5000-train` -> 5000,
 *   `train800val200` -> 800).
 * predictions as `train.vit` writes them: `{ items: [{ index, label, predicted, correct }] }`; also
 *   accepted: a bare array of such items, `{ label[], predicted[] }`, or CSV with a `label,predicted` header.
 */
import { readFile } from 'node:fs/promises';
import { parseRunMetrics } from '../../artifacts/index.js';
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

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const numOr = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

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
  return ok({
    task: ref.task ?? m.task, method: ref.method ?? m.method, seed: ref.seed ?? m.seed,
    ...(trainSize !== undefined ? { trainSize } : {}), group: m.group, testTop1: top1, epochs, environment, source: path,
  });
}

/** `size5000-train` / `size5000-trainval` -> 5000; `train800` / `train800val200` -> 800. */
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

export function parsePredictions(text: string, path: string): Result<Predictions, RunReadError> {
  const bad = (m: string): Result<Predictions, RunReadError> => err({ reason: 'bad-predictions', message: `${path}: ${m}`, path });
  const trimmed = text.trim();
  let label: number[] = [], predicted: number[] = [], correct: Array<boolean | undefined> = [];
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let raw: unknown;
    try {
      raw = JSON.parse(trimmed);
    } catch (e) {
      return bad(`not JSON: ${(e as Error).message}`);
    }
    const rows = Array.isArray(raw) ? raw : isObj(raw) && Array.isArray(raw['items']) ? raw['items'] : undefined;
    if (rows) {
      for (const [i, r] of rows.entries()) {
        if (!isObj(r) || numOr(r['label']) === undefined || numOr(r['predicted']) === undefined) return bad(`row ${i} needs numeric label and predicted`);
        label.push(r['label'] as number);
        predicted.push(r['predicted'] as number);
        correct.push(typeof r['correct'] === 'boolean' ? r['correct'] : undefined);
      }
    } else if (isObj(raw) && Array.isArray(raw['label'] ?? raw['labels']) && Array.isArray(raw['predicted'])) {
      label = (raw['label'] ?? raw['labels']) as number[];
      predicted = raw['predicted'] as number[];
      correct = Array.isArray(raw['correct']) ? (raw['correct'] as boolean[]) : [];
    } else return bad('expected {items: [{label, predicted}]}, an array of {label, predicted} or {label[], predicted[]}');
  } else {
    const lines = trimmed.split(/\r?\n/);
    const head = (lines[0] ?? '').split(',').map((s) => s.trim());
    const li = head.indexOf('label'), pi = head.indexOf('predicted'), ci = head.indexOf('correct');
    if (li < 0 || pi < 0) return bad('CSV needs a header with label and predicted');
    for (const [n, line] of lines.slice(1).entries()) {
      if (line.trim() === '') continue;
      const cells = line.split(',');
      const l = Number(cells[li]), p = Number(cells[pi]);
      if (!Number.isInteger(l) || !Number.isInteger(p)) return bad(`line ${n + 2}: label and predicted must be integers`);
      label.push(l);
      predicted.push(p);
      correct.push(ci >= 0 ? /^(1|true)$/i.test((cells[ci] ?? '').trim()) : undefined);
    }
  }
  if (label.length !== predicted.length) return bad(`${label.length} labels but ${predicted.length} predictions`);
  const out: Predictions = { label: Int32Array.from(label), predicted: Int32Array.from(predicted), correct: new Uint8Array(label.length) };
  for (let i = 0; i < label.length; i++) {
    const derived = out.label[i] === out.predicted[i];
    const given = correct[i];
    if (given !== undefined && given !== derived) return bad(`image ${i}: correct=${String(given)} but label ${out.label[i]} vs predicted ${out.predicted[i]}`);
    out.correct[i] = derived ? 1 : 0;
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
