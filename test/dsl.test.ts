import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  PIPELINE_SCHEMA_PATH,
  didYouMean,
  formatDiagnostics,
  loadPipeline,
  parseDuration,
  parseMemory,
  shellQuote,
  splitArgs,
  stageSlug,
  type BuiltinStage,
  type CommandStage,
  type Diagnostic,
  type LoadOptions,
  type Pipeline,
  type Stage,
} from '../src/dsl/index.js';
import { expandMatrix } from '../src/dsl/matrix.js';
import { testKinds } from './fixtures/dsl/kinds.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const kinds = testKinds();
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** Writes `files` (path -> text) into a fresh folder and loads `main` from it. */
async function loadText(files: Record<string, string>, opts: Partial<LoadOptions> = {}, main = 'pipeline.yaml') {
  const root = mkdtempSync(path.join(tmpdir(), 'vpt-dsl-'));
  roots.push(root);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), text);
  }
  return { root, result: await loadPipeline(path.join(root, main), { kinds, ...opts }) };
}

async function loadOk(files: Record<string, string>, opts: Partial<LoadOptions> = {}): Promise<Pipeline> {
  const { result } = await loadText(files, opts);
  if (!result.ok) throw new Error(formatDiagnostics(result.error, { color: false }));
  return result.value;
}

async function loadErr(files: Record<string, string>, opts: Partial<LoadOptions> = {}): Promise<readonly Diagnostic[]> {
  const { result } = await loadText(files, opts);
  if (result.ok) throw new Error('expected the pipeline to fail');
  return result.error;
}

function stage(p: Pipeline, id: string): Stage {
  const s = p.stages.find((x) => x.id === id);
  if (!s) throw new Error(`no stage ${id}; have ${p.stages.map((x) => x.id).join(', ')}`);
  return s;
}
const builtin = (p: Pipeline, id: string): BuiltinStage => stage(p, id) as BuiltinStage;
const command = (p: Pipeline, id: string): CommandStage => stage(p, id) as CommandStage;

describe('the example pipeline (test/fixtures/dsl/basic)', async () => {
  const file = path.join(here, 'fixtures', 'dsl', 'basic', 'pipeline.yaml');
  const r = await loadPipeline(file, { kinds });
  if (!r.ok) throw new Error(formatDiagnostics(r.error, { color: false }));
  const p = r.value;

  it('parses name, workspace, files and stage order (includes first, matrix cells in expansion order)', () => {
    expect(p.name).toBe('vtab-mini');
    expect(p.workspace).toBe(path.dirname(file));
    expect(p.file).toBe(file);
    expect(p.files).toEqual([file, path.join(path.dirname(file), 'common.yaml'), path.join(path.dirname(file), 'params', 'mini.yaml')]);
    expect(p.stages.map((s) => s.id)).toEqual([
      'hello',
      'prep',
      'train[task=a,method=vpt-deep]',
      'train[task=b,method=ft]',
      'train[task=b,method=vpt-deep]',
      'train[task=c,method=linear]',
      'summarize',
    ]);
  });

  it('merges params: included < inline < params_files', () => {
    expect(p.params).toEqual({ common: { seed: 7 }, tasks: ['a', 'b'], train: { epochs: 3, lr: 0.1 } });
  });

  it('keeps the type of a whole-string reference and interpolates otherwise', () => {
    const prep = builtin(p, 'prep');
    expect(prep.with.tasks).toEqual(['a', 'b']);
    const t = builtin(p, 'train[task=b,method=ft]');
    expect(t.with).toEqual({ data: 'artifacts/vtab-mini/prep/tasks/b', method: 'ft', epochs: 3 });
    expect(typeof t.with.epochs).toBe('number');
    expect(t.paramsUsed).toEqual({ 'train.epochs': 3 });
  });

  it('records stage references as needs and inputs', () => {
    const t = builtin(p, 'train[task=a,method=vpt-deep]');
    expect(t.needs).toEqual(['prep']);
    expect(t.inputs).toEqual([{ path: 'artifacts/vtab-mini/prep/tasks', fromStage: 'prep', fromOutput: 'tasks' }]);
    const s = command(p, 'summarize');
    expect(s.needs).toHaveLength(4);
    expect(s.inputs.map((i) => i.path)).toContain('tools/summarize.py');
    expect(s.inputs.filter((i) => i.fromOutput === 'metrics')).toHaveLength(4);
  });

  it('splits run into argv, a list reference giving one argument per item', () => {
    const s = command(p, 'summarize');
    expect(s.shell).toBe(false);
    expect(s.command).toEqual([
      'python3',
      'tools/summarize.py',
      '--out',
      'results/summary.csv',
      'artifacts/vtab-mini/train/task=a,method=vpt-deep/metrics',
      'artifacts/vtab-mini/train/task=b,method=ft/metrics',
      'artifacts/vtab-mini/train/task=b,method=vpt-deep/metrics',
      'artifacts/vtab-mini/train/task=c,method=linear/metrics',
    ]);
    expect(command(p, 'hello').command).toEqual(['echo', 'hello world', '7']);
  });

  it('merges defaults, kind resources and stage settings; env pipeline < stage', () => {
    const t = builtin(p, 'train[task=a,method=vpt-deep]');
    expect(t.resources).toEqual({ cpu: 2, gpu: 0, memoryMiB: 4096 });
    expect(t.retries).toBe(1);
    expect(t.timeoutSeconds).toBe(7200);
    expect(t.env).toEqual({ COMMON: 'yes', OMP_NUM_THREADS: '1', TF_CPP_MIN_LOG_LEVEL: '2' });
    const prep = builtin(p, 'prep');
    expect(prep.resources).toEqual({ cpu: 1, gpu: 0, memoryMiB: 0 });
    expect(prep.retries).toBe(0);
    expect(prep.timeoutSeconds).toBe(1800);
  });

  it('assigns built-in output paths under outputs_root/<slug>/<name>', () => {
    expect(builtin(p, 'train[task=c,method=linear]').outputs).toEqual({
      metrics: 'artifacts/vtab-mini/train/task=c,method=linear/metrics',
      model: 'artifacts/vtab-mini/train/task=c,method=linear/model',
    });
    expect(command(p, 'hello').outputs).toEqual({ 'results/hello.txt': 'results/hello.txt' });
  });

  it('points each stage at its declaration', () => {
    const t = stage(p, 'summarize');
    expect(t.location.start.file).toBe(file);
    expect(t.location.start.line).toBe(26);
    expect(stage(p, 'hello').location.start.file).toBe(path.join(path.dirname(file), 'common.yaml'));
  });
});

