import { describe, expect, it } from 'vitest';
import { kindValidator } from '../src/dsl/schema.js';
import { analysisKinds } from '../src/stages/analysis/index.js';
import { reportKinds } from '../src/stages/report/index.js';

// The DSL validates `with:` against each kind's schema: ours must compile and mean what they say.
describe('analysis/report kind params schemas', () => {
  for (const kind of [...analysisKinds, ...reportKinds]) {
    it(`${kind.name} compiles`, () => {
      expect(typeof kindValidator(kind.paramsSchema)).toBe('function');
    });
  }

  it('accept good params and reject bad ones', () => {
    const v = (name: string, params: unknown): boolean => {
      const kind = [...analysisKinds, ...reportKinds].find((k) => k.name === name)!;
      const f = kindValidator(kind.paramsSchema);
      if (typeof f === 'string') throw new Error(f);
      return f(params) as boolean;
    };
    expect(v('analysis.fid', { reference: 'd/pretrain', tasks: ['d/a'], features: { source: 'inception', model: 'm/model.json', inputSize: [299, 299] } })).toBe(true);
    expect(v('analysis.fid', { reference: 'd/pretrain', tasks: ['d/a'], features: { source: 'backbone', model: 'm.safetensors', pooling: 'cls' } })).toBe(true);
    expect(v('analysis.fid', { reference: 'd/pretrain', tasks: [], features: { source: 'backbone', model: 'm' } })).toBe(false);
    expect(v('analysis.fid', { reference: 'd/pretrain', tasks: ['a'], features: { source: 'backbone', model: 'm', pooling: 'max' } })).toBe(false);
    expect(v('analysis.fid', { reference: 'd/pretrain', tasks: ['a'], features: { source: 'backbone', model: 'm', pooling: 'mean' }, repeats: 5, maxImages: 800 })).toBe(true);
    expect(v('analysis.fid', { reference: 'd/pretrain', tasks: ['a'], features: { source: 'backbone', model: 'm' }, repeats: 0 })).toBe(false);
    expect(v('analysis.fid', { reference: 'd/pretrain', tasks: ['a'], features: { source: 'backbone', model: 'm' }, repeats: 2.5 })).toBe(false);
    expect(v('analysis.fid', { reference: 'd/pretrain', tasks: ['a'], features: { source: 'backbone', model: 'm' }, eps: 0 })).toBe(false);
    expect(v('analysis.quadrants', { fid: ['x/fid.json'], threshold: 12.5 })).toBe(true);
    expect(v('analysis.quadrants', { threshold: 12.5 })).toBe(false);
    expect(v('analysis.select-images', { ft: 'a.json', vpt: 'b.json', limit: 4 })).toBe(true);
    expect(v('analysis.attribution', { model: 'm', task: 't', igRule: 'simpson' })).toBe(false);
    expect(v('analysis.attribution', { model: 'm', task: 't', selection: 's.json', which: 'both', methods: ['gradcam'], seed: 3 })).toBe(true);
    expect(v('report.study', { runs: ['a/metrics.json', { metrics: 'b.json', task: 'dtd', method: 'ft', seed: 42, stage: 'train[x]' }], lock: 'pipeline.lock', suite: 'vtab-full' })).toBe(true);
    expect(v('report.study', { runs: [] })).toBe(false);
    expect(v('report.study', { runs: ['a'], colour: 'red' })).toBe(false);
    // The follow-up studies: a prompt-length sweep (same shape as runs) and one-shot reference numbers (%, or null = not supplied).
    for (const kind of ['report.study', 'report.plots']) {
      expect(v(kind, { runs: ['a'], promptSweep: ['s/1.json', ['s/2.json', { metrics: 's/3.json', stage: 'sweep[len=50]' }]] })).toBe(true);
      expect(v(kind, { runs: ['a'], promptSweep: [] })).toBe(true);
      expect(v(kind, { runs: ['a'], promptSweep: [3] })).toBe(false);
      expect(v(kind, { runs: ['a'], reference: null })).toBe(true);
      expect(v(kind, { runs: ['a'], reference: { title: 'Han et al. one-shot', source: 'Tables 3-4', rows: { cifar100: { ft: 30.5, vpt: 40 }, svhn: { vpt: 12 } } } })).toBe(true);
      expect(v(kind, { runs: ['a'], reference: { rows: { cifar100: { ft: 30 } } } })).toBe(false);
      expect(v(kind, { runs: ['a'], reference: { title: 't', rows: { cifar100: { ft: 130 } } } })).toBe(false);
      expect(v(kind, { runs: ['a'], reference: { title: 't', rows: { cifar100: { top1: 30 } } } })).toBe(false);
      expect(v(kind, { runs: ['a'], reference: { title: 't', rows: { cifar100: {} } } })).toBe(false);
      expect(v(kind, { runs: ['a'], reference: 'paper' })).toBe(false);
    }
  });
});
