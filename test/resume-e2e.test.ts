/**
 * Resume, end to end, with the real `pipeline` command on a reduced pipeline (toy IDX data ->
 * data.idx -> two train.vit cells -> a shell summary of one of them):
 *
 * - `pipeline run` is killed (SIGKILL, and separately SIGTERM) while the second training stage is
 *   between epochs; the rerun leaves the finished stages alone (up to date, or restored from the
 *   store after `pipeline clean`), resumes the interrupted training from its last epoch checkpoint,
 *   and ends with the same bytes (model, metrics.json, predictions, the whole lock) as an
 *   uninterrupted run in another workspace.
 * - `--set` of one method's learning rate: `pipeline status` names exactly the stages that read it
 *   (and their downstream) with the reason, `pipeline run` runs exactly those, the others stay.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSafetensorsHeader } from '../src/io/safetensors.js';
import { processLiveness } from '../src/store/index.js';
import { runCli, startCli, workspace } from './helpers/cli.js';
import { toyIdxData } from './helpers/tiny-training.js';

const EPOCHS = 6;
const VPT = 'fit[method=vpt-deep]';
const LIN = 'fit[method=linear]';
const FITS = [VPT, LIN] as const;
/** Every command (run, status, show) plans with the same backend: `status` has no --backend option. */
const ENV = { VPT_BACKEND: 'cpu' };

/**
 * Per-method learning rates as params, so `--set lr.<method>=...` touches one cell only. The cell
 * that trains second (the one interrupted) keeps the default of 2 data-parallel workers; the first
 * uses 1, which saves a worker thread's start-up (seconds on a busy machine) in every run.
 */
function pipelineYaml(dataDir: string): string {
  return `
params:
  lr: { vpt-deep: 0.5, linear: 0.1 }
  workers: { vpt-deep: 1, linear: 2 }
stages:
  prep:
    uses: data.idx
    with: { dir: ${dataDir}, trainImages: ti.gz, trainLabels: tl.gz, testImages: ti.gz, testLabels: tl.gz, name: toy, numClasses: 2, imageSize: 8, testSize: 32 }
  fit:
    matrix:
      method: [vpt-deep, linear]
    uses: train.vit
    with:
      data: \${{ stages.prep.outputs.tasks }}/toy
      method: \${{ matrix.method }}
      promptLength: 2
      model: { imageSize: 8, channels: 1, patchSize: 4, width: 8, depth: 1, heads: 1, mlpRatio: 1, dropout: 0 }
      trainSplit: val200
      evalSplits: [test]
      testSplit: test
      epochs: ${EPOCHS}
      warmup: 1
      batch: 32
      baseLr: \${{ params.lr[matrix.method] }}
      seed: 3
      workers: \${{ params.workers[matrix.method] }}
  summary:
    shell: true
    run: wc -c < \${{ stages.fit[method=vpt-deep].outputs.metrics }} > \${{ outputs.x }}
    outs: { x: out/summary.txt }
`;
}

// ---------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exists = (p: string) => stat(p).then(() => true, () => false);

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, ms = 90_000): Promise<T> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const v = await check();
    if (v !== undefined) return v;
    await sleep(50);
  }
  throw new Error(`not reached in ${ms} ms: ${what}`);
}

const sha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

/** Output files of the training cells (weights, metrics.json, predictions) and the summary. */
function outputFiles(): string[] {
  const files = ['out/summary.txt'];
  for (const m of ['vpt-deep', 'linear']) for (const o of ['model', 'metrics', 'predictions']) files.push(`artifacts/pipeline/fit/method=${m}/${o}`);
  return files;
}

async function hashes(ws: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of outputFiles()) out[f] = await sha(join(ws, f));
  return out;
}

/** Stage ids in the lock file (one `  id:` line per stage). */
async function lockedStages(ws: string): Promise<string[]> {
  const text = await readFile(join(ws, 'pipeline.lock'), 'utf8').catch(() => '');
  return [...text.matchAll(/^ {2}(\S[^:]*):\s*$/gm)].map((m) => m[1] as string).sort();
}

/** Every training checkpoint in the workspace's store, with its completed epochs. */
async function checkpoints(ws: string): Promise<{ fingerprint: string; epochsDone: number }[]> {
  const root = join(ws, '.vpt', 'checkpoints');
  const found: { fingerprint: string; epochsDone: number }[] = [];
  for (const fp of await readdir(root).catch(() => [] as string[])) {
    const file = join(root, fp, 'train-state.safetensors');
    if (!(await exists(file))) continue;
    const h = await readSafetensorsHeader(file).catch(() => undefined);
    if (h?.ok) found.push({ fingerprint: fp, epochsDone: Number(h.value.metadata['epochsDone']) });
  }
  return found;
}