describe('matrix', () => {
  it('expands with GitHub include/exclude semantics, include-only keys appended to ids', async () => {
    const p = await loadOk({
      'pipeline.yaml': `
stages:
  t:
    matrix:
      task: [a, b]
      method: [ft, vpt]
      exclude: [{ task: b, method: vpt }]
      include:
        - { method: ft, lr: 0.1 }
        - { task: c, method: linear }
        - { task: a, method: vpt }
    run: echo \${{ matrix.task }} \${{ matrix.method }}
    outs: ["r/\${{ matrix.task }}-\${{ matrix.method }}"]
`,
    });
    expect(p.stages.map((s) => s.id)).toEqual(['t[task=a,method=ft,lr=0.1]', 't[task=a,method=vpt]', 't[task=b,method=ft,lr=0.1]', 't[task=c,method=linear]']);
    expect(stage(p, 't[task=a,method=ft,lr=0.1]').matrix).toEqual({ task: 'a', method: 'ft', lr: 0.1 });
    expect(command(p, 't[task=c,method=linear]').command).toEqual(['echo', 'c', 'linear']);
  });

  it('takes its values from a params expression', async () => {
    const p = await loadOk({
      'pipeline.yaml': `
params: { seeds: [1, 2, 3] }
stages:
  t:
    matrix: { seed: "\${{ params.seeds }}" }
    uses: test.echo
    with: { n: "\${{ matrix.seed }}" }
`,
    });
    expect(p.stages.map((s) => [s.id, (s as BuiltinStage).with.n])).toEqual([
      ['t[seed=1]', 1],
      ['t[seed=2]', 2],
      ['t[seed=3]', 3],
    ]);
  });
});

