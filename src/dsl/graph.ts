/** Cycle finding on the expanded stage graph (iterative, so 10,000-stage chains don't blow the stack). */

/** Strongly connected components that contain a cycle (size > 1, or a self-loop). */
export function cyclicComponents(n: number, adj: readonly (readonly number[])[]): number[][] {
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const stack: number[] = [];
  const result: number[][] = [];
  let counter = 0;
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    const work: [number, number][] = [[root, 0]];
    while (work.length > 0) {
      const frame = work[work.length - 1] as [number, number];
      const [v, i] = frame;
      if (i === 0 && index[v] === -1) {
        index[v] = low[v] = counter++;
        stack.push(v);
        onStack[v] = 1;
      }
      const edges = adj[v] ?? [];
      if (i < edges.length) {
        frame[1] = i + 1;
        const w = edges[i] as number;
        if (index[w] === -1) work.push([w, 0]);
        else if (onStack[w]) low[v] = Math.min(low[v] as number, index[w] as number);
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low[parent[0]] = Math.min(low[parent[0]] as number, low[v] as number);
      if (low[v] === index[v]) {
        const comp: number[] = [];
        let w: number;
        do {
          w = stack.pop() as number;
          onStack[w] = 0;
          comp.push(w);
        } while (w !== v);
        if (comp.length > 1 || edges.includes(v)) result.push(comp.sort((a, b) => a - b));
      }
    }
  }
  return result;
}

/** One concrete loop inside a cyclic component, starting at its smallest node: [a, b, c] means a->b->c->a. */
export function loopIn(comp: readonly number[], adj: readonly (readonly number[])[]): number[] {
  const members = new Set(comp);
  const start = comp[0] as number;
  // BFS from start back to start within the component: the shortest loop reads best.
  const prev = new Map<number, number>();
  const queue = [start];
  for (let q = 0; q < queue.length; q++) {
    const v = queue[q] as number;
    for (const w of adj[v] ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [v];
        let cur = v;
        while (cur !== start) {
          cur = prev.get(cur) as number;
          path.push(cur);
        }
        return path.reverse();
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}
