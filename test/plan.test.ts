import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Pipeline, Stage } from '../src/dsl/model.js';
import { explainChange, fingerprintDoc, fingerprintOf, patternToRegExp, selectStages, StageGraph } from '../src/plan/index.js';

const location = { start: { file: 'p.yaml', offset: 0, line: 1, column: 1 }, end: { file: 'p.yaml', offset: 0, line: 1, column: 1 } };

function stage(id: string, needs: string[] = [], extra: Partial<Stage> = {}): Stage {
  const template = id.includes('[') ? id.slice(0, id.indexOf('[')) : id;
  return {
    type: 'builtin',
    id,
    template,
    matrix: {},
    needs,
    inputs: [],
    outputs: { out: `artifacts/${id}/out` },
    env: {},
    resources: { cpu: 1, gpu: 0, memoryMiB: 512 },
    retries: 0,
    timeoutSeconds: undefined,
    location,
    uses: 'test.kind',
    with: {},
    ...extra,
  } as Stage;
}

function pipeline(stages: Stage[]): Pipeline {
  return { name: 'p', file: '/w/p.yaml', workspace: '/w', params: {}, stages };
}

/** Random DAGs: an edge only from an earlier to a later node, declared in a shuffled order. */
const dagArb = fc
  .integer({ min: 1, max: 25 })
  .chain((n) =>
    fc.tuple(
      fc.constant(n),
      fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: n * 3 }),
      fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
    ),
  )
  .map(([n, pairs, declared]) => {
    const needs = new Map<number, Set<number>>([...Array(n).keys()].map((i) => [i, new Set<number>()]));
    for (const [a, b] of pairs) if (a < b) needs.get(b)?.add(a);
    return declared.map((i) => stage(`s${i}`, [...(needs.get(i) ?? [])].map((j) => `s${j}`)));
  });

describe('StageGraph', () => {
  it('orders stages so that every edge points forward (property)', () => {
    fc.assert(
      fc.property(dagArb, (stages) => {
        const graph = new StageGraph(pipeline(stages));
        const position = new Map(graph.order.map((id, i) => [id, i]));
        expect(graph.order).toHaveLength(stages.length);
        for (const s of stages) for (const up of s.needs) expect(position.get(up) as number).toBeLessThan(position.get(s.id) as number);
      }),
    );
  });

  it('keeps declaration order between independent stages', () => {
    const graph = new StageGraph(pipeline([stage('c'), stage('a'), stage('b', ['c'])]));
    expect(graph.order).toEqual(['c', 'a', 'b']);
  });

  it('adds an edge for a deps path that another stage produces', () => {
    const producer = stage('make');
    const consumer = stage('use', [], { inputs: [{ path: 'artifacts/make/out' }] });
    const graph = new StageGraph(pipeline([consumer, producer]));
    expect(graph.upstream.get('use')).toEqual(['make']);
    expect(graph.order).toEqual(['make', 'use']);
  });
});

