/**
 * The Slurm executor's parts without a cluster: state parsing and verdicts, sbatch flags and the
 * batch script (run through /bin/sh), the single adaptive poller, and the executor itself against
 * an in-memory fake of sbatch/squeue/scontrol/scancel (reattach, no double submission, Ctrl-C,
 * store probe failure, forgotten jobs).
 */
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { StageJob } from '../src/exec/executor.js';
import {
  buildSbatch,
  JobPoller,
  mergeSettings,
  parseElapsed,
  parseQueue,
  parseSacct,
  parseSbatchId,
  parseScontrol,
  readTail,
  SlurmExecutor,
  STORE_INVISIBLE_EXIT,
  timeLimitMinutes,
  verdictOf,
  type SlurmRunner,
} from '../src/exec/slurm/index.js';
import { Store } from '../src/store/index.js';
import { ok, err } from '../src/util/result.js';

const FP = (c: string): string => c.repeat(64);

function stageJob(ws: string, over: Partial<StageJob> = {}): StageJob {
  return {
    stageId: 'train[task=a,method=vpt]',
    runId: 'run-1',
    specFile: join(ws, 'spec.json'),
    resultFile: join(ws, 'result.json'),
    logFile: join(ws, 'stage.log'),
    workspace: ws,
    env: {},
    resources: { cpu: 2, gpu: 0, memoryMiB: 0 },
    timeoutSeconds: undefined,
    ...over,
  };
}

describe('squeue / scontrol / sacct parsing and verdicts', () => {
  it('parses squeue rows, elapsed times and unknown lines', () => {
    const rows = parseQueue('12|RUNNING|1:05|None\n13|PENDING|0:00|Resources\n\ngarbage\n14|COMPLETED|1-02:03:04|None\n');
    expect(rows.get('12')).toEqual({ jobId: '12', state: 'RUNNING', elapsedSeconds: 65, reason: 'None' });
    expect(rows.get('13')?.reason).toBe('Resources');
    expect(rows.get('14')?.elapsedSeconds).toBe(86400 + 2 * 3600 + 3 * 60 + 4);
    expect(rows.has('garbage')).toBe(false);
    expect(parseElapsed('2:00:01')).toBe(7201);
    expect(parseElapsed('INVALID')).toBe(0);
  });

  it('reads state, exit code, signal and node from scontrol; state and exit from sacct', () => {
    const d = parseScontrol('JobId=7 JobName=vpt:x JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=3:0 NodeList=n01 StdOut=/w/x.log');
    expect(d).toEqual({ state: 'FAILED', reason: 'NonZeroExitCode', exitCode: 3, signal: undefined, nodes: 'n01' });
    expect(parseScontrol('slurm_load_jobs error: Invalid job id specified')).toBeUndefined();
    expect(parseSacct('OUT_OF_MEMORY|0:125\n')).toEqual({ state: 'OUT_OF_MEMORY', exitCode: 0, signal: 125 });
    expect(parseSacct('')).toBeUndefined();
  });

  it('maps final states to outcome reasons', () => {
    expect(verdictOf('1', { state: 'COMPLETED', exitCode: 0, signal: undefined }).ok).toBe(true);
    expect(verdictOf('1', { state: 'FAILED', exitCode: 3, signal: undefined })).toMatchObject({ ok: false, reason: 'exit', exitCode: 3, message: expect.stringMatching(/code 3/) });
    expect(verdictOf('1', { state: 'FAILED', exitCode: 0, signal: 9 })).toMatchObject({ reason: 'exit', signal: 'SIGKILL' });
    expect(verdictOf('1', { state: 'TIMEOUT', exitCode: 0, signal: undefined }).reason).toBe('timeout');
    expect(verdictOf('1', { state: 'OUT_OF_MEMORY', exitCode: 0, signal: undefined }).reason).toBe('oom');
    expect(verdictOf('1', { state: 'CANCELLED', exitCode: 0, signal: 15 }).reason).toBe('cancelled');
    expect(verdictOf('1', { state: 'NODE_FAIL', exitCode: undefined, signal: undefined }).reason).toBe('lost');
  });

  it('parses sbatch --parsable output and rejects anything else', () => {
    expect(parseSbatchId('123\n')).toBe('123');
    expect(parseSbatchId('123;cluster\n')).toBe('123');
    expect(parseSbatchId('sbatch: error: invalid partition')).toBeUndefined();
    expect(parseSbatchId('')).toBeUndefined();
  });
});