describe('matrix-to-matrix references', () => {
  const files = {
    'pipeline.yaml': `
stages:
  train:
    matrix: { task: [a, b], method: [ft, vpt] }
    uses: test.train
    with: { method: "\${{ matrix.method }}" }
  eval:
    matrix: { task: [a, b], method: [ft, vpt] }
    run: eval \${{ stages.train.outputs.model }}
    outs: ["e/\${{ matrix.task }}-\${{ matrix.method }}"]
  per_task:
    matrix: { task: [b, a] }
    run: cmp \${{ stages.train.outputs.metrics }}
    outs: ["p/\${{ matrix.task }}"]
  pick:
    run: show \${{ stages.train[task=b,method=ft].outputs.model }}
    outs: [pick.txt]
  all:
    run: collect \${{ stages.train.outputs.metrics }}
    outs: [all.txt]
    needs: ["per_*"]
`,
  };

  it('binds a fully pinning cell to the one matching cell', async () => {
    const p = await loadOk(files);
    const e = command(p, 'eval[task=b,method=vpt]');
    expect(e.command).toEqual(['eval', 'artifacts/pipeline/train/task=b,method=vpt/model']);
    expect(e.needs).toEqual(['train[task=b,method=vpt]']);
  });

  it('binds a partially pinning cell to the agreeing cells, in expansion order', async () => {
    const p = await loadOk(files);
    const c = command(p, 'per_task[task=a]');
    expect(c.command).toEqual(['cmp', 'artifacts/pipeline/train/task=a,method=ft/metrics', 'artifacts/pipeline/train/task=a,method=vpt/metrics']);
    expect(c.needs).toEqual(['train[task=a,method=ft]', 'train[task=a,method=vpt]']);
    expect(c.inputs.map((i) => i.fromStage)).toEqual(['train[task=a,method=ft]', 'train[task=a,method=vpt]']);
  });

  it('binds an explicit cell selector and a matrix-less referrer', async () => {
    const p = await loadOk(files);
    expect(command(p, 'pick').command).toEqual(['show', 'artifacts/pipeline/train/task=b,method=ft/model']);
    const all = command(p, 'all');
    expect(all.command).toHaveLength(5);
    // `needs: ["per_*"]` is a glob over stage ids.
    expect(all.needs).toEqual([
      'per_task[task=a]',
      'per_task[task=b]',
      'train[task=a,method=ft]',
      'train[task=a,method=vpt]',
      'train[task=b,method=ft]',
      'train[task=b,method=vpt]',
    ]);
  });

  it('looks a param up by a matrix value: params.prompts[matrix.task]', async () => {
    const p = await loadOk({
      'pipeline.yaml': `
params:
  prompts: { dtd: 1, svhn: 200 }
stages:
  train:
    matrix: { task: [dtd, svhn] }
    run: train --prompts \${{ params.prompts[matrix.task] }}
`,
    });
    expect(command(p, 'train[task=svhn]').command).toEqual(['train', '--prompts', '200']);
    expect(stage(p, 'train[task=dtd]').paramsUsed).toEqual({ 'prompts.dtd': 1 });
    const bad = await loadErr({
      'pipeline.yaml': `
params:
  prompts: { dtd: 1 }
stages:
  train:
    matrix: { task: [dtd, svhn] }
    run: train --prompts \${{ params.prompts[matrix.task] }} \${{ params.prompts[matrix.tsk] }}
`,
    });
    expect(bad.map((d) => d.reason)).toContain('unknown-param');
    expect(bad.map((d) => d.message).join('\n')).toMatch(/unknown param `params.prompts.svhn`/);
    expect(bad.map((d) => d.message).join('\n')).toMatch(/matrix key `tsk` is not set/);
  });

  it('narrows a partial cell selector by the referrer\'s own matrix keys', async () => {
    const p = await loadOk({
      'pipeline.yaml': `
stages:
  train:
    matrix: { task: [a, b], method: [ft, vpt] }
    uses: test.train
    with: { method: "\${{ matrix.method }}" }
  compare:
    matrix: { task: [a, b] }
    run: cmp \${{ stages.train[method=ft].outputs.model }} \${{ stages.train[method=vpt].outputs.model }}
`,
    });
    expect(command(p, 'compare[task=b]').command).toEqual(['cmp', 'artifacts/pipeline/train/task=b,method=ft/model', 'artifacts/pipeline/train/task=b,method=vpt/model']);
    expect(stage(p, 'compare[task=b]').needs).toEqual(['train[task=b,method=ft]', 'train[task=b,method=vpt]']);
  });

  it('matches needs globs over cell ids and passes a list reference typed into with:', async () => {
    const p = await loadOk({
      'pipeline.yaml': `
stages:
  train:
    matrix: { task: [a, b], method: [ft, vpt] }
    uses: test.train
    with: { method: "\${{ matrix.method }}" }
  gate:
    run: echo gate
    needs: ["train[task=a,*]"]
  collect:
    uses: test.data
    with: { models: "\${{ stages.train.outputs.model }}" }
`,
    });
    expect(stage(p, 'gate').needs).toEqual(['train[task=a,method=ft]', 'train[task=a,method=vpt]']);
    expect(builtin(p, 'collect').with.models).toEqual([
      'artifacts/pipeline/train/task=a,method=ft/model',
      'artifacts/pipeline/train/task=a,method=vpt/model',
      'artifacts/pipeline/train/task=b,method=ft/model',
      'artifacts/pipeline/train/task=b,method=vpt/model',
    ]);
  });

  it('checks output names whose existence depends on params', async () => {
    const ds = await loadErr({
      'pipeline.yaml': `
stages:
  train:
    uses: test.train
    with: { metrics: false }
  use:
    run: cat \${{ stages.train.outputs.metrics }}
`,
    });
    expect(ds.map((d) => [d.reason, d.message])).toEqual([['unknown-output', 'stage `train` has no output `metrics`']]);
  });
});

