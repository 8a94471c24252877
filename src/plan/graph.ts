import type { Pipeline, Stage } from '../dsl/model.js';

/** The stage DAG: edges from `needs` (which the DSL derives from references, `needs:` and deps). */
export class StageGraph {
  readonly stages: ReadonlyMap<string, Stage>;
  /** id -> ids it needs */
  readonly upstream: ReadonlyMap<string, readonly string[]>;
  /** id -> ids that need it */
  readonly downstream: ReadonlyMap<string, readonly string[]>;
  /** Topological order; ties keep declaration order, so plans and messages are stable. */
  readonly order: readonly string[];
  /** Output path -> the stage and output name that produce it. */
  readonly producers: ReadonlyMap<string, { readonly stage: string; readonly output: string }>;

  constructor(pipeline: Pipeline) {
    const stages = new Map<string, Stage>();
    const producers = new Map<string, { stage: string; output: string }>();
    for (const stage of pipeline.stages) {
      stages.set(stage.id, stage);
      for (const [output, path] of Object.entries(stage.outputs)) producers.set(path, { stage: stage.id, output });
    }
    const upstream = new Map<string, string[]>();
    const downstream = new Map<string, string[]>();
    for (const stage of pipeline.stages) {
      // A `deps:` path that another stage produces is an edge too, as in DVC.
      const producedDeps = stage.inputs.map((input) => input.fromStage ?? producers.get(input.path)?.stage).filter((id): id is string => id !== undefined && id !== stage.id);
      upstream.set(stage.id, [...new Set([...stage.needs, ...producedDeps])].filter((id) => stages.has(id)).sort());
      downstream.set(stage.id, []);
    }
    for (const [id, ups] of upstream) for (const up of ups) downstream.get(up)?.push(id);
    this.stages = stages;
    this.producers = producers;
    this.upstream = upstream;
    this.downstream = downstream;
    this.order = topologicalOrder(pipeline.stages.map((s) => s.id), upstream, downstream);
  }

  stage(id: string): Stage {
    const stage = this.stages.get(id);
    if (!stage) throw new Error(`no stage ${id}`);
    return stage;
  }

  ancestors(ids: Iterable<string>): Set<string> {
    return this.#walk(ids, this.upstream);
  }

  descendants(ids: Iterable<string>): Set<string> {
    return this.#walk(ids, this.downstream);
  }

  #walk(start: Iterable<string>, edges: ReadonlyMap<string, readonly string[]>): Set<string> {
    const seen = new Set<string>();
    const stack = [...start];
    while (stack.length > 0) {
      const id = stack.pop() as string;
      for (const next of edges.get(id) ?? []) {
        if (!seen.has(next)) {
          seen.add(next);
          stack.push(next);
        }
      }
    }
    return seen;
  }
}

function topologicalOrder(
  declared: readonly string[],
  upstream: ReadonlyMap<string, readonly string[]>,
  downstream: ReadonlyMap<string, readonly string[]>,
): string[] {
  const position = new Map(declared.map((id, i) => [id, i]));
  const remaining = new Map(declared.map((id) => [id, upstream.get(id)?.length ?? 0]));
  // A binary heap keyed by declaration position keeps the order stable in O(n log n).
  const heap = new MinHeap<string>((a, b) => (position.get(a) ?? 0) - (position.get(b) ?? 0));
  for (const id of declared) if (remaining.get(id) === 0) heap.push(id);
  const order: string[] = [];
  while (heap.size > 0) {
    const id = heap.pop() as string;
    order.push(id);
    for (const next of downstream.get(id) ?? []) {
      const left = (remaining.get(next) ?? 0) - 1;
      remaining.set(next, left);
      if (left === 0) heap.push(next);
    }
  }
  if (order.length !== declared.length) {
    // The DSL rejects cycles with their locations; reaching this is a bug.
    throw new Error(`internal: dependency cycle among ${declared.filter((id) => !order.includes(id)).join(', ')}`);
  }
  return order;
}

class MinHeap<T> {
  readonly #items: T[] = [];
  constructor(private readonly compare: (a: T, b: T) => number) {}
  get size(): number {
    return this.#items.length;
  }
  push(item: T): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(items[i] as T, items[parent] as T) >= 0) break;
      [items[i], items[parent]] = [items[parent] as T, items[i] as T];
      i = parent;
    }
  }
  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        if (l < items.length && this.compare(items[l] as T, items[smallest] as T) < 0) smallest = l;
        if (r < items.length && this.compare(items[r] as T, items[smallest] as T) < 0) smallest = r;
        if (smallest === i) break;
        [items[i], items[smallest]] = [items[smallest] as T, items[i] as T];
        i = smallest;
      }
    }
    return top;
  }
}