describe('selection', () => {
  const stages = [
    stage('prep'),
    stage('train[task=a,method=ft]', ['prep']),
    stage('train[task=a,method=vpt-deep]', ['prep']),
    stage('train[task=b,method=vpt-shallow]', ['prep']),
    stage('report', ['train[task=a,method=ft]', 'train[task=a,method=vpt-deep]', 'train[task=b,method=vpt-shallow]']),
  ];
  const graph = new StageGraph(pipeline(stages));
  const sel = (o: Parameters<typeof selectStages>[1]) => {
    const r = selectStages(graph, o);
    if (!r.ok) throw new Error(r.error.message);
    return { selected: [...r.value.selected].sort(), required: [...r.value.required].sort() };
  };

  it('globs treat brackets literally', () => {
    expect(patternToRegExp('train[*method=vpt*]').test('train[task=a,method=vpt-deep]')).toBe(true);
    expect(patternToRegExp('train[*method=vpt*]').test('train[task=a,method=ft]')).toBe(false);
    expect(sel({ targets: ['train[*method=vpt*]'] }).selected).toEqual(['prep', 'train[task=a,method=vpt-deep]', 'train[task=b,method=vpt-shallow]']);
  });

  it('a template id names all its cells', () => {
    expect(sel({ targets: ['train'] }).selected).toHaveLength(4);
  });

  it('--from is the stage and everything downstream; --until the stage and its ancestors; --only the stage alone', () => {
    expect(sel({ from: ['train[task=a,method=ft]'] })).toEqual({ selected: ['report', 'train[task=a,method=ft]'], required: ['prep', 'train[task=a,method=vpt-deep]', 'train[task=b,method=vpt-shallow]'] });
    expect(sel({ until: ['train[task=a,method=ft]'] }).selected).toEqual(['prep', 'train[task=a,method=ft]']);
    // Every ancestor, not only the direct ones: the trains' fingerprints need prep's output hash.
    expect(sel({ only: ['report'] })).toEqual({ selected: ['report'], required: stages.slice(0, 4).map((s) => s.id).sort() });
  });

  it('an unknown pattern is an error with a suggestion', () => {
    const r = selectStages(graph, { targets: ['reprot'] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.hint).toBe("did you mean 'report'?");
  });
});

describe('fingerprints', () => {
  const jsonValue = fc.jsonValue({ maxDepth: 3 }).filter((v) => v !== null && typeof v === 'object' && !Array.isArray(v)) as fc.Arbitrary<Record<string, unknown>>;
  const inputs = new Map([['data/x.csv', 'a'.repeat(64)]]);

  function reorderKeys(value: unknown, rng: () => number): unknown {
    if (Array.isArray(value)) return value.map((v) => reorderKeys(v, rng));
    if (value && typeof value === 'object') {
      const entries = Object.entries(value).sort(() => rng() - 0.5);
      return Object.fromEntries(entries.map(([k, v]) => [k, reorderKeys(v, rng)]));
    }
    return value;
  }

  it('does not change when keys are reordered (property)', () => {
    fc.assert(
      fc.property(jsonValue, fc.integer(), (params, seed) => {
        let s = seed;
        const rng = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
        const a = stage('x', [], { with: params, inputs: [{ path: 'data/x.csv' }] });
        const b = stage('x', [], { with: reorderKeys(params, rng) as Record<string, unknown>, inputs: [{ path: 'data/x.csv' }] });
        expect(fingerprintOf(fingerprintDoc(a, 1, inputs))).toBe(fingerprintOf(fingerprintDoc(b, 1, inputs)));
      }),
    );
  });

  it('changes with any param value, any input hash, the kind version and the env (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.oneof(fc.integer(), fc.string(), fc.boolean()), { minKeys: 1 }), fc.nat(), (params, pick) => {
        const keys = Object.keys(params);
        const key = keys[pick % keys.length] as string;
        const old = params[key];
        const changed = { ...params, [key]: typeof old === 'number' ? old + 1 : typeof old === 'boolean' ? !old : `${String(old)}x` };
        const base = stage('x', [], { with: params, inputs: [{ path: 'data/x.csv' }] });
        const fp = fingerprintOf(fingerprintDoc(base, 1, inputs));
        expect(fingerprintOf(fingerprintDoc(stage('x', [], { with: changed, inputs: [{ path: 'data/x.csv' }] }), 1, inputs))).not.toBe(fp);
        expect(fingerprintOf(fingerprintDoc(base, 1, new Map([['data/x.csv', 'b'.repeat(64)]])))).not.toBe(fp);
        expect(fingerprintOf(fingerprintDoc(base, 2, inputs))).not.toBe(fp);
        expect(fingerprintOf(fingerprintDoc({ ...base, env: { A: '1' } } as Stage, 1, inputs))).not.toBe(fp);
      }),
    );
  });

  it('explains a miss precisely', () => {
    const before = fingerprintDoc(stage('t', [], { with: { lr: 0.1 }, paramsUsed: { 'train.lr': 0.1 }, inputs: [{ path: 'd' }] }), 1, new Map([['d', 'a']]));
    const after = fingerprintDoc(stage('t', [], { with: { lr: 0.05 }, paramsUsed: { 'train.lr': 0.05 }, inputs: [{ path: 'd' }] }), 2, new Map([['d', 'b']]));
    expect(explainChange(before, after)).toEqual([
      { type: 'kind-version-changed', kind: 'test.kind', from: 1, to: 2 },
      { type: 'param-changed', path: 'train.lr', from: 0.1, to: 0.05 },
      { type: 'input-changed', path: 'd' },
    ]);
  });
});