describe('includes and params', () => {
  it('merges nested includes (diamonds once) relative to the including file', async () => {
    const p = await loadOk({
      'pipeline.yaml': 'include: [lib/a.yaml, lib/b.yaml]\nparams: { x: main }\nstages:\n  m: { run: "echo ${{ params.x }} ${{ params.y }}" }\n',
      'lib/a.yaml': 'include: [common.yaml]\nparams: { x: a, y: a }\nstages:\n  a: { run: echo a }\n',
      'lib/b.yaml': 'include: [common.yaml]\nstages:\n  b: { run: echo b }\n',
      'lib/common.yaml': 'env: { C: "1" }\nstages:\n  c: { run: echo c }\n',
    });
    expect(p.stages.map((s) => s.id)).toEqual(['c', 'a', 'b', 'm']);
    expect(command(p, 'm').command).toEqual(['echo', 'main', 'a']);
    expect(command(p, 'c').env).toEqual({ C: '1' });
  });

  it('applies params_files, then --params, then --set', async () => {
    const files = {
      'pipeline.yaml': `
params_files: [p/one.yaml]
params: { train: { epochs: 1, lr: 0.5 }, tasks: [a], name: x }
stages:
  t:
    matrix: { task: "\${{ params.tasks }}" }
    run: echo \${{ params.train.epochs }} \${{ params.train.lr }} \${{ params.name }}
    outs: ["o/\${{ matrix.task }}"]
`,
      'p/one.yaml': 'train: { epochs: 2 }\nname: one\n',
      'cli.yaml': 'name: cli\n',
    };
    const { root } = await loadText(files);
    const p = await loadOk(files, { paramsFiles: [path.join(root, 'cli.yaml')], set: ['train.lr=0.25', 'tasks=[b, c]'] });
    expect(p.params).toEqual({ name: 'cli', tasks: ['b', 'c'], train: { epochs: 2, lr: 0.25 } });
    expect(p.stages.map((s) => s.id)).toEqual(['t[task=b]', 't[task=c]']);
    expect(command(p, 't[task=b]').command).toEqual(['echo', '2', '0.25', 'cli']);
  });

  it('rejects bad --set flags with a suggestion', async () => {
    const files = { 'pipeline.yaml': 'params: { train: { epochs: 1 } }\nstages:\n  s: { run: echo hi }\n' };
    const ds = await loadErr(files, { set: ['train.epoch=3', 'train.epochs=', 'nonsense', 'train.epochs=[1'] });
    expect(ds.map((d) => d.reason).sort()).toEqual(['bad-override', 'bad-override', 'bad-override', 'unknown-param']);
    const unknown = ds.find((d) => d.reason === 'unknown-param');
    expect(unknown?.hint).toBe('did you mean `train.epochs`?');
    expect(unknown?.location).toBeUndefined();
    expect(ds.some((d) => d.message.includes('missing value after `=`'))).toBe(true);
  });

  it('reports a missing --params file', async () => {
    const ds = await loadErr({ 'pipeline.yaml': 'stages:\n  s: { run: echo hi }\n' }, { paramsFiles: ['/nonexistent/params.yaml'] });
    expect(ds).toHaveLength(1);
    expect(ds[0]?.reason).toBe('missing-file');
  });
});