describe('sbatch request', () => {
  it('maps resources, timeout and placement to flags; the stage id names the job', () => {
    const ws = '/w s';
    const req = buildSbatch(
      stageJob(ws, { resources: { cpu: 1.5, gpu: 2, memoryMiB: 4096 }, timeoutSeconds: 90, slurm: { partition: 'gpu', extraArgs: ['--constraint=a100'] }, logFile: '/w s/100%.log' }),
      ['node', 'child.js', '/w s/spec.json'],
      { comment: 'vpt-abc', probe: undefined, defaults: { account: 'proj', qos: 'low', extraArgs: ['--exclusive'] } },
    );
    expect(req.args).toEqual([
      '--parsable',
      '--job-name=vpt:train[task=a,method=vpt]',
      '--output=/w s/100%%.log',
      '--open-mode=append',
      '--chdir=/w s',
      '--comment=vpt-abc',
      '--nodes=1',
      '--ntasks=1',
      '--cpus-per-task=2',
      '--mem=4096M',
      '--gres=gpu:2',
      '--time=3',
      '--partition=gpu',
      '--account=proj',
      '--qos=low',
      '--exclusive',
      '--constraint=a100',
    ]);
    const plain = buildSbatch(stageJob(ws), ['x'], { comment: 'c', probe: undefined });
    expect(plain.args.some((a) => a.startsWith('--mem') || a.startsWith('--gres') || a.startsWith('--time'))).toBe(false);
    expect(timeLimitMinutes(60)).toBe(2);
    expect(timeLimitMinutes(0.5)).toBe(2);
  });

  it('stage settings win over pipeline ones; extra flags accumulate', () => {
    expect(mergeSettings({ partition: 'a', qos: 'q', extraArgs: ['-x'] }, { partition: 'b', extraArgs: ['-y'] })).toEqual({ partition: 'b', qos: 'q', extraArgs: ['-x', '-y'] });
    expect(mergeSettings(undefined, undefined)).toEqual({});
  });

  it('the batch script passes argv through /bin/sh word for word', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vpt-sbatch-'));
    const words = ["it's", 'a b', '$HOME', '`id`', '"q"', 'semi;colon', ''];
    const req = buildSbatch(stageJob(dir), ['printf', '<%s>\\n', ...words], { comment: 'c', probe: undefined });
    const r = await execa('sh', ['-s'], { input: req.script });
    expect(r.stdout.split('\n')).toEqual(words.map((w) => `<${w}>`));
    // The stage's env is set by the script itself (sites may default sbatch to --export=NONE).
    const withEnv = buildSbatch(stageJob(dir, { env: { GREETING: "it's $x" } }), ['sh', '-c', 'echo "$GREETING|$VPT_STAGE_ID"'], { comment: 'c', probe: undefined });
    const e = await execa('sh', ['-s'], { input: withEnv.script, env: { GREETING: 'outer' } });
    expect(e.stdout).toBe("it's $x|train[task=a,method=vpt]");
  });

  it('the store check fails with a clear message when the node does not see the nonce file, and passes when it does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vpt-probe-'));
    const probe = { file: join(dir, 'probe'), nonce: 'a'.repeat(32) };
    const req = buildSbatch(stageJob(dir), ['echo', 'ran'], { comment: 'c', probe });
    const missing = await execa('sh', ['-s'], { input: req.script, reject: false });
    expect(missing.exitCode).toBe(STORE_INVISIBLE_EXIT);
    expect(missing.stderr).toMatch(/cannot see the workspace store .*shared/);
    expect(missing.stdout).toBe('');
    await writeFile(probe.file, 'b'.repeat(32));
    expect((await execa('sh', ['-s'], { input: req.script, reject: false })).exitCode).toBe(STORE_INVISIBLE_EXIT);
    await writeFile(probe.file, probe.nonce);
    const seen = await execa('sh', ['-s'], { input: req.script, reject: false });
    expect(seen.exitCode).toBe(0);
    expect(seen.stdout).toBe('ran');
  });
});

