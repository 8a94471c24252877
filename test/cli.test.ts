/**
 * End-to-end: the real `pipeline` command on temporary workspaces with `run:` stages.
 * A stage appends its name to runs.log (not an output), so a test can see what really ran.
 */
import { chmod, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processLiveness } from '../src/store/index.js';
import { runCli, workspace } from './helpers/cli.js';

const TWO_STAGES = `
params:
  greeting: hello
  n: 1
stages:
  make:
    shell: true
    run: echo \${{ params.greeting }} > \${{ outputs.text }} && echo \${{ params.n }} > /dev/null && echo make >> runs.log
    outs: { text: out/make.txt }
  upper:
    shell: true
    run: tr a-z A-Z < \${{ stages.make.outputs.text }} > \${{ outputs.text }} && echo upper >> runs.log
    outs: { text: out/upper.txt }
`;

async function runs(ws: string): Promise<string[]> {
  try {
    return (await readFile(join(ws, 'runs.log'), 'utf8')).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('pipeline run: caching, reasons, restore', () => {
  it('runs in order, then does nothing, explains a param change, and restores an earlier value without running', async () => {
    const ws = await workspace({ 'pipeline.yaml': TWO_STAGES });
    const first = await runCli(['run'], ws);
    expect(first.exitCode, first.stdout + first.stderr).toBe(0);
    expect(await runs(ws)).toEqual(['make', 'upper']);
    expect(await readFile(join(ws, 'out/upper.txt'), 'utf8')).toBe('HELLO\n');
    const lock = await readFile(join(ws, 'pipeline.lock'), 'utf8');
    expect(lock).toContain('make');
    expect(lock).toContain('upper');

    const again = await runCli(['run'], ws);
    expect(again.exitCode).toBe(0);
    expect(await runs(ws)).toEqual(['make', 'upper']);
    expect(again.stdout).toMatch(/0 ran, 0 restored, 2 up to date/);

    const status = await runCli(['status', '--set', 'greeting=bye'], ws);
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toMatch(/make\s+run\s+param greeting hello -> bye/);
    expect(status.stdout).toMatch(/upper\s+run\?\s+upstream make will run/);

    expect((await runCli(['run', '--set', 'greeting=bye'], ws)).exitCode).toBe(0);
    expect(await readFile(join(ws, 'out/upper.txt'), 'utf8')).toBe('BYE\n');
    expect(await runs(ws)).toEqual(['make', 'upper', 'make', 'upper']);

    // Back to the earlier value: both results come from the store, nothing runs.
    const back = await runCli(['run'], ws);
    expect(back.exitCode).toBe(0);
    expect(back.stdout).toMatch(/0 ran, 2 restored/);
    expect(await runs(ws)).toEqual(['make', 'upper', 'make', 'upper']);
    expect(await readFile(join(ws, 'out/upper.txt'), 'utf8')).toBe('HELLO\n');
  });

  it('stops at an upstream rerun that reproduces its output byte for byte', async () => {
    const ws = await workspace({ 'pipeline.yaml': TWO_STAGES });
    expect((await runCli(['run'], ws)).exitCode).toBe(0);
    const r = await runCli(['run', '--set', 'n=2'], ws);
    expect(r.exitCode).toBe(0);
    expect(await runs(ws)).toEqual(['make', 'upper', 'make']);
    expect(r.stdout).toMatch(/1 ran, 0 restored, 1 up to date/);
  });

  it('restores a deleted output and rebuilds from a corrupted store object', async () => {
    const ws = await workspace({ 'pipeline.yaml': TWO_STAGES });
    expect((await runCli(['run'], ws)).exitCode).toBe(0);
    await rm(join(ws, 'out/upper.txt'));
    const status = await runCli(['status'], ws);
    expect(status.stdout).toMatch(/upper\s+restore\s+output out\/upper.txt missing/);
    const restored = await runCli(['run'], ws);
    expect(restored.stdout).toMatch(/0 ran, 1 restored/);
    expect(await readFile(join(ws, 'out/upper.txt'), 'utf8')).toBe('HELLO\n');

    // Corrupt every stored object whose content is HELLO, then lose the workspace copy.
    const objects = await listFiles(join(ws, '.vpt', 'objects'));
    let corrupted = 0;
    for (const file of objects) {
      if ((await readFile(file, 'utf8')) === 'HELLO\n') {
        await chmod(file, 0o644);
        await writeFile(file, 'HELLX\n');
        corrupted++;
      }
    }
    expect(corrupted).toBe(1);
    await rm(join(ws, 'out/upper.txt'));
    const rebuilt = await runCli(['run'], ws);
    expect(rebuilt.exitCode).toBe(0);
    expect(rebuilt.stdout + rebuilt.stderr).toMatch(/corrupt/i);
    expect(await readFile(join(ws, 'out/upper.txt'), 'utf8')).toBe('HELLO\n');
    expect(await runs(ws)).toEqual(['make', 'upper', 'upper']);
  });

  it('--dry-run shows the plan with one reason per stage and runs nothing', async () => {
    const ws = await workspace({ 'pipeline.yaml': TWO_STAGES });
    const r = await runCli(['run', '--dry-run'], ws);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/make\s+run\s+new stage/);
    expect(r.stdout).toMatch(/upper\s+run\?\s+upstream make will run/);
    expect(await runs(ws)).toEqual([]);
  });
});

describe('pipeline run: selection', () => {
  const THREE = `${TWO_STAGES}
  count:
    shell: true
    run: wc -c < \${{ stages.upper.outputs.text }} > \${{ outputs.n }} && echo count >> runs.log
    outs: { n: out/count.txt }
`;
  it('--until, --from, --only and targets', async () => {
    const ws = await workspace({ 'pipeline.yaml': THREE });
    const only = await runCli(['run', '--only', 'upper'], ws);
    expect(only.exitCode).toBe(2);
    expect(only.stderr).toMatch(/make .*not in the cache/);

    expect((await runCli(['run', '--until', 'upper'], ws)).exitCode).toBe(0);
    expect(await runs(ws)).toEqual(['make', 'upper']);
    expect((await runCli(['run', 'count'], ws)).exitCode).toBe(0);
    expect(await runs(ws)).toEqual(['make', 'upper', 'count']);

    expect((await runCli(['run', '--from', 'upper', '--force'], ws)).exitCode).toBe(0);
    // upper is forced; its output is unchanged, so count stays fresh.
    expect(await runs(ws)).toEqual(['make', 'upper', 'count', 'upper']);

    const bad = await runCli(['run', 'uper'], ws);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/no stage matches 'uper'.*did you mean 'upper'/);

    // --only count takes upper from the cache, and upper's fingerprint needs make's output hash:
    // every ancestor is decided, not only the direct one (this used to fail with "upper ... not in the cache ()").
    const onlyCount = await runCli(['run', '--only', 'count', '--force'], ws);
    expect(onlyCount.exitCode, onlyCount.stdout + onlyCount.stderr).toBe(0);
    expect(await runs(ws)).toEqual(['make', 'upper', 'count', 'upper', 'count']);
  });
});

