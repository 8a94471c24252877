import { didYouMean } from '../dsl/index.js';
import { err, ok, type Result } from '../util/result.js';
import type { StageGraph } from './graph.js';

export interface SelectionOptions {
  /** Stage ids, template ids (`train` = all its cells) or globs where only `*` and `?` are wild. */
  readonly targets?: readonly string[];
  readonly from?: readonly string[];
  readonly until?: readonly string[];
  readonly only?: readonly string[];
}

export interface Selection {
  /** Stages this command may run or restore. */
  readonly selected: ReadonlySet<string>;
  /** Unselected upstream stages (direct or not) whose outputs must already be in the cache. */
  readonly required: ReadonlySet<string>;
}

export type SelectionError = { readonly reason: 'no-match'; readonly message: string; readonly pattern: string; readonly hint?: string };

/**
 * Brackets and `=` are ordinary characters in stage ids (`train[task=dtd]`), so patterns are not
 * shell globs: `*` matches any run of characters, `?` one character, everything else itself.
 */
export function patternToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('')
    .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}

export function matchStages(graph: StageGraph, pattern: string): string[] {
  if (graph.stages.has(pattern)) return [pattern];
  const byTemplate = graph.order.filter((id) => graph.stage(id).template === pattern);
  if (byTemplate.length > 0) return byTemplate;
  const re = patternToRegExp(pattern);
  return graph.order.filter((id) => re.test(id));
}

export function selectStages(graph: StageGraph, options: SelectionOptions): Result<Selection, SelectionError> {
  const resolve = (patterns: readonly string[] | undefined): Result<string[], SelectionError> => {
    const ids: string[] = [];
    for (const pattern of patterns ?? []) {
      const matched = matchStages(graph, pattern);
      if (matched.length === 0) {
        const suggestion = didYouMean(pattern, [...new Set(graph.order.map((id) => graph.stage(id).template)), ...graph.order]);
        return err({
          reason: 'no-match',
          pattern,
          message: `no stage matches '${pattern}'`,
          ...(suggestion ? { hint: `did you mean '${suggestion}'?` } : {}),
        });
      }
      ids.push(...matched);
    }
    return ok(ids);
  };
  const targets = resolve(options.targets);
  const from = resolve(options.from);
  const until = resolve(options.until);
  const only = resolve(options.only);
  for (const r of [targets, from, until, only]) if (!r.ok) return r;
  const [t, f, u, o] = [targets, from, until, only].map((r) => (r.ok ? r.value : [])) as [string[], string[], string[], string[]];

  let selected: Set<string>;
  if (o.length > 0) {
    selected = new Set(o);
  } else {
    const base = t.length > 0 ? new Set([...t, ...graph.ancestors(t)]) : new Set(graph.order);
    selected = base;
    if (f.length > 0) {
      const downstream = new Set([...f, ...graph.descendants(f)]);
      selected = new Set([...selected].filter((id) => downstream.has(id)));
    }
    if (u.length > 0) {
      const upstream = new Set([...u, ...graph.ancestors(u)]);
      selected = new Set([...selected].filter((id) => upstream.has(id)));
    }
  }
  // Every unselected ancestor, not only the direct ones: a required stage's own fingerprint needs
  // the output hashes of the stages before it, so they are decided (fresh or restorable) too.
  const required = new Set([...graph.ancestors(selected)].filter((id) => !selected.has(id)));
  return ok({ selected, required });
}