describe('run: argv and shell quoting', () => {
  it('splits with shell-like quoting and no expansion', () => {
    const r = splitArgs(`prog "a b" 'c d' e\\ f "x\\"y" $HOME '' ~`);
    expect(r.ok && r.value).toEqual(['prog', 'a b', 'c d', 'e f', 'x"y', '$HOME', '', '~']);
    expect(splitArgs('echo "unterminated').ok).toBe(false);
  });

  it('keeps an interpolated value as exactly one argv element', async () => {
    const p = await loadOk({
      'pipeline.yaml': `
params: { msg: "two words; rm -rf /", list: [x, "y z"], empty: [] }
stages:
  s:
    run: prog --msg=\${{ params.msg }} \${{ params.msg }} "pre \${{ params.msg }}" \${{ params.list }} \${{ params.empty }} end
`,
    });
    expect(command(p, 's').command).toEqual(['prog', '--msg=two words; rm -rf /', 'two words; rm -rf /', 'pre two words; rm -rf /', 'x', 'y z', 'end']);
  });

  it('shell-quotes every interpolated value when shell: true', async () => {
    const p = await loadOk({
      'pipeline.yaml': `
params: { evil: "; rm -rf /", tricky: "it's \\"$(id)\\" \`x\`" }
stages:
  s:
    shell: true
    run: printf '%s\\n' \${{ params.evil }} "dq:\${{ params.tricky }}" 'sq:\${{ params.tricky }}' | cat
`,
    });
    const s = command(p, 's');
    expect(s.shell).toBe(true);
    expect(typeof s.command).toBe('string');
    expect(s.command).toContain(`'; rm -rf /'`);
    const out = execFileSync('sh', ['-c', s.command as string], { encoding: 'utf8' });
    expect(out.split('\n')).toEqual(['; rm -rf /', `dq:it's "$(id)" \`x\``, `sq:it's "$(id)" \`x\``, '']);
  });

  it('quotes only what needs quoting', () => {
    expect(shellQuote('plain/path-1.txt')).toBe('plain/path-1.txt');
    expect(shellQuote('a b')).toBe(`'a b'`);
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('')).toBe(`''`);
  });
});

describe('output paths', () => {
  it('uses outs, the default outputs_root and filesystem-safe slugs', async () => {
    const p = await loadOk({
      'pipeline.yaml': `
stages:
  s:
    matrix: { v: ["a b/c", "x%y"] }
    uses: test.echo
    with: { n: 1 }
  t:
    uses: test.echo
    with: { n: 2 }
    outs: { out: ./results/../results/t.txt }
`,
    });
    expect(builtin(p, 's[v=a b/c]').outputs).toEqual({ out: 'artifacts/pipeline/s/v=a%20b%2Fc/out' });
    expect(builtin(p, 's[v=x%y]').outputs).toEqual({ out: 'artifacts/pipeline/s/v=x%25y/out' });
    expect(builtin(p, 't').outputs).toEqual({ out: 'results/t.txt' });
  });

  it('accepts an absolute path inside the workspace and rejects nested outputs of two stages', async () => {
    const { root } = await loadText({ 'x.yaml': '' });
    const ds = await loadErr({
      'pipeline.yaml': `
workspace: ${root}
stages:
  a: { run: echo a, outs: { dir: ${root}/results } }
  b: { run: echo b, outs: { f: results/b.txt } }
`,
    });
    expect(ds.map((d) => d.reason)).toEqual(['output-conflict']);
    expect(ds[0]?.message).toContain('is inside output `dir` of `a`');
  });

  it('stageSlug encodes ids injectively', () => {
    expect(stageSlug('train[task=dtd,method=vpt-deep]')).toBe('train/task=dtd,method=vpt-deep');
    expect(stageSlug('prep')).toBe('prep');
    expect(stageSlug('s[v=é]')).toBe('s/v=%C3%A9');
    expect(stageSlug('s[v=a%2Fb]')).not.toBe(stageSlug('s[v=a/b]'));
  });
});