describe('pipeline run: failures and exit codes', () => {
  it('a failing stage exits 1 and shows the tail of its output and the log path', async () => {
    const ws = await workspace({
      'pipeline.yaml': `
stages:
  boom:
    shell: true
    run: echo first line; echo "something broke" >&2; exit 3
    outs: { x: out/x.txt }
  after:
    shell: true
    run: cat \${{ stages.boom.outputs.x }} > \${{ outputs.y }}
    outs: { y: out/y.txt }
`,
    });
    const r = await runCli(['run'], ws);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/boom failed.*exited with code 3/);
    expect(r.stdout).toContain('something broke');
    expect(r.stdout).toMatch(/full log: .*\.vpt\/logs\/.*\.log/);
    // One summary line, not a line per skipped stage; --verbose lists them.
    expect(r.stdout).toContain('1 stage (after) not run because `boom` failed');
    expect(r.stdout).not.toMatch(/after skipped/);
    // No record, no lock entry, no output for a failed stage.
    await expect(stat(join(ws, 'out/x.txt'))).rejects.toThrow();
    const log = (r.stdout.match(/full log: (\S+)/) as RegExpMatchArray)[1] as string;
    expect(await readFile(log.startsWith('/') ? log : join(ws, log), 'utf8')).toContain('something broke');
  });

  it('an invalid pipeline exits 2 with file:line:col', async () => {
    const ws = await workspace({ 'pipeline.yaml': 'stages:\n  a:\n    rn: echo hi\n' });
    const r = await runCli(['run'], ws);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/pipeline\.yaml:3:5/);
  });

  it('refuses an output path that escapes the workspace, by its text (exit 2) or through a symlink (exit 1)', async () => {
    const outside = await workspace({});
    const ws = await workspace({
      'pipeline.yaml': `
stages:
  out:
    shell: true
    run: echo x > \${{ outputs.x }}
    outs: { x: ../escaped.txt }
`,
    });
    const r = await runCli(['run'], ws);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/pipeline\.yaml:6:\d+: error: .*outside the workspace/);

    const linked = await workspace({
      'pipeline.yaml': `
stages:
  out:
    shell: true
    run: echo x > \${{ outputs.x }}
    outs: { x: link/escaped.txt }
`,
    });
    await symlink(outside, join(linked, 'link'));
    const s = await runCli(['run'], linked);
    expect(s.exitCode).toBe(1);
    expect(s.stdout).toMatch(/outside the workspace/);
    await expect(stat(join(outside, 'escaped.txt'))).rejects.toThrow();
  });

  it('a stage that hangs past its timeout is killed with its whole process group', async () => {
    const ws = await workspace({
      'pipeline.yaml': `
stages:
  hang:
    shell: true
    run: (sleep 60; echo late > late.txt) & echo $! > bg.pid; sleep 60
    timeout: 5s
    outs: { x: out/x.txt }
`,
    });
    const started = Date.now();
    const r = await runCli(['run'], ws);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/hang failed.*timed out after 5s/);
    expect(Date.now() - started).toBeLessThan(30_000);
    const pid = Number(await readFile(join(ws, 'bg.pid'), 'utf8'));
    await new Promise((done) => setTimeout(done, 300));
    expect(processLiveness(pid)).not.toBe('alive');
  });

  it('retries a flaky stage, and --keep-going runs independent stages past a failure', async () => {
    const ws = await workspace({
      'pipeline.yaml': `
stages:
  flaky:
    shell: true
    run: if [ -f tried ]; then echo ok > \${{ outputs.x }}; else touch tried; exit 1; fi
    retries: 1
    outs: { x: out/flaky.txt }
  bad:
    shell: true
    run: exit 1
    outs: { x: out/bad.txt }
  good:
    shell: true
    run: echo good > \${{ outputs.x }}
    outs: { x: out/good.txt }
`,
    });
    const r = await runCli(['run', '--keep-going', '--jobs', '1'], ws);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/flaky failed \(attempt 1\).*retrying/);
    expect(await readFile(join(ws, 'out/flaky.txt'), 'utf8')).toBe('ok\n');
    expect(await readFile(join(ws, 'out/good.txt'), 'utf8')).toBe('good\n');
    expect(r.stdout).toMatch(/2 ran, 0 restored, 0 up to date, 1 failed/);
  });
});

