/**
 * Reading what training stages leave behind: a run's `metrics.json` and its `predictions`.
 * Kept in one small module so a change in the training stages' file shapes is a change here only.
 *
 * metrics.json as `train.vit` writes it (read tolerantly): {
 *   task, group?, method, seed, trainSplit?, testSplit? (default `test`), valSplit?,
 *   history: [{ epoch (0-based), phase, train_loss, train_top1, evals: { <split name>: { loss, top1 } } }],
 *   final: { test_top1, ... } (else the last epoch's test eval), environment: { backend, cpuModel, ... }
 * }   top-1 values are fractions in [0, 1]. The training-set size comes from the run reference,
 *   `trainSize`, or the split name (`size5000-train` -> 5000, `train800val200` -> 800).
 * predictions as `train.vit` writes them: `{ items: [{ index, label, predicted, correct }] }`; also
 *   accepted: a bare array of such items, `{ label[], predicted[] }`, or CSV with a `label,predicted` header.
 */
import { readFile } from 'node:fs/promises';
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

export function parseMetrics(text: string, ref: RunRef): Result<RunRecord, RunReadError> {
  const path = ref.metrics;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return err({ reason: 'bad-metrics', message: `${path}: not JSON: ${(e as Error).message}`, path });
  }
  if (!isObj(raw)) return err({ reason: 'bad-metrics', message: `${path}: expected a JSON object`, path });
  const testName = typeof raw['testSplit'] === 'string' ? raw['testSplit'] : 'test';
  const valName = typeof raw['valSplit'] === 'string' ? raw['valSplit'] : undefined;
  const history = Array.isArray(raw['history']) ? raw['history'] : Array.isArray(raw['epochs']) ? raw['epochs'] : [];
  const epochs: EpochPoint[] = [];
  for (const [i, h] of history.entries()) {
    if (!isObj(h)) return err({ reason: 'bad-metrics', message: `${path}: history[${i}] is not an object`, path });
    const evals = isObj(h['evals']) ? h['evals'] : {};
    const test = isObj(evals[testName]) ? evals[testName] : {};
    const val = valName !== undefined && isObj(evals[valName]) ? evals[valName] : {};
    const e: EpochPoint = {
      epoch: numOr(h['epoch']) ?? i,
      ...(typeof h['phase'] === 'string' ? { phase: h['phase'] } : {}),
      ...opt('trainLoss', numOr(h['train_loss'] ?? h['trainLoss'])),
      ...opt('testLoss', numOr(test['loss'])),
      ...opt('testTop1', numOr(test['top1'])),
      ...opt('valLoss', numOr(val['loss'])),
      ...opt('valTop1', numOr(val['top1'])),
    };
    epochs.push(e);
  }
  const final = isObj(raw['final']) ? raw['final'] : isObj(raw['metrics']) ? raw['metrics'] : {};
  const top1 = numOr(raw['test_top1']) ?? numOr(final['test_top1']) ?? epochs.at(-1)?.testTop1;
  if (top1 === undefined) return err({ reason: 'bad-metrics', message: `${path}: no test top-1 (test_top1, final.test_top1 or history[-1].evals.test.top1)`, path });
  if (top1 < 0 || top1 > 1) return err({ reason: 'bad-metrics', message: `${path}: test top-1 ${top1} is not a fraction in [0, 1]`, path });
  const task = ref.task ?? (typeof raw['task'] === 'string' ? raw['task'] : undefined);
  const method = ref.method ?? (typeof raw['method'] === 'string' ? raw['method'] : undefined);
  if (!task || !method) return err({ reason: 'bad-metrics', message: `${path}: task and method are neither in the run reference nor in the file`, path });
  const seed = ref.seed ?? numOr(raw['seed']) ?? 0;
  const trainSize = ref.trainSize ?? numOr(raw['trainSize']) ?? numOr(raw['dataSize']) ?? sizeFromSplit(raw['trainSplit']);
  const group = typeof raw['group'] === 'string' ? raw['group'] : undefined;
  const environment: Record<string, string | number | boolean> = {};
  if (isObj(raw['environment'])) {
    for (const [k, v] of Object.entries(raw['environment'])) if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') environment[k] = v;
  }
  return ok({ task, method, seed, ...(trainSize !== undefined ? { trainSize } : {}), ...(group ? { group } : {}), testTop1: top1, epochs, environment, source: path });
}

/** `size5000-train` / `size5000-trainval` -> 5000; `train800` / `train800val200` -> 800. */
export function sizeFromSplit(split: unknown): number | undefined {
  if (typeof split !== 'string') return undefined;
  const m = /^size(\d+)-/.exec(split) ?? /^train(\d+)/.exec(split);
  return m ? Number(m[1]) : undefined;
}

function opt<K extends string>(key: K, v: number | undefined): Partial<Record<K, number>> {
  return v === undefined ? {} : ({ [key]: v } as Record<K, number>);
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
