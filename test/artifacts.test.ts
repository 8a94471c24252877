/**
 * The files one stage family writes and another reads (src/artifacts): what a writer writes, its
 * reader reads back as it was; anything in another shape or version is refused, naming the file
 * and what is wrong.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FID_FORMAT, parseFidSummary, parseLockStages, parseQuadrants, readFidSummary, readGridSelection, readImageSelection, readQuadrants, readRunMetrics,
  writeFidJson, writeQuadrantsJson, type FidSummary,
} from '../src/artifacts/index.js';
import { placeQuadrants } from '../src/stages/analysis/index.js';

describe('artifact formats', () => {
  it('quadrants.json and fid.json: written, read back equal, from a file or its stage folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vpt-artifacts-'));
    const table = placeQuadrants([{ task: 'a', fid: 1, disparity: 'low' }, { task: 'b', fid: 9, fidStd: 5, disparity: 'high', intendedSimilarity: 'near' }]);
    expect(table.uncertain).toEqual(['b']);
    await writeQuadrantsJson(join(dir, 'quadrants.json'), table);
    expect(await readQuadrants(dir)).toEqual({ ok: true, value: table });
    const summary: FidSummary = {
      format: FID_FORMAT, reference: 'pretrain', features: 'backbone cls',
      tasks: [{
        task: 'a', fid: 1.5, fidStd: 0.1, repeats: 2, fids: [1.4, 1.6], meanTerm: 1, covTerm: 0.5, offset: 0, rule: 'exact', route: 'symmetric-eigen',
        images: 10, referenceImages: 8, featureDim: 4, features: 'backbone cls', split: 'train800val200',
      }],
    };
    await writeFidJson(join(dir, 'fid.json'), summary);
    expect(await readFidSummary(dir)).toEqual({ ok: true, value: summary });
  });

  it('refuses other shapes and versions, naming the file', async () => {
    const q = parseQuadrants(JSON.stringify({ threshold: 1, rows: [] }), 'q.json');
    expect(!q.ok && q.error.message).toBe('q.json: format undefined, expected "vpt.quadrants/2" (the quadrants.json analysis.quadrants writes)');
    const rows = parseQuadrants(JSON.stringify({ format: 'vpt.quadrants/2', threshold: 1, thresholdRule: 'median', rows: [{ task: 'a', fid: 1 }], mismatches: [], uncertain: [] }), 'q.json');
    expect(!rows.ok && rows.error.message).toMatch(/rows\[0\] must hold/);
    const noStd = parseQuadrants(JSON.stringify({ format: 'vpt.quadrants/2', threshold: 1, thresholdRule: 'median', rows: [{ task: 'a', fid: 1, disparity: 'low', similarity: 'near', quadrant: 'q', mismatch: false }], mismatches: [], uncertain: [] }), 'q.json');
    expect(!noStd.ok && noStd.error.message).toBe('q.json: rows[0] must hold fidStd (a number >= 0), mismatch and uncertain (booleans)');
    const f = parseFidSummary(JSON.stringify({ format: 'vpt.fid/1', reference: 'r', features: 'x', tasks: [] }), 'f.json');
    expect(!f.ok && f.error.message).toMatch(/f\.json: format "vpt\.fid\/1", expected "vpt\.fid\/2"/);
    const t = parseFidSummary(JSON.stringify({ format: FID_FORMAT, reference: 'r', features: 'x', tasks: [{ task: 'a' }] }), 'f.json');
    expect(!t.ok && t.error.message).toBe('f.json: tasks[0].fid must be a finite number');
    // A vpt.fid/2 record without the new fields, one at a time.
    const full = { task: 'a', fid: 1.5, fidStd: 0, repeats: 1, fids: [1.5], meanTerm: 1, covTerm: 0.5, offset: 0, rule: 'exact', route: 'r', images: 10, referenceImages: 10, featureDim: 4, features: 'f', split: 's' };
    const without = (patch: Record<string, unknown>): string | false => {
      const r = parseFidSummary(JSON.stringify({ format: FID_FORMAT, reference: 'r', features: 'x', tasks: [{ ...full, ...patch }] }), 'f.json');
      return !r.ok && r.error.message;
    };
    expect(parseFidSummary(JSON.stringify({ format: FID_FORMAT, reference: 'r', features: 'x', tasks: [full] }), 'f.json').ok).toBe(true);
    expect(without({ route: undefined })).toBe('f.json: tasks[0].route must be a non-empty string');
    expect(without({ rule: 'approximate' })).toBe('f.json: tasks[0].rule must be exact or offset');
    expect(without({ fidStd: -1 })).toBe('f.json: tasks[0].fidStd must be a number >= 0');
    expect(without({ repeats: 2 })).toBe('f.json: tasks[0].fids must hold one finite number per repeat');
    expect(without({ referenceImages: undefined })).toBe('f.json: tasks[0].referenceImages must be an integer >= 1');
    const missing = await readRunMetrics('/nonexistent/metrics.json');
    expect(!missing.ok && missing.error).toMatchObject({ reason: 'unreadable', path: '/nonexistent/metrics.json' });
    const dir = await mkdtemp(join(tmpdir(), 'vpt-artifacts-'));
    // The shapes these files had before they had a format: refused, saying which format is meant.
    await writeFile(join(dir, 'best.json'), JSON.stringify({ baseLr: 0.1, weightDecay: 0, val_top1: 0.5 }));
    const grid = await readGridSelection(join(dir, 'best.json'));
    expect(!grid.ok && grid.error.message).toMatch(/best\.json: format undefined, expected "vpt\.grid-selection\/1"/);
    await writeFile(join(dir, 'sel.json'), JSON.stringify({ format: 'vpt.image-selection/1', ftFailsVptSucceeds: [{ index: 1 }], vptFailsFtSucceeds: 'none' }));
    const images = await readImageSelection(join(dir, 'sel.json'));
    expect(!images.ok && images.error.message).toMatch(/vptFailsFtSucceeds must be an array/);
    await writeFile(join(dir, 'quadrants.json'), '{ not json');
    const broken = await readQuadrants(dir);
    expect(!broken.ok && broken.error.message).toMatch(/quadrants\.json: not JSON/);
  });

  it('the lock as stages read it: the store\'s parser, its errors with file and place', () => {
    expect(parseLockStages(`version: 1\npipeline: x\nstages:\n  a:\n    fingerprint: ${'a'.repeat(64)}\n    kind: command\n    params: {}\n    deps: {}\n    outs: {}\n    metrics: {}\n`, 'x.lock'))
      .toEqual({ ok: true, value: [{ id: 'a', fingerprint: 'a'.repeat(64) }] });
    const shape = parseLockStages('version: 1\npipeline: x\nstages: [1, 2]', 'x.lock');
    expect(!shape.ok && shape.error.message).toMatch(/x\.lock: stages: must be a mapping .*\(line 3, column 9\)/);
    const yaml = parseLockStages('a: [', 'x.lock');
    expect(!yaml.ok && yaml.error.message).toMatch(/x\.lock: .*\(line 1, column 5\)/);
    // The shape the report's old parser expected (an environment per stage) is not the lock format.
    const env = parseLockStages(`version: 1\npipeline: x\nstages:\n  a:\n    fingerprint: ${'a'.repeat(64)}\n    environment: { backend: cpu }\n`, 'x.lock');
    expect(!env.ok && env.error.message).toMatch(/unknown key/);
  });
});