describe('units, suggestions, diagnostics', () => {
  it('parses memory and durations', () => {
    expect(parseMemory('4GiB')).toEqual({ ok: true, value: 4096 });
    expect(parseMemory('512MiB')).toEqual({ ok: true, value: 512 });
    expect(parseMemory(300)).toEqual({ ok: true, value: 300 });
    expect(parseMemory('4 gigs').ok).toBe(false);
    expect(parseDuration('1h30m')).toEqual({ ok: true, value: 5400 });
    expect(parseDuration('90s')).toEqual({ ok: true, value: 90 });
    expect(parseDuration(12)).toEqual({ ok: true, value: 12 });
    expect(parseDuration('0').ok).toBe(false);
    expect(parseDuration('soon').ok).toBe(false);
  });

  it('suggests close words only', () => {
    expect(didYouMean('neds', ['needs', 'deps', 'outs'])).toBe('needs');
    expect(didYouMean('retires', ['retries', 'resources'])).toBe('retries');
    expect(didYouMean('zzzz', ['needs', 'deps'])).toBeUndefined();
  });

  it('reports a cycle with every edge located', async () => {
    const ds = await loadErr({
      'pipeline.yaml': 'stages:\n  a: { run: "echo ${{ stages.b.outputs.o }}", outs: { o: a.txt } }\n  b: { run: echo b, outs: { o: b.txt }, needs: [a] }\n',
    });
    expect(ds).toHaveLength(1);
    const d = ds[0] as Diagnostic;
    expect(d.message).toBe('dependency cycle: a -> b -> a');
    expect(d.related?.map((r) => [r.message, r.location.start.line, r.location.start.column])).toEqual([
      ['`a` depends on `b`', 2, 19],
      ['`b` depends on `a`', 3, 49],
    ]);
  });

  it('formats diagnostics like a compiler, sorted, with the source line and underline', async () => {
    const ds = await loadErr({ 'pipeline.yaml': 'stages:\n  b: { run: echo, needs: [zz] }\n  a:\n    run: echo\n    neds: [b]\n' });
    const text = formatDiagnostics(ds, { color: false });
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/pipeline\.yaml:2:27: error: `needs` names unknown stage `zz` \[unknown-stage\]$/);
    expect(lines[1]).toBe('    b: { run: echo, needs: [zz] }');
    expect(lines[2]).toBe('                            ^~');
    expect(lines[3]).toMatch(/pipeline\.yaml:5:5: error: unknown key `neds` in stage `a`/);
    expect(lines[5]).toBe('      ^~~~');
    expect(lines[6]).toBe('hint: did you mean `needs`?');
    expect(lines.at(-1)).toBe('2 errors');
    expect(formatDiagnostics(ds, { color: true })).toContain('\x1b[');
  });

  it('reports a missing main file without a location', async () => {
    const r = await loadPipeline('/nonexistent/pipeline.yaml', { kinds });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.map((d) => [d.reason, d.location])).toEqual([['missing-file', undefined]]);
  });

  it('ships the JSON schema', () => {
    expect(existsSync(PIPELINE_SCHEMA_PATH)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const scalarPool = ['a', 'b', 'c', 1, 2, true] as const;

const matrixArb = fc
  .record({
    nKeys: fc.integer({ min: 1, max: 3 }),
    values: fc.array(fc.uniqueArray(fc.constantFrom(...scalarPool), { minLength: 1, maxLength: 3, selector: (v) => `${typeof v}:${String(v)}` }), { minLength: 3, maxLength: 3 }),
    exclude: fc.array(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.constantFrom(...scalarPool)), { minLength: 1, maxLength: 2 }), { maxLength: 3 }),
    include: fc.array(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom(...scalarPool)), { minLength: 1, maxLength: 2 }), { maxLength: 3 }),
  })
  .map(({ nKeys, values, exclude, include }) => {
    const keys = ['k0', 'k1', 'k2'].slice(0, nKeys);
    const toObj = (pairs: [number, string | number | boolean][], allowExtra: boolean): Record<string, string | number | boolean> => {
      const o: Record<string, string | number | boolean> = {};
      for (const [i, v] of pairs) {
        const k = i < nKeys ? keys[i] : allowExtra ? 'extra' : keys[i % nKeys];
        o[k as string] = v;
      }
      return o;
    };
    return {
      keys: keys.map((k, i) => [k, values[i] ?? ['a']] as [string, (string | number | boolean)[]]),
      exclude: exclude.map((e) => toObj(e, false)),
      include: include.map((e) => toObj(e, true)),
    };
  });

/** Independent count: |product| - |excluded| + |include entries that fit no remaining combination|. */
function expectedSize(m: { keys: [string, (string | number | boolean)[]][]; exclude: Record<string, unknown>[]; include: Record<string, unknown>[] }): number {
  let combos: Record<string, unknown>[] = [{}];
  for (const [k, vs] of m.keys) combos = combos.flatMap((c) => vs.map((v) => ({ ...c, [k]: v })));
  const product = combos.length;
  const kept = combos.filter((c) => !m.exclude.some((e) => Object.keys(e).every((k) => c[k] === e[k])));
  const declared = new Set(m.keys.map(([k]) => k));
  const includedNew = m.include.filter((inc) => !kept.some((c) => Object.keys(inc).every((k) => !declared.has(k) || c[k] === inc[k]))).length;
  return product - (product - kept.length) + includedNew;
}

