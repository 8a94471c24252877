/**
 * The child-process entry point for every stage (built-in kind or command), locally and on Slurm.
 * Usage: node child.js <stage-spec.json>
 * Exit code: 0 success, 1 stage failed, 2 bad spec.
 */
import { readFile, writeFile, rename, mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { ProgressUpdate, StageContext, StageRunResult } from '../stages/kind.js';
import { createRng } from '../util/rng.js';
import { encodeChildMessage, type StageOutcomeFile, type StageSpecFile } from './protocol.js';

async function writeOutcome(path: string, outcome: StageOutcomeFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(outcome));
  await rename(tmp, path);
}

function watchParent(onOrphaned: () => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) onOrphaned();
  }, 500);
  timer.unref();
}

async function runBuiltin(spec: StageSpecFile, task: Extract<StageSpecFile['task'], { type: 'builtin' }>, signal: AbortSignal): Promise<StageRunResult> {
  // Loaded only for built-in stages: a shell stage should not pay for the kind registry.
  const { builtinKinds } = await import('../stages/index.js');
  const kind = builtinKinds().get(task.uses);
  if (!kind) throw new Error(`unknown stage kind ${task.uses}`);
  const seed = typeof task.params['seed'] === 'number' ? task.params['seed'] : 0;
  let lastProgress = 0;
  const ctx: StageContext = {
    stageId: spec.stageId,
    params: task.params,
    workspace: spec.workspace,
    resolve: (p) => (isAbsolute(p) ? p : resolve(spec.workspace, p)),
    outputs: spec.outputs,
    checkpointDir: spec.checkpointDir,
    seed,
    rng: createRng(seed),
    log: (line) => process.stdout.write(`${line}\n`),
    progress: (update: ProgressUpdate) => {
      // Throttled here too, so a chatty stage cannot flood the coordinator.
      const now = Date.now();
      if (now - lastProgress < 200 && update.current !== update.total) return;
      lastProgress = now;
      process.stdout.write(encodeChildMessage({ type: 'progress', update }));
    },
    signal,
    backend: spec.backend,
  };
  await mkdir(spec.checkpointDir, { recursive: true });
  return kind.run(ctx);
}

async function runCommand(spec: StageSpecFile, task: Extract<StageSpecFile['task'], { type: 'command' }>, signal: AbortSignal): Promise<StageRunResult> {
  const { execa, ExecaError } = await import('execa');
  const options = { cwd: spec.workspace, stdio: 'inherit' as const, cancelSignal: signal, reject: true };
  try {
    if (task.shell) {
      await execa(String(task.command), { ...options, shell: '/bin/sh' });
    } else {
      const [file, ...args] = task.command as readonly string[];
      if (file === undefined) throw new Error('empty command');
      await execa(file, args, options);
    }
  } catch (e) {
    if (e instanceof ExecaError) throw new CommandFailed(e.exitCode === undefined ? `${e.shortMessage}` : `exited with code ${e.exitCode}`, e.exitCode ?? 1);
    throw e;
  }
  return {};
}

/** A command stage's own exit code becomes the child's, so the coordinator reports it as is. */
class CommandFailed extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

async function main(): Promise<number> {
  const specPath = process.argv[2];
  if (!specPath) {
    process.stderr.write('usage: child <stage-spec.json>\n');
    return 2;
  }
  let spec: StageSpecFile;
  try {
    spec = JSON.parse(await readFile(specPath, 'utf8')) as StageSpecFile;
  } catch (e) {
    process.stderr.write(`cannot read stage spec ${specPath}: ${(e as Error).message}\n`);
    return 2;
  }
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (spec.watchParent) {
    watchParent(() => {
      // The coordinator is gone (e.g. kill -9): nobody will collect this result.
      abort.abort();
      setTimeout(() => process.exit(137), 2000).unref();
    });
  }
  const heartbeat = setInterval(() => process.stdout.write(encodeChildMessage({ type: 'heartbeat' })), 30_000);
  heartbeat.unref();
  try {
    const result = spec.task.type === 'builtin' ? await runBuiltin(spec, spec.task, abort.signal) : await runCommand(spec, spec.task, abort.signal);
    if (abort.signal.aborted) throw new Error('cancelled');
    await writeOutcome(spec.resultFile, { ok: true, result });
    return 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (!(e instanceof CommandFailed)) process.stderr.write(`${message}\n`);
    if (e instanceof Error && e.stack && spec.task.type === 'builtin') process.stderr.write(`${e.stack.split('\n').slice(1, 6).join('\n')}\n`);
    await writeOutcome(spec.resultFile, { ok: false, error: message }).catch(() => undefined);
    return e instanceof CommandFailed && e.exitCode > 0 && e.exitCode < 128 ? e.exitCode : 1;
  } finally {
    clearInterval(heartbeat);
  }
}

// Exit explicitly: a backend may keep worker threads or timers alive after the stage is done.
process.exit(await main());