/** Pids of live processes whose command line mentions this workspace (stage processes spawned into it). */
async function processesIn(ws: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(`${ws}/`) && processLiveness(Number(entry)) === 'alive') pids.push(Number(entry));
  }
  return pids;
}

type Event = { type: string; id?: string; logFile?: string; summary?: { ran: number; restored: number; fresh: number; failed: number; skipped: number; cancelled: boolean } };
function events(stdout: string): Event[] {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Event);
}
const idsOf = (ev: Event[], type: string) => ev.filter((e) => e.type === type).map((e) => e.id as string).sort();
const summaryOf = (ev: Event[]) => ev.find((e) => e.type === 'run-end')?.summary;
/** The log of the stage's run in these events (from its stage-start event). */
function logOf(ev: Event[], id: string): Promise<string> {
  const file = ev.find((e) => e.type === 'stage-start' && e.id === id)?.logFile;
  if (file === undefined) throw new Error(`no stage-start event for ${id}`);
  return readFile(file, 'utf8');
}

/** Runs the CLI and insists on exit 0 (a plain Error: these helpers run inside concurrent tests). */
async function cliOk(args: string[], ws: string): Promise<string> {
  const r = await runCli(args, ws, ENV);
  if (r.exitCode !== 0) throw new Error(`pipeline ${args.join(' ')} exited ${r.exitCode}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

interface Show { lastRun: { fingerprint: string; environment: Record<string, unknown>; notes: string[]; log: string } }
const show = async (ws: string, id: string): Promise<Show> => JSON.parse(await cliOk(['show', id, '--json'], ws)) as Show;

type PlanRow = { id: string; action: string; fingerprint?: string; reasons: { type: string; path?: string; from?: unknown; to?: unknown; stage?: string }[] };
async function statusJson(ws: string, extra: string[] = []): Promise<Record<string, PlanRow>> {
  const rows = JSON.parse(await cliOk(['status', '--json', ...extra], ws)) as PlanRow[];
  return Object.fromEntries(rows.map((row) => [row.id, row]));
}

// ---------------------------------------------------------------------------------------------

interface Reference { readonly ws: string; readonly hashes: Record<string, string>; readonly lock: string }

/** The uninterrupted run, in its own workspace. */
async function referenceRun(yaml: string): Promise<Reference> {
  const ws = await workspace({ 'pipeline.yaml': yaml });
  const ev = events(await cliOk(['run', '--json'], ws));
  const summary = summaryOf(ev);
  if (summary?.ran !== 4 || summary.failed !== 0) throw new Error(`reference run: ${JSON.stringify(summary)}`);
  for (const id of FITS) {
    const log = await logOf(ev, id);
    if (!log.includes(`epoch ${EPOCHS}:`) || log.includes('resumed')) throw new Error(`reference run of ${id}:\n${log}`);
  }
  return { ws, hashes: await hashes(ws), lock: await readFile(join(ws, 'pipeline.lock'), 'utf8') };
}

let yaml = '';
// Started, not awaited, before the tests: the interrupted runs go on meanwhile, each test awaits it
// when it needs it. The three tests are concurrent (separate workspaces), which halves the wall time.
let reference: Promise<Reference>;

beforeAll(async () => {
  yaml = pipelineYaml(await toyIdxData());
  reference = referenceRun(yaml);
  reference.catch(() => undefined);
});

/**
 * Starts `pipeline run` (one stage at a time, so the order of events is known), waits until one
 * training cell is finished and in the lock and the other has checkpointed between 1 and
 * EPOCHS-1 epochs, then sends `signal` to the coordinator.
 */
async function interruptMidTraining(ws: string, signal: 'SIGKILL' | 'SIGTERM') {
  const child = startCli(['run', '--jobs', '1'], ws, ENV);
  let ended = false;
  void child.then(() => { ended = true; });
  const at = await waitFor('one fit cell finished and the other checkpointed mid-training', async () => {
    if (ended) throw new Error('the run ended before it could be interrupted');
    const done = (await lockedStages(ws)).filter((id) => id.startsWith('fit['));
    if (done.length !== 1) return undefined;
    const ck = (await checkpoints(ws)).find((c) => c.epochsDone >= 1 && c.epochsDone < EPOCHS);
    return ck ? { finished: done[0] as string, ...ck } : undefined;
  });
  child.kill(signal);
  const result = await child;
  return { ...at, interrupted: FITS.find((id) => id !== at.finished) as string, result };
}

describe.concurrent('a run interrupted mid-training resumes from its checkpoint and ends bitwise equal to an uninterrupted run', () => {
  it('SIGKILL of the coordinator: rerun keeps finished stages, resumes at epoch k > 0, same bytes', async ({ expect }) => {
    const ws = await workspace({ 'pipeline.yaml': yaml });
    const killed = await interruptMidTraining(ws, 'SIGKILL');
    expect(killed.result.signal).toBe('SIGKILL');
    // The orphaned stage process notices its coordinator is gone and stops; only then is the checkpoint final.
    await waitFor('the orphaned stage process to exit', async () => ((await processesIn(ws)).length === 0 ? true : undefined), 15_000);
    const ck = await checkpoints(ws);
    expect(ck).toHaveLength(1);
    const k = (ck[0] as { epochsDone: number }).epochsDone;
    expect(k).toBeGreaterThanOrEqual(killed.epochsDone);
    expect(k).toBeLessThan(EPOCHS);
    // Nothing of the interrupted stage reached the workspace or the lock.
    expect(await lockedStages(ws)).toEqual(['prep', killed.finished].sort());
    expect(await exists(join(ws, `artifacts/pipeline/fit/method=${killed.interrupted.slice(11, -1)}/model`))).toBe(false);

    // `pipeline status` between the runs: the finished stages are up to date, the interrupted one runs.
    const between = await statusJson(ws);
    expect(between['prep']?.action).toBe('fresh');
    expect(between[killed.finished]?.action).toBe('fresh');
    expect(between[killed.interrupted]?.action).toBe('run');
    expect(between[killed.interrupted]?.fingerprint).toBe(ck[0]?.fingerprint);
    expect(between['summary']?.action).toBe(killed.interrupted === VPT ? 'pending' : 'run');

    const rerun = await runCli(['run', '--json'], ws, ENV);
    expect(rerun.exitCode, rerun.stdout + rerun.stderr).toBe(0);
    const ev = events(rerun.stdout);
    expect(idsOf(ev, 'stage-start')).toEqual([killed.interrupted, 'summary'].sort());
    expect(idsOf(ev, 'stage-fresh')).toEqual(['prep', killed.finished].sort());
    expect(summaryOf(ev)).toMatchObject({ ran: 2, restored: 0, fresh: 2, failed: 0, cancelled: false });

    // It resumed, at exactly the checkpoint the killed run left.
    const rec = (await show(ws, killed.interrupted)).lastRun;
    expect(rec.environment['resumedFromEpoch']).toBe(k);
    expect(rec.notes).toContain(`resumed from the checkpoint after epoch ${k}`);
    const log = await logOf(ev, killed.interrupted);
    expect(log).toContain(`resumed from checkpoint after epoch ${k}\n`);
    // ...and trained only the remaining epochs in this process.
    expect(log.match(/^epoch \d+:/gm)).toEqual(Array.from({ length: EPOCHS - k }, (_, i) => `epoch ${k + i + 1}:`));

    const ref = await reference;
    expect(await hashes(ws)).toEqual(ref.hashes);
    expect(await readFile(join(ws, 'pipeline.lock'), 'utf8')).toBe(ref.lock);
    // The checkpoint is gone once its result is stored; the killed run's staging folder too.
    expect(await checkpoints(ws)).toEqual([]);
    expect(await readdir(join(ws, '.vpt', 'tmp'))).toEqual([]);
  }, 150_000);

  it('SIGTERM of the coordinator: exits 130, keeps the checkpoint; after `pipeline clean` the rerun restores finished stages and resumes', async ({ expect }) => {
    const ws = await workspace({ 'pipeline.yaml': yaml });
    const stopped = await interruptMidTraining(ws, 'SIGTERM');
    expect(stopped.result.exitCode, stopped.result.all).toBe(130);
    expect(stopped.result.stderr).toContain('interrupted: stopping running stages');
    // The coordinator waited for its stage process: nothing of the run is left running.
    expect(await processesIn(ws)).toEqual([]);
    const ck = await checkpoints(ws);
    expect(ck).toHaveLength(1);
    const k = (ck[0] as { epochsDone: number }).epochsDone;
    expect(k).toBeGreaterThanOrEqual(stopped.epochsDone);
    expect(k).toBeLessThan(EPOCHS);
    expect(await lockedStages(ws)).toEqual(['prep', stopped.finished].sort());

    // Outputs out of the workspace: the rerun must take the finished stages from the store.
    const clean = await runCli(['clean'], ws, ENV);
    expect(clean.exitCode, clean.stderr).toBe(0);
    expect(await exists(join(ws, `artifacts/pipeline/fit/method=${stopped.finished.slice(11, -1)}/model`))).toBe(false);

    const rerun = await runCli(['run', '--json'], ws, ENV);
    expect(rerun.exitCode, rerun.stdout + rerun.stderr).toBe(0);
    const ev = events(rerun.stdout);
    expect(idsOf(ev, 'stage-start')).toEqual([stopped.interrupted, 'summary'].sort());
    expect(idsOf(ev, 'stage-restored')).toEqual(['prep', stopped.finished].sort());
    expect(summaryOf(ev)).toMatchObject({ ran: 2, restored: 2, fresh: 0, failed: 0, cancelled: false });

    expect(await logOf(ev, stopped.interrupted)).toContain(`resumed from checkpoint after epoch ${k}\n`);

    const ref = await reference;
    expect(await hashes(ws)).toEqual(ref.hashes);
    expect(await readFile(join(ws, 'pipeline.lock'), 'utf8')).toBe(ref.lock);
    expect(await checkpoints(ws)).toEqual([]);
  }, 150_000);
});

describe.concurrent('--set of one method\'s learning rate', () => {
  it('status names exactly the stages that read it (and their downstream) and why; run reruns exactly those', async ({ expect }) => {
    const ref = await reference;
    // The reference workspace: everything up to date. Its hashes and lock were taken before this test changes it.
    const ws = ref.ws;
    const set = ['--set', 'lr.vpt-deep=0.25'];
    const status = await runCli(['status', '--all', ...set], ws, ENV);
    expect(status.exitCode, status.stderr).toBe(0);
    const [head, ...rows] = status.stdout.trimEnd().split('\n');
    expect(head).toMatch(/: 1 to run, 1 after upstream, 0 to restore, 2 up to date$/);
    // `  <id>  <action>  <why>`, one row per stage (--all lists the up-to-date ones too).
    const table = Object.fromEntries(rows.map((row) => {
      const m = /^\s+(\S+)\s+(up to date|run\?|run|restore)\s+(.*)$/.exec(row);
      if (!m) throw new Error(`unexpected status row: ${row}`);
      return [m[1], { action: m[2], why: m[3] }];
    }));
    expect(table).toEqual({
      prep: { action: 'up to date', why: 'up to date' },
      [LIN]: { action: 'up to date', why: 'up to date' },
      [VPT]: { action: 'run', why: 'param lr.vpt-deep 0.5 -> 0.25' },
      summary: { action: 'run?', why: `upstream ${VPT} will run` },
    });

    const run = await runCli(['run', '--json', ...set], ws, ENV);
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    const ev = events(run.stdout);
    expect(idsOf(ev, 'stage-start')).toEqual([VPT, 'summary'].sort());
    expect(idsOf(ev, 'stage-fresh')).toEqual(['prep', LIN].sort());
    expect(summaryOf(ev)).toMatchObject({ ran: 2, restored: 0, fresh: 2, failed: 0 });

    const after = await hashes(ws);
    const lin = outputFiles().filter((f) => f.includes('method=linear'));
    for (const f of lin) expect(after[f], f).toBe(ref.hashes[f]);
    expect(after['artifacts/pipeline/fit/method=vpt-deep/model']).not.toBe(ref.hashes['artifacts/pipeline/fit/method=vpt-deep/model']);
    const metrics = JSON.parse(await readFile(join(ws, 'artifacts/pipeline/fit/method=vpt-deep/metrics'), 'utf8')) as { baseLr: number; method: string };
    expect(metrics).toMatchObject({ method: 'vpt-deep', baseLr: 0.25 });

    // Back to the file's value: status names the param going back, not "output modified".
    const back = await runCli(['status'], ws, ENV);
    expect(back.exitCode, back.stderr).toBe(0);
    expect(back.stdout).toMatch(new RegExp(`${VPT.replace(/[[\]]/g, '\\$&')}\\s+restore\\s+param lr\\.vpt-deep 0\\.25 -> 0\\.5`));
    // The old results come from the store, nothing trains.
    const restore = await runCli(['run', '--json'], ws, ENV);
    expect(restore.exitCode, restore.stdout + restore.stderr).toBe(0);
    const rev = events(restore.stdout);
    expect(idsOf(rev, 'stage-start')).toEqual([]);
    expect(idsOf(rev, 'stage-restored')).toEqual([VPT, 'summary'].sort());
    expect(summaryOf(rev)).toMatchObject({ ran: 0, restored: 2, fresh: 2, failed: 0 });
    expect(await hashes(ws)).toEqual(ref.hashes);
    expect(await readFile(join(ws, 'pipeline.lock'), 'utf8')).toBe(ref.lock);
  }, 150_000);
});