function newIncludes(m: { keys: [string, (string | number | boolean)[]][]; exclude: Record<string, unknown>[]; include: Record<string, unknown>[] }): Record<string, unknown>[] {
  let combos: Record<string, unknown>[] = [{}];
  for (const [k, vs] of m.keys) combos = combos.flatMap((c) => vs.map((v) => ({ ...c, [k]: v })));
  const kept = combos.filter((c) => !m.exclude.some((e) => Object.keys(e).every((k) => c[k] === e[k])));
  const declared = new Set(m.keys.map(([k]) => k));
  return m.include.filter((inc) => !kept.some((c) => Object.keys(inc).every((k) => !declared.has(k) || c[k] === inc[k])));
}

function matrixYaml(m: { keys: [string, (string | number | boolean)[]][]; exclude: object[]; include: object[] }): string {
  const matrix: Record<string, unknown> = Object.fromEntries(m.keys);
  if (m.exclude.length) matrix.exclude = m.exclude;
  if (m.include.length) matrix.include = m.include;
  return stringify({ stages: { t: { matrix, run: 'echo ${{ matrix.k0 }}' } } });
}

describe('properties', () => {
  it('matrix size = |product| - |excluded| + |included-new|; ids unique and stable', async () => {
    await fc.assert(
      fc.asyncProperty(matrixArb, async (m) => {
        const want = expectedSize(m);
        expect(expandMatrix(m)).toHaveLength(want);
        const files = { 'pipeline.yaml': matrixYaml(m) };
        const first = await loadText(files);
        const second = await loadText(files);
        // The loader must refuse exactly these: no cells; a new include cell without k0 (which
        // `run` uses); two identical new include cells (duplicate ids).
        const fresh = newIncludes(m);
        const sig = fresh.map((e) => JSON.stringify(Object.entries(e).sort()));
        const valid = want > 0 && fresh.every((e) => 'k0' in e) && new Set(sig).size === sig.length;
        expect(first.result.ok).toBe(valid);
        if (!first.result.ok || !second.result.ok) return;
        const ids = first.result.value.stages.map((s) => s.id);
        expect(ids).toHaveLength(want);
        expect(new Set(ids).size).toBe(want);
        expect(second.result.value.stages.map((s) => s.id)).toEqual(ids);
      }),
      { numRuns: 60, seed: 20240601 },
    );
  });

  const jsonValue = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, fc.integer(), fc.boolean(), fc.constantFrom('x', 'y z', ''), fc.array(tie('leaf'), { maxLength: 3 }), tie('object')),
    leaf: fc.oneof(fc.integer(), fc.constantFrom('p', 'q')),
    object: fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd', 'e'), tie('value'), { maxKeys: 4 }),
  }));

  function shuffleKeys(v: unknown, order: number[]): unknown {
    if (Array.isArray(v)) return v.map((x) => shuffleKeys(x, order));
    if (v && typeof v === 'object') {
      const keys = Object.keys(v);
      const perm = keys.map((k, i) => [order[i % order.length] ?? 0, k] as const).sort((a, b) => a[0] - b[0]).map(([, k]) => k);
      return Object.fromEntries(perm.map((k) => [k, shuffleKeys((v as Record<string, unknown>)[k], order)]));
    }
    return v;
  }

  it('reordering keys in with: and params: gives the same expanded Pipeline', async () => {
    const strip = (p: Pipeline): string => JSON.stringify({ ...p, file: '', workspace: '', files: [], stages: p.stages.map((s) => ({ ...s, location: undefined })) });
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom('alpha', 'beta', 'gamma', 'delta'), jsonValue.value, { minKeys: 1, maxKeys: 4 }),
        fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 5 }),
        async (params, order) => {
          const withBlock = { n: 3, blob: '${{ params }}'.replace('params', `params.${Object.keys(params)[0] ?? 'alpha'}`), keep: params };
          const doc = (pr: unknown, w: unknown): string => stringify({ params: pr, stages: { s: { uses: 'test.data', with: w } } });
          const a = await loadText({ 'pipeline.yaml': doc(params, withBlock) });
          const b = await loadText({ 'pipeline.yaml': doc(shuffleKeys(params, order), shuffleKeys(withBlock, [...order].reverse())) });
          expect(a.result.ok).toBe(true);
          expect(b.result.ok).toBe(true);
          if (a.result.ok && b.result.ok) expect(strip(b.result.value)).toBe(strip(a.result.value));
        },
      ),
      { numRuns: 40, seed: 7 },
    );
  });
});