describe('log tail', () => {
  it('keeps protocol lines out of the tail', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vpt-tail-'));
    const file = join(dir, 'x.log');
    await writeFile(file, ['a', '::vpt::{"type":"heartbeat"}', 'b', ...Array.from({ length: 30 }, (_, i) => `l${i}`), ''].join('\n'));
    const tail = await readTail(file, 5);
    expect(tail).toEqual(['l25', 'l26', 'l27', 'l28', 'l29']);
    expect(await readTail(join(dir, 'missing.log'))).toEqual([]);
  });
});

/** An in-memory Slurm: sbatch queues, tests move jobs between states, every call is recorded. */
class FakeSlurm {
  readonly calls: { command: string; args: readonly string[] }[] = [];
  readonly jobs = new Map<string, { state: string; exit: string; comment: string; elapsed: number }>();
  private next = 100;
  sbatchFails: string | undefined;

  readonly run: SlurmRunner = async (command, args) => {
    this.calls.push({ command, args });
    switch (command) {
      case 'sbatch': {
        if (this.sbatchFails) return err({ reason: 'rejected', message: this.sbatchFails, command });
        const id = String(this.next++);
        const comment = args.find((a) => a.startsWith('--comment='))?.slice('--comment='.length) ?? '';
        this.jobs.set(id, { state: 'PENDING', exit: '0:0', comment, elapsed: 0 });
        return ok(`${id}\n`);
      }
      case 'squeue': {
        if (args.includes('--me')) return ok([...this.jobs].map(([id, j]) => `${id}|${j.comment}`).join('\n'));
        const ids = (args.find((a) => a.startsWith('--jobs='))?.slice(7) ?? '').split(',');
        const known = ids.filter((id) => this.jobs.has(id));
        if (known.length === 0) return err({ reason: 'invalid-job', message: 'Invalid job id specified', command });
        return ok(known.map((id) => { const j = this.jobs.get(id)!; return `${id}|${j.state}|0:${String(j.elapsed).padStart(2, '0')}|None`; }).join('\n'));
      }
      case 'scontrol': {
        if (args[0] === 'show' && args[1] === 'config') return ok('AccountingStorageType   = accounting_storage/none\n');
        const j = this.jobs.get(args[3] ?? '');
        return j ? ok(`JobId=${args[3]} JobState=${j.state} Reason=None ExitCode=${j.exit} NodeList=node7`) : err({ reason: 'invalid-job', message: 'Invalid job id specified', command });
      }
      case 'scancel':
        for (const id of args) {
          const j = this.jobs.get(id);
          if (j && !['COMPLETED', 'FAILED'].includes(j.state)) j.state = 'CANCELLED';
        }
        return ok('');
      default:
        return err({ reason: 'not-installed', message: `${command}?`, command });
    }
  };

  count(command: string): number {
    return this.calls.filter((c) => c.command === command).length;
  }
}

async function freshWorkspace(): Promise<string> {
  const ws = await mkdtemp(join(tmpdir(), 'vpt-slurm-unit-'));
  await mkdir(join(ws, '.vpt'), { recursive: true });
  return ws;
}

