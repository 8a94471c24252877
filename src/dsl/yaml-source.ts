/**
 * YAML text -> plain value plus a JSON-pointer -> source-range table, so that any later
 * check (ajv's instancePath, a semantic rule) can point at the exact key or value.
 */
import type { Document, Node } from 'yaml';
import { yaml } from '../util/yaml.js';
import type { SourceRange } from './diagnostic.js';
import type { Diags } from './diags.js';
import { SourceFile } from './source.js';

export interface Loc {
  /** The mapping key naming this value, when it is a map entry. */
  readonly key?: SourceRange;
  readonly value: SourceRange;
}

export interface LocatedDoc {
  readonly source: SourceFile;
  readonly value: unknown;
  readonly locs: ReadonlyMap<string, Loc>;
}

export function escapePointer(key: string | number): string {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}

export function childPointer(parent: string, key: string | number): string {
  return `${parent}/${escapePointer(key)}`;
}

/** The location of a pointer, or of its nearest ancestor that exists in the file. */
export function locate(doc: LocatedDoc, pointer: string): Loc {
  let p = pointer;
  for (;;) {
    const loc = doc.locs.get(p);
    if (loc) return loc;
    if (p === '') break;
    const cut = p.lastIndexOf('/');
    p = cut <= 0 ? '' : p.slice(0, cut);
  }
  return { value: doc.source.range(0, 0) };
}

/** Key range when the pointer is a map entry, else its value range. */
export function keyOrValue(doc: LocatedDoc, pointer: string): SourceRange {
  const loc = locate(doc, pointer);
  return loc.key ?? loc.value;
}

export function valueAt(doc: LocatedDoc, pointer: string): SourceRange {
  return locate(doc, pointer).value;
}

/**
 * Parses one YAML file. Returns undefined when the YAML itself is broken (the errors are in
 * `diags`): a half-parsed document would only produce confusing follow-up errors.
 */
export function parseYaml(source: SourceFile, diags: Diags): LocatedDoc | undefined {
  const doc = yaml().parseDocument(source.text, { prettyErrors: false, uniqueKeys: false, keepSourceTokens: false });
  if (doc.errors.length > 0) {
    // One error per line, at most five: after the first, YAML parse errors mostly cascade.
    const lines = new Set<number>();
    for (const e of doc.errors) {
      const [s, t] = e.pos;
      const range = source.range(s, Math.max(t, s + 1));
      if (lines.has(range.start.line) || lines.size >= 5) continue;
      lines.add(range.start.line);
      const lineText = source.text.slice(s - range.start.column + 1).split('\n', 1)[0] ?? '';
      const hint = /[{[][^'"]*\$\{\{/.test(lineText) ? 'inside `{ }` or `[ ]`, quote strings holding `${{ }}`: "${{ params.x }}"' : undefined;
      diags.error('yaml-syntax', cleanYamlMessage(e.message), range, { hint });
    }
    return undefined;
  }
  const locs = new Map<string, Loc>();
  const value = walk(doc, doc.contents, '', undefined, source, locs, diags);
  if (!locs.has('')) locs.set('', { value: source.range(0, 0) });
  return { source, value, locs };
}

function cleanYamlMessage(m: string): string {
  return m.replace(/\s+at line \d+, column \d+.*$/s, '').trim();
}

function rangeOf(node: Node, source: SourceFile): SourceRange {
  const r = node.range;
  return r ? source.range(r[0], r[1]) : source.range(0, 0);
}

function walk(
  doc: Document,
  node: unknown,
  ptr: string,
  keyRange: SourceRange | undefined,
  source: SourceFile,
  locs: Map<string, Loc>,
  diags: Diags,
): unknown {
  const { isAlias, isMap, isScalar, isSeq } = yaml();
  let n = node;
  if (isAlias(n)) n = n.resolve(doc);
  if (n === null || n === undefined) {
    // `key:` with nothing after it: point just after the key.
    const at = keyRange ? { start: keyRange.end, end: keyRange.end } : source.range(0, 0);
    locs.set(ptr, { ...(keyRange ? { key: keyRange } : {}), value: at });
    return null;
  }
  if (isMap(n)) {
    const obj: Record<string, unknown> = {};
    const firstSeen = new Map<string, SourceRange>();
    locs.set(ptr, { ...(keyRange ? { key: keyRange } : {}), value: rangeOf(n, source) });
    for (const pair of n.items) {
      const keyNode = pair.key;
      const k = isScalar(keyNode) ? String(keyNode.value) : keyNode == null ? '' : JSON.stringify(keyNode);
      const kr = isScalar(keyNode) || isMap(keyNode) || isSeq(keyNode) ? rangeOf(keyNode as Node, source) : source.range(0, 0);
      const prior = firstSeen.get(k);
      if (prior) {
        const isStage = ptr === '/stages';
        diags.error(isStage ? 'duplicate-id' : 'yaml-syntax', isStage ? `duplicate stage id \`${k}\`` : `duplicate key \`${k}\``, kr, {
          related: [{ message: `\`${k}\` is first defined here`, location: prior }],
        });
        continue;
      }
      firstSeen.set(k, kr);
      // defineProperty: a key named `__proto__` must stay data, not change the prototype.
      Object.defineProperty(obj, k, {
        value: walk(doc, pair.value, childPointer(ptr, k), kr, source, locs, diags),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return obj;
  }
  if (isSeq(n)) {
    locs.set(ptr, { ...(keyRange ? { key: keyRange } : {}), value: rangeOf(n, source) });
    return n.items.map((item, i) => walk(doc, item, childPointer(ptr, i), undefined, source, locs, diags));
  }
  if (isScalar(n)) {
    locs.set(ptr, { ...(keyRange ? { key: keyRange } : {}), value: rangeOf(n, source) });
    const v = n.value;
    return typeof v === 'bigint' ? Number(v) : v;
  }
  return null;
}
