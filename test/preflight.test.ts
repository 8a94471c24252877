/**
 * A new user's first run: a stage whose data is missing stops the run before anything is started
 * (with file:line:col and the install hint), skipped stages are one summary line, `validate`
 * lists every missing piece of a VTAB-1k root, and no TensorFlow.js banner reaches the output.
 */
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeFakeVtabTask, tempDir } from './fixtures/data/make.js';
import { runCli, workspace } from './helpers/cli.js';
import { toyIdxData, toyTrainingPipeline } from './helpers/tiny-training.js';

async function runs(ws: string): Promise<string[]> {
  return (await readFile(join(ws, 'runs.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

describe('a stage that cannot start', () => {
  it('stops the run before any stage starts, at the stage line, with the install hint', async () => {
    const ws = await workspace({
      'pipeline.yaml': `
stages:
  warmup:
    shell: true
    run: echo warmup >> runs.log && echo ok > \${{ outputs.x }}
    outs: { x: out/warmup.txt }
  prep:
    uses: data.mini-vtab
    needs: [warmup]
    with: { fashionMnistDir: no-such-dir }
  cell:
    matrix: { n: [1, 2, 3] }
    shell: true
    run: echo cell >> runs.log && ls \${{ stages.prep.outputs.tasks }} > \${{ outputs.y }}
    outs: { y: "out/cell-\${{ matrix.n }}.txt" }
`,
    });
    const r = await runCli(['run'], ws);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/pipeline\.yaml:7:3: error: prep cannot start: Fashion-MNIST is not installed \(no IDX files in .*no-such-dir\)/);
    expect(r.stderr).toContain('hint: apt-get install dataset-fashion-mnist');
    expect(r.stderr).toContain('nothing was run');
    // Not even the stage before it, which has all it needs: nothing is built for a run that cannot finish.
    expect(await runs(ws)).toEqual([]);
    expect(r.stdout).not.toMatch(/skipped/);

    // The dry run says the same, and exits 1.
    const dry = await runCli(['run', '--dry-run'], ws);
    expect(dry.exitCode).toBe(1);
    expect(dry.stderr).toContain('prep cannot start');
  });

  it('a deps: file that is missing is named with every other problem, once for many stages', async () => {
    const ws = await workspace({
      'pipeline.yaml': `
stages:
  fit:
    matrix: { lr: [1, 2, 3, 4] }
    shell: true
    deps: [models/base.npz]
    run: echo fit >> runs.log && echo \${{ matrix.lr }} > \${{ outputs.m }}
    outs: { m: "out/fit-\${{ matrix.lr }}.txt" }
  other:
    shell: true
    deps: [data/labels.csv]
    run: echo other >> runs.log && cat data/labels.csv > \${{ outputs.o }}
    outs: { o: out/other.txt }
`,
    });
    const r = await runCli(['run'], ws);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('fit[lr=1] and 3 more stages cannot start: input models/base.npz does not exist');
    expect(r.stderr).toContain('other cannot start: input data/labels.csv does not exist');
    expect(r.stderr).toContain('2 errors');
    expect(await runs(ws)).toEqual([]);
  });

  it('validate lists each missing task folder, images/ and list file of a VTAB-1k root', async () => {
    const root = await tempDir('vtab-check');
    await makeFakeVtabTask(root, { folder: 'dtd', numClasses: 3, train: 4, val: 2, test: 2 });
    await makeFakeVtabTask(root, { folder: 'svhn', numClasses: 3, train: 4, val: 2, test: 2 });
    await rm(join(root, 'svhn', 'test.txt'));
    await rm(join(root, 'svhn', 'val200.txt'));
    const ws = await workspace({
      'pipeline.yaml': `
params:
  root: ${root}
stages:
  prep:
    uses: data.vtab1k
    with:
      root: \${{ params.root }}
      tasks: [dtd, svhn, clevr_count]
`,
    });
    const r = await runCli(['validate', 'pipeline.yaml'], ws);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('pipeline.yaml: valid (1 stage(s)');
    expect(r.stderr).toContain('prep cannot start: clevr_count: no folder under');
    expect(r.stderr).toContain('accepted names: clevr_count, clevr_count_all, clevr_count_1k');
    expect(r.stderr).toMatch(/prep cannot start: svhn \(.*svhn\): missing val200\.txt, test\.txt/);
    expect(r.stderr).not.toMatch(/dtd/);
    expect((await runCli(['validate', 'pipeline.yaml', '--no-data'], ws)).exitCode).toBe(0);

    // A root that does not exist at all is one line, not one per task.
    const gone = await runCli(['validate', 'pipeline.yaml', '--set', `root=${root}/nope`], ws);
    expect(gone.exitCode).toBe(1);
    expect(gone.stderr).toMatch(/the VTAB-1k root .*nope does not exist/);
    expect(gone.stderr).toContain('1 error');
  });
});

describe('a failed upstream stage', () => {
  it('is summarised in one line, not a line per skipped stage; --verbose lists them', async () => {
    const ws = await workspace({
      'pipeline.yaml': `
stages:
  prep:
    shell: true
    run: echo "no data here" >&2; exit 4
    outs: { d: out/data.txt }
  train:
    matrix: { task: [a, b, c, d, e], seed: [1, 2] }
    shell: true
    run: cat \${{ stages.prep.outputs.d }} > \${{ outputs.m }}
    outs: { m: "out/\${{ matrix.task }}-\${{ matrix.seed }}.txt" }
  report:
    shell: true
    run: cat \${{ stages.train.outputs.m }} > \${{ outputs.r }}
    outs: { r: out/report.txt }
`,
    });
    const r = await runCli(['run'], ws);
    expect(r.exitCode).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines.filter((l) => l.includes('not run'))).toEqual(['- 11 stages not run because `prep` failed; `--verbose` lists them']);
    expect(lines.filter((l) => /skipped:/.test(l))).toEqual([]);
    expect(r.stdout).toMatch(/failed: 0 ran, 0 restored, 0 up to date, 1 failed, 11 skipped/);

    const verbose = await runCli(['run', '--verbose'], ws);
    expect(verbose.stdout.split('\n').filter((l) => / skipped: upstream prep did not succeed/.test(l))).toHaveLength(11);
    expect(verbose.stdout).toContain('- 11 stages not run because `prep` failed');
    expect(verbose.stdout).not.toContain('`--verbose` lists them');

    // Scripts still get one event per stage, naming the failed root.
    const json = await runCli(['run', '--json'], ws);
    const skipped = json.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; cause?: unknown }).filter((e) => e.type === 'stage-skipped');
    expect(skipped).toHaveLength(11);
    for (const e of skipped) expect(e.cause).toEqual({ type: 'upstream-failed', failed: 'prep' });
  });
});

describe('quiet output', () => {
  it('a TensorFlow.js stage on the cpu backend prints no banner; its log names the backend and why', async () => {
    const ws = await workspace({ 'pipeline.yaml': toyTrainingPipeline(await toyIdxData()) });
    const r = await runCli(['run', '--backend', 'cpu'], ws);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    for (const text of [r.stdout, r.stderr]) {
      expect(text).not.toMatch(/looks like you are running TensorFlow\.js/i);
      expect(text).not.toMatch(/={10,}/);
    }
    const logs = await readdir(join(ws, '.vpt', 'logs'), { recursive: true });
    const fitLog = logs.find((f) => String(f).includes('fit') && String(f).endsWith('.log'));
    expect(fitLog).toBeDefined();
    const log = await readFile(join(ws, '.vpt', 'logs', String(fitLog)), 'utf8');
    expect(log).not.toMatch(/looks like you are running TensorFlow\.js/i);
    expect(log).toMatch(/backend cpu \(tfjs 4\.22\.0, simd false, threads 1\): asked for \(cpu\)/);
  });
});