/** Waits until `check` holds, polling fast (the fake cluster answers at once). */
async function eventually(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function attempt(exec: SlurmExecutor, ws: string, fingerprint: string, stageId = 'a'): Promise<StageJob> {
  const placement = await exec.prepareAttempt({ stageId, fingerprint });
  const specFile = join(placement.stagingDir, 'spec.json');
  if (!placement.reattach) await writeFile(specFile, '{}');
  return stageJob(ws, { stageId, fingerprint, specFile, resultFile: join(placement.stagingDir, 'result.json'), logFile: placement.reattach?.logFile ?? join(ws, `${stageId}.log`), runId: placement.reattach?.runId ?? 'r1' });
}

describe('JobPoller', () => {
  it('asks squeue once per tick for all jobs, fast while they are young, slower as they age', async () => {
    const fake = new FakeSlurm();
    for (const id of ['1', '2', '3']) fake.jobs.set(id, { state: 'RUNNING', exit: '0:0', comment: '', elapsed: 1 });
    const poller = new JobPoller(fake.run, { minMs: 10, maxMs: 200 });
    const seen: string[] = [];
    const stops = ['1', '2', '3'].map((id) => poller.watch(id, (s) => void seen.push(`${id}:${s.type}`)));
    await eventually(() => seen.length >= 9);
    const squeues = fake.calls.filter((c) => c.command === 'squeue');
    expect(squeues.length).toBeGreaterThanOrEqual(3);
    expect(squeues.length).toBeLessThan(seen.length);
    expect(squeues[0]?.args).toContain('--jobs=1,2,3');
    // A tenth of the youngest job's age, within [min, max].
    const now = Date.now();
    expect(poller.period(now)).toBeGreaterThanOrEqual(10);
    expect(poller.period(now + 60_000)).toBe(200);
    for (const stop of stops) stop();
    poller.close();
  });
});

describe('JobPoller age', () => {
  it('a job that waited long in the queue is young again when it starts running', async () => {
    const fake = new FakeSlurm();
    fake.jobs.set('1', { state: 'PENDING', exit: '0:0', comment: '', elapsed: 0 });
    const poller = new JobPoller(fake.run, { minMs: 5, maxMs: 1000 });
    let ticks = 0;
    const stop = poller.watch('1', () => void ticks++, Date.now() - 60_000);
    expect(poller.period()).toBe(1000);
    poller.nudge();
    await eventually(() => ticks >= 1);
    fake.jobs.get('1')!.state = 'RUNNING';
    poller.nudge();
    await eventually(() => ticks >= 2);
    expect(poller.period()).toBe(5);
    stop();
    poller.close();
  });
});

describe('SlurmExecutor against a fake cluster', () => {
  it('submits one job per attempt, records it, and reports success when it completes', async () => {
    const ws = await freshWorkspace();
    const fake = new FakeSlurm();
    const exec = new SlurmExecutor({ workspace: ws, run: fake.run, pollMinMs: 5, pollMaxMs: 20 });
    const job = await attempt(exec, ws, FP('a'));
    expect(job.specFile).toContain(join('.vpt', 'slurm', 'staging'));
    const progress: unknown[] = [];
    const running = exec.run(job, { onProgress: (u) => progress.push(u) }, new AbortController().signal);
    await eventually(() => exec['followed'].size === 1);
    const record = JSON.parse(await readFile(join(ws, '.vpt/slurm/jobs', `${FP('a')}.json`), 'utf8')) as { jobId: string; stagingDir: string };
    expect(record.jobId).toBe('100');
    await writeFile(job.logFile, '::vpt::{"type":"progress","update":{"current":1,"total":2}}\nhello\n');
    fake.jobs.get('100')!.state = 'RUNNING';
    await eventually(() => progress.length > 0);
    fake.jobs.get('100')!.state = 'COMPLETED';
    expect(await running).toEqual({ type: 'succeeded' });
    expect(progress).toEqual([{ current: 1, total: 2 }]);
    expect(fake.count('sbatch')).toBe(1);
    const sbatch = fake.calls.find((c) => c.command === 'sbatch');
    expect(sbatch?.args).toContain('--job-name=vpt:a');
    await exec.close();
  });

  it('a new coordinator reattaches to the running job of a dead one instead of submitting again', async () => {
    const ws = await freshWorkspace();
    const fake = new FakeSlurm();
    const first = new SlurmExecutor({ workspace: ws, run: fake.run, pollMinMs: 5, pollMaxMs: 20 });
    const job = await attempt(first, ws, FP('b'));
    void first.run(job, { onProgress: () => undefined }, new AbortController().signal);
    await eventually(() => first['followed'].size === 1);
    first['poller'].close(); // the coordinator "dies": nobody polls any more

    // Store.cleanTmp (dead coordinator pids) does not touch the job's staging folder.
    const store = await Store.open(ws);
    await store.cleanTmp();
    expect(await readdir(join(ws, '.vpt/slurm/staging'))).toHaveLength(1);

    const second = new SlurmExecutor({ workspace: ws, run: fake.run, pollMinMs: 5, pollMaxMs: 20 });
    const again = await attempt(second, ws, FP('b'));
    expect(again.specFile).toBe(job.specFile);
    expect(again.logFile).toBe(job.logFile);
    const outcome = second.run(again, { onProgress: () => undefined }, new AbortController().signal);
    fake.jobs.get('100')!.state = 'FAILED';
    fake.jobs.get('100')!.exit = '2:0';
    await writeFile(job.logFile, 'boom\n');
    expect(await outcome).toMatchObject({ type: 'failed', reason: 'exit', exitCode: 2, tail: ['boom'] });
    expect(fake.count('sbatch')).toBe(1);
  });

  it('finds a job by its comment token when the coordinator died before learning the job id', async () => {
    const ws = await freshWorkspace();
    const fake = new FakeSlurm();
    const first = new SlurmExecutor({ workspace: ws, run: fake.run, pollMinMs: 5, pollMaxMs: 20 });
    const job = await attempt(first, ws, FP('c'));
    void first.run(job, { onProgress: () => undefined }, new AbortController().signal);
    await eventually(() => first['followed'].size === 1);
    first['poller'].close();
    // Rewind the record to its pre-sbatch form.
    const path = join(ws, '.vpt/slurm/jobs', `${FP('c')}.json`);
    const rec = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    delete rec['jobId'];
    await writeFile(path, JSON.stringify(rec));

    const second = new SlurmExecutor({ workspace: ws, run: fake.run, pollMinMs: 5, pollMaxMs: 20 });
    const placement = await second.prepareAttempt({ stageId: 'a', fingerprint: FP('c') });
    expect(placement.reattach?.what).toBe('Slurm job 100');
    expect((JSON.parse(await readFile(path, 'utf8')) as { jobId?: string }).jobId).toBe('100');
  });

  it('a record without a job and without a result is dropped: the attempt is submitted fresh', async () => {
    const ws = await freshWorkspace();
    const fake = new FakeSlurm();
    const first = new SlurmExecutor({ workspace: ws, run: fake.run, pollMinMs: 5, pollMaxMs: 20 });
    const job = await attempt(first, ws, FP('d'));
    fake.sbatchFails = 'sbatch: error: Batch job submission failed: Invalid partition name specified';
    const out = await first.run(job, { onProgress: () => undefined }, new AbortController().signal);
    expect(out).toMatchObject({ type: 'failed', reason: 'spawn', message: expect.stringMatching(/Invalid partition/) });
    // The failed submission leaves no record.
    expect(await readdir(join(ws, '.vpt/slurm/jobs'))).toEqual([]);
    const placement = await first.prepareAttempt({ stageId: 'a', fingerprint: FP('d') });
    expect(placement.reattach).toBeUndefined();
  });

  it('Ctrl-C cancels exactly the jobs this run follows, with one scancel', async () => {
    const ws = await freshWorkspace();
    const fake = new FakeSlurm();
    fake.jobs.set('7', { state: 'RUNNING', exit: '0:0', comment: 'someone else', elapsed: 3 });
    const exec = new SlurmExecutor({ workspace: ws, run: fake.run, pollMinMs: 5, pollMaxMs: 20 });
    const abort = new AbortController();
    const jobs = [await attempt(exec, ws, FP('e'), 'e'), await attempt(exec, ws, FP('f'), 'f')];
    const outcomes = jobs.map((j) => exec.run(j, { onProgress: () => undefined }, abort.signal));
    // Both submitted and followed (sbatch answered, records written).
    await eventually(() => exec['followed'].size === 2);
    abort.abort();
    const results = await Promise.all(outcomes);
    expect(results.map((r) => (r.type === 'failed' ? r.reason : r.type))).toEqual(['cancelled', 'cancelled']);
    const scancels = fake.calls.filter((c) => c.command === 'scancel');
    expect(scancels).toHaveLength(1);
    expect([...(scancels[0]?.args ?? [])].sort()).toEqual(['100', '101']);
    expect(fake.jobs.get('7')?.state).toBe('RUNNING');
  });

  it('enforces the stage timeout to the second and reports it as a timeout', async () => {
    const ws = await freshWorkspace();
    const fake = new FakeSlurm();
    const exec = new SlurmExecutor({ workspace: ws, run: fake.run, pollMinMs: 5, pollMaxMs: 20 });
    const job = { ...(await attempt(exec, ws, FP('9'))), timeoutSeconds: 2 };
    const out = exec.run(job, { onProgress: () => undefined }, new AbortController().signal);
    await eventually(() => exec['followed'].size === 1);
    Object.assign(fake.jobs.get('100')!, { state: 'RUNNING', elapsed: 3 });
    expect(await out).toMatchObject({ type: 'failed', reason: 'timeout', message: expect.stringMatching(/timed out after 2s/) });
    expect(fake.calls.find((c) => c.command === 'sbatch')?.args).toContain('--time=2');
  });

  it('a node that cannot see the store stops further submissions with a clear message', async () => {
    const ws = await freshWorkspace();
    const fake = new FakeSlurm();
    const exec = new SlurmExecutor({ workspace: ws, run: fake.run, pollMinMs: 5, pollMaxMs: 20 });
    const job = await attempt(exec, ws, FP('1'));
    const out = exec.run(job, { onProgress: () => undefined }, new AbortController().signal);
    await eventually(() => exec['followed'].size === 1);
    // The first job of a run carries the probe check.
    expect(fake.calls.find((c) => c.command === 'sbatch')).toBeDefined();
    Object.assign(fake.jobs.get('100')!, { state: 'FAILED', exit: `${STORE_INVISIBLE_EXIT}:0` });
    expect(await out).toMatchObject({ type: 'failed', reason: 'spawn', message: expect.stringMatching(/node7 could not see the workspace store .*shared/) });
    const next = await exec.run(await attempt(exec, ws, FP('2')), { onProgress: () => undefined }, new AbortController().signal);
    expect(next).toMatchObject({ type: 'failed', reason: 'spawn' });
    expect(fake.count('sbatch')).toBe(1);
  });

  it('a job Slurm has forgotten is judged by its result file: success, failure, or lost', async () => {
    const ws = await freshWorkspace();
    const fake = new FakeSlurm();
    const exec = new SlurmExecutor({ workspace: ws, run: fake.run, pollMinMs: 5, pollMaxMs: 20 });
    const cases: [string, string | undefined, string][] = [
      [FP('3'), JSON.stringify({ ok: true, result: {} }), 'succeeded'],
      [FP('4'), JSON.stringify({ ok: false, error: 'bad data' }), 'exit'],
      [FP('5'), undefined, 'lost'],
    ];
    for (const [fp, result, expected] of cases) {
      const job = await attempt(exec, ws, fp);
      const out = exec.run(job, { onProgress: () => undefined }, new AbortController().signal);
      await eventually(() => [...fake.jobs.values()].some((j) => j.state === 'PENDING'));
      if (result !== undefined) await writeFile(job.resultFile, result);
      fake.jobs.clear(); // purged after MinJobAge
      const o = await out;
      expect(o.type === 'failed' ? o.reason : o.type).toBe(expected);
    }
  });
});