describe('pipeline: lock, verify, gc, graph, show, json', () => {
  it('writes the same lock for the same work, and verify checks the workspace against it', async () => {
    const a = await workspace({ 'pipeline.yaml': TWO_STAGES });
    const b = await workspace({ 'pipeline.yaml': TWO_STAGES });
    expect((await runCli(['run'], a)).exitCode).toBe(0);
    expect((await runCli(['run'], b)).exitCode).toBe(0);
    expect(await readFile(join(a, 'pipeline.lock'), 'utf8')).toBe(await readFile(join(b, 'pipeline.lock'), 'utf8'));

    const ok = await runCli(['verify'], a);
    expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/2\/2 stage\(s\) reproduced/);
    await chmod(join(a, 'out/upper.txt'), 0o644);
    await writeFile(join(a, 'out/upper.txt'), 'tampered\n');
    const bad = await runCli(['verify'], a);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toMatch(/upper\s+differs/);

    const rerun = await runCli(['verify', '--rerun'], b);
    expect(rerun.exitCode, rerun.stdout + rerun.stderr).toBe(0);
    expect(rerun.stdout).toMatch(/upper\s+reproduced/);
  });

  it('gc keeps what the lock references and removes older results', async () => {
    const ws = await workspace({ 'pipeline.yaml': TWO_STAGES });
    expect((await runCli(['run', '--set', 'greeting=one'], ws)).exitCode).toBe(0);
    expect((await runCli(['run'], ws)).exitCode).toBe(0);
    const dry = await runCli(['gc', '--dry-run'], ws);
    expect(dry.stdout).toMatch(/would remove 2 run record/);
    const gc = await runCli(['gc'], ws);
    expect(gc.stdout).toMatch(/removed 2 run record/);
    const again = await runCli(['run'], ws);
    expect(again.stdout).toMatch(/2 up to date/);
    const old = await runCli(['run', '--set', 'greeting=one'], ws);
    expect(old.stdout).toMatch(/2 ran, 0 restored/);
  });

  it('graph prints Mermaid and DOT; show explains one stage; --json prints one event per line', async () => {
    const ws = await workspace({ 'pipeline.yaml': TWO_STAGES });
    const json = await runCli(['run', '--json'], ws);
    expect(json.exitCode, json.stdout + json.stderr).toBe(0);
    const events = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(events[0]?.type).toBe('run-start');
    expect(events.at(-1)?.type).toBe('run-end');
    expect(events.filter((e) => e.type === 'stage-succeeded'), json.stdout).toHaveLength(2);

    const mermaid = await runCli(['graph'], ws);
    expect(mermaid.stdout).toMatch(/flowchart TD[\s\S]*s0\["make"\][\s\S]*s0 --> s1/);
    const dot = await runCli(['graph', '--format', 'dot'], ws);
    expect(dot.stdout).toContain('"make" -> "upper";');

    const show = await runCli(['show', 'upper'], ws);
    expect(show.exitCode, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/fingerprint: [0-9a-f]{64}/);
    expect(show.stdout).toContain('out/make.txt');
    expect(show.stdout).toMatch(/log: .*\.log/);
  });
});

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else out.push(path);
  }
  return out;
}
