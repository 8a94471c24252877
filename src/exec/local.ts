/**
 * The local executor: the stage's child process runs on this machine, in its own process group,
 * so a timeout or Ctrl-C kills everything it started (a shell, a Python script, worker threads).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { childEntryArgv } from './child-command.js';
import type { Executor, JobHooks, JobOutcome, StageJob } from './executor.js';
import { decodeChildMessage } from './protocol.js';

const TAIL_LINES = 20;
/** Time between SIGTERM and SIGKILL when stopping a stage. */
const KILL_GRACE_MS = 3000;

export class LocalExecutor implements Executor {
  readonly name = 'local';

  async run(job: StageJob, hooks: JobHooks, signal: AbortSignal): Promise<JobOutcome> {
    await mkdir(dirname(job.logFile), { recursive: true });
    const log = createWriteStream(job.logFile, { flags: 'a' });
    const tail: string[] = [];
    const [file, ...args] = childEntryArgv(job.specFile) as [string, ...string[]];
    // Loaded on first use: a run where everything is fresh never starts a process.
    const { execa } = await import('execa');
    const child = execa(file, args, {
      cwd: job.workspace,
      env: { ...job.env, VPT_STAGE_ID: job.stageId },
      extendEnv: true,
      detached: true,
      reject: false,
      buffer: false,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const pid = child.pid;
    if (pid === undefined) {
      const result = await child;
      log.end();
      return { type: 'failed', reason: 'spawn', message: `could not start the stage process: ${result.message ?? 'unknown error'}`, tail: [] };
    }

    let stopReason: 'timeout' | 'cancelled' | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = (reason: 'timeout' | 'cancelled'): void => {
      if (stopReason) return;
      stopReason = reason;
      killGroup(pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
    };
    const timeout = job.timeoutSeconds === undefined ? undefined : setTimeout(() => stop('timeout'), job.timeoutSeconds * 1000);
    const onAbort = (): void => stop('cancelled');
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });

    const pump = (stream: Readable | null): Promise<void> =>
      stream ? consumeLines(stream, log, tail, hooks) : Promise.resolve();
    const [result] = await Promise.all([child, pump(child.stdout), pump(child.stderr)]);
    if (timeout) clearTimeout(timeout);
    if (killTimer) clearTimeout(killTimer);
    signal.removeEventListener('abort', onAbort);
    // Whatever the stage left running in its group goes too.
    killGroup(pid, 'SIGKILL');
    await new Promise<void>((done) => log.end(done));

    if (stopReason === 'timeout') {
      return { type: 'failed', reason: 'timeout', message: `timed out after ${job.timeoutSeconds}s`, tail };
    }
    if (stopReason === 'cancelled') return { type: 'failed', reason: 'cancelled', message: 'cancelled', tail };
    if (result.exitCode === 0) return { type: 'succeeded' };
    const signalName = result.signal;
    const message = signalName
      ? `killed by ${signalName}${signalName === 'SIGKILL' ? ' (out of memory, or killed from outside)' : ''}`
      : `exited with code ${result.exitCode ?? 'unknown'}`;
    return {
      type: 'failed',
      reason: 'exit',
      ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
      ...(signalName ? { signal: signalName } : {}),
      message,
      tail,
    };
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

async function consumeLines(stream: Readable, log: WriteStream, tail: string[], hooks: JobHooks): Promise<void> {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  for await (const line of lines) {
    const message = decodeChildMessage(line);
    if (message) {
      if (message.type === 'progress') hooks.onProgress(message.update);
      continue;
    }
    log.write(`${line}\n`);
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  }
}