describe('threads vs reserved CPUs', () => {
  const pipeline = (stage: string): Record<string, string> => ({ 'pipeline.yaml': `stages:\n  fit:\n    uses: test.parallel\n${stage}` });

  it('warns (file:line:col, and the pipeline still loads) when a stage keeps more threads busy than it reserves', async () => {
    const p = await loadOk(pipeline('    resources: { cpu: 1 }\n'));
    expect(p.warnings).toHaveLength(1);
    const w = p.warnings?.[0];
    expect(w?.severity).toBe('warning');
    expect(w?.reason).toBe('oversubscribed');
    expect(w?.message).toContain('keeps 2 threads busy but reserves cpu: 1');
    expect(w?.hint).toContain('resources: { cpu: N }');
    expect(w?.location?.start.line).toBe(4);
    expect(w?.location?.start.column).toBe(5);
  });

  it('is quiet when the threads fit, when the kind default applies, and for GPU stages', async () => {
    expect((await loadOk(pipeline('    resources: { cpu: 1 }\n    with: { workers: 1 }\n'))).warnings).toBeUndefined();
    expect((await loadOk(pipeline(''))).warnings).toBeUndefined();
    expect((await loadOk(pipeline('    resources: { cpu: 1, gpu: 1 }\n'))).warnings).toBeUndefined();
    expect((await loadOk(pipeline('    with: { workers: 3 }\n'))).warnings?.[0]?.message).toContain('keeps 3 threads busy but reserves cpu: 2');
  });
});


describe('resources and timeout from the params', () => {
  const file = (stageExtra: string, params = 'budget: { train: { cpu: 3, gpu: 1, memory: 2GiB }, long: 2h }'): Record<string, string> => ({
    'pipeline.yaml': `name: p\nparams:\n  ${params}\n  tasks: [a, b]\nstages:\n  train:\n    matrix:\n      task: \${{ params.tasks }}\n    run: echo \${{ matrix.task }}\n${stageExtra}`,
  });

  it('one `${{ params.<path> }}` gives every cell its resources and timeout; --set changes them', async () => {
    const p = await loadOk(file('    resources: ${{ params.budget.train }}\n    timeout: ${{ params.budget.long }}\n'));
    for (const id of ['train[task=a]', 'train[task=b]']) {
      expect(stage(p, id).resources).toEqual({ cpu: 3, gpu: 1, memoryMiB: 2048 });
      expect(stage(p, id).timeoutSeconds).toBe(7200);
    }
    const q = await loadOk(file('    resources: ${{ params.budget.train }}\n'), { set: ['budget.train={ cpu: 1, memory: 512MiB }'] });
    expect(stage(q, 'train[task=a]').resources).toEqual({ cpu: 1, gpu: 0, memoryMiB: 512 });
  });

  it('a misspelt param, a matrix value, a non-object and an unknown key are located errors', async () => {
    const typo = await loadErr(file('    resources: ${{ params.budget.trian }}\n'));
    expect(typo.map((d) => [d.reason, d.hint])).toContainEqual(['unknown-param', 'did you mean `params.budget.train`?']);
    expect(typo.find((d) => d.reason === 'unknown-param')?.location?.start.line).toBe(10);
    const matrix = await loadErr(file('    resources: ${{ params.budget[matrix.task] }}\n'));
    expect(matrix.some((d) => d.reason === 'bad-value' && d.message.includes('may be one `${{ params.<path> }}` expression'))).toBe(true);
    const scalar = await loadErr(file('    resources: ${{ params.budget.long }}\n'));
    expect(scalar.some((d) => d.reason === 'bad-value' && d.message.includes('must give an object of cpu, gpu, memory, got "2h"'))).toBe(true);
    const key = await loadErr(file('    resources: ${{ params.budget.train }}\n', 'budget: { train: { cpus: 3 } }'));
    expect(key.some((d) => d.message.includes('unknown key `cpus`'))).toBe(true);
    const text = await loadErr(file('    resources: lots\n'));
    expect(text.some((d) => d.message.includes('resources') && d.location?.start.line === 10)).toBe(true);
  });

  it('`defaults.resources` stays literal', async () => {
    const d = await loadErr({ 'pipeline.yaml': 'name: p\nparams: { r: { cpu: 2 } }\ndefaults:\n  resources: ${{ params.r }}\nstages:\n  a:\n    run: echo a\n' });
    expect(d.some((x) => x.reason === 'bad-value' && x.message.includes('`defaults.resources` must be an object'))).toBe(true);
  });
});
