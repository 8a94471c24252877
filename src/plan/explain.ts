import type { FingerprintDoc } from './fingerprint.js';
import { canonicalJson } from '../store/index.js';
import type { Reason } from './reasons.js';

/** What differs between the document of the last successful run and the current one. */
export function explainChange(previous: FingerprintDoc, current: FingerprintDoc): Reason[] {
  if (previous.schema !== current.schema) return [{ type: 'engine-changed' }];
  const reasons: Reason[] = [];
  const [a, b] = [previous.task, current.task];
  if (a.type === 'builtin' && b.type === 'builtin') {
    if (a.uses !== b.uses) reasons.push({ type: 'kind-changed', from: a.uses, to: b.uses });
    else if (a.version !== b.version) reasons.push({ type: 'kind-version-changed', kind: b.uses, from: a.version, to: b.version });
    else if (a.code !== b.code) reasons.push({ type: 'code-changed', kind: b.uses });
    const named = diffValues(previous.params, current.params, '');
    reasons.push(...named.map((d): Reason => ({ type: 'param-changed', path: d.path, from: d.from, to: d.to })));
    // Changes to `with:` that no named pipeline param explains (literal edits in the YAML).
    if (named.length === 0) {
      for (const d of diffValues(a.params, b.params, 'with')) reasons.push({ type: 'param-changed', path: d.path, from: d.from, to: d.to });
    }
  } else if (a.type === 'command' && b.type === 'command') {
    const named = diffValues(previous.params, current.params, '');
    reasons.push(...named.map((d): Reason => ({ type: 'param-changed', path: d.path, from: d.from, to: d.to })));
    const [ca, cb] = [commandText(a.command), commandText(b.command)];
    if (named.length === 0 && (ca !== cb || a.shell !== b.shell)) reasons.push({ type: 'command-changed', from: ca, to: cb });
  } else {
    reasons.push({ type: 'kind-changed', from: a.type === 'builtin' ? a.uses : 'command', to: b.type === 'builtin' ? b.uses : 'command' });
  }
  for (const path of unionKeys(previous.inputs, current.inputs)) {
    const [x, y] = [previous.inputs[path], current.inputs[path]];
    if (x === undefined) reasons.push({ type: 'input-added', path });
    else if (y === undefined) reasons.push({ type: 'input-removed', path });
    else if (x !== y) reasons.push({ type: 'input-changed', path });
  }
  for (const name of unionKeys(previous.env, current.env)) {
    if (previous.env[name] !== current.env[name]) reasons.push({ type: 'env-changed', name, from: previous.env[name], to: current.env[name] });
  }
  for (const name of unionKeys(previous.outputs, current.outputs)) {
    if (previous.outputs[name] !== current.outputs[name]) reasons.push({ type: 'output-moved', name, from: previous.outputs[name], to: current.outputs[name] });
  }
  return reasons;
}

function commandText(command: readonly string[] | string): string {
  return typeof command === 'string' ? command : command.join(' ');
}

function unionKeys(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
}

interface ValueDiff {
  readonly path: string;
  readonly from: unknown;
  readonly to: unknown;
}

/** Leaf-level differences between two JSON values, with dotted paths. */
export function diffValues(a: unknown, b: unknown, path: string): ValueDiff[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const out: ValueDiff[] = [];
    for (const key of unionKeys(a, b)) out.push(...diffValues(a[key], b[key], path ? `${path}.${key}` : key));
    return out;
  }
  if (a === b) return [];
  if (a !== undefined && b !== undefined && canonicalJson(a) === canonicalJson(b)) return [];
  return [{ path, from: a, to: b }];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
