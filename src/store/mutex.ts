/**
 * The workspace run-mutex `.vpt/run.lock`: one `pipeline run` at a time per workspace.
 *
 * Taking it: the holder JSON is written to a temp file and `link()`ed into place, which fails
 * with EEXIST if the lock exists, so the lock never appears half-written. A lock is stale when its
 * pid (on this host) is gone, a zombie, or reused by a newer process (start time differs). A stale
 * lock is replaced by rename-over under a short takeover guard, so two processes cannot both take
 * it over. A lock from another host is never taken over: it is reported with its host.
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { err, ok, type Result } from '../util/result.js';
import { errnoCode, tempName } from './fs-atomic.js';
import { processLiveness, selfStartTicks, type Liveness } from './proc.js';

export interface LockHolder {
  pid: number;
  hostname: string;
  /** ISO time the lock was taken. */
  startedAt: string;
  command: string;
  /** Process start time (clock ticks since boot, /proc/<pid>/stat field 22): detects pid reuse. */
  procStart?: string;
  /** Identifies this acquisition, so `release` never removes somebody else's lock. */
  token?: string;
}

export interface AcquireOptions {
  /** true: poll until free (or `signal` aborts); false: return `busy` at once. */
  readonly wait: boolean;
  readonly pollMs?: number;
  /** Called when we start waiting on a holder (again whenever the holder changes). */
  readonly onWait?: (holder: LockHolder) => void;
  /** Called when a stale lock was taken over: the dead holder and why it was stale. */
  readonly onStale?: (holder: LockHolder, why: Exclude<Liveness, 'alive'> | 'unreadable') => void;
  readonly signal?: AbortSignal;
  /** What to record as the holder's command (default: this process's argv). */
  readonly command?: string;
}

export interface WorkspaceLock {
  readonly holder: LockHolder;
  release(): Promise<void>;
}

export type BusyError = { readonly reason: 'busy'; readonly holder: LockHolder; readonly message: string };

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (typeof h.pid !== 'number' || typeof h.hostname !== 'string' || typeof h.startedAt !== 'string' || typeof h.command !== 'string') return undefined;
    return h as LockHolder;
  } catch {
    return undefined;
  }
}

function describe(h: LockHolder): string {
  return `pid ${h.pid} on ${h.hostname} since ${h.startedAt} (${h.command})`;
}

async function writeTemp(dir: string, label: string, data: string): Promise<string> {
  const p = path.join(dir, tempName(label));
  const fh = await fsp.open(p, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return p;
}

/** A lock file that cannot be parsed: link() makes half-written ones impossible, so only damage
 * or a foreign writer explains it; give a live writer a moment before calling it stale. */
const UNREADABLE_STALE_MS = 10_000;

export async function acquireWorkspaceLock(workspace: string, opts: AcquireOptions): Promise<Result<WorkspaceLock, BusyError>> {
  const vpt = path.join(path.resolve(workspace), '.vpt');
  const tmpDir = path.join(vpt, 'tmp');
  await fsp.mkdir(tmpDir, { recursive: true });
  const lockPath = path.join(vpt, 'run.lock');
  const me: LockHolder = {
    pid: process.pid,
    hostname: os.hostname(),
    startedAt: new Date().toISOString(),
    command: opts.command ?? process.argv.slice(1).join(' '),
    procStart: selfStartTicks(),
    token: randomBytes(8).toString('hex'),
  };
  const meText = `${JSON.stringify(me)}\n`;
  const handle: WorkspaceLock = {
    holder: me,
    release: async () => {
      // Only remove the lock if it is still ours (a takeover by mistake must not be undone by us).
      const cur = await fsp.readFile(lockPath, 'utf8').catch(() => undefined);
      if (cur !== undefined && parseHolder(cur)?.token === me.token) await fsp.rm(lockPath, { force: true });
    },
  };
  let lastWaitedOn: string | undefined;
  for (;;) {
    const tmp = await writeTemp(tmpDir, 'runlock', meText);
    try {
      try {
        await fsp.link(tmp, lockPath);
        return ok(handle);
      } catch (e) {
        if (errnoCode(e) !== 'EEXIST') throw e;
      }
      const text = await fsp.readFile(lockPath, 'utf8').catch(() => undefined);
      if (text === undefined) continue; // released between our link and read: try again
      const holder = parseHolder(text);
      let stale: Exclude<Liveness, 'alive'> | 'unreadable' | undefined;
      let shown: LockHolder;
      if (holder === undefined) {
        const st = await fsp.stat(lockPath).catch(() => undefined);
        shown = { pid: 0, hostname: '?', startedAt: st?.mtime.toISOString() ?? '?', command: 'unreadable lock file' };
        if (st !== undefined && Date.now() - st.mtimeMs > UNREADABLE_STALE_MS) stale = 'unreadable';
      } else {
        shown = holder;
        if (holder.hostname === me.hostname) {
          const l = processLiveness(holder.pid, holder.procStart);
          if (l !== 'alive') stale = l;
        }
      }
      if (stale !== undefined) {
        const took = await takeOver(vpt, tmpDir, lockPath, text, tmp);
        if (took) {
          opts.onStale?.(shown, stale);
          return ok(handle);
        }
        continue;
      }
      const foreign = holder !== undefined && holder.hostname !== me.hostname;
      const message = foreign
        ? `workspace is locked by ${describe(shown)} on another host; it is never taken over automatically: if that run is gone, delete ${lockPath}`
        : `workspace is busy: another pipeline run holds ${lockPath}: ${describe(shown)}`;
      if (!opts.wait || opts.signal?.aborted === true) return err({ reason: 'busy', holder: shown, message: opts.signal?.aborted === true ? `${message} (gave up waiting)` : message });
      if (lastWaitedOn !== text) {
        lastWaitedOn = text;
        opts.onWait?.(shown);
      }
      await sleep(opts.pollMs ?? 250, opts.signal);
    } finally {
      await fsp.rm(tmp, { force: true });
    }
  }
}

/**
 * Replace the stale lock whose content was `staleText` by ours. A guard file (itself link()ed)
 * makes check-and-rename one step among processes: without it, two processes that both saw the
 * same stale lock could each rename over it and both believe they hold it.
 */
async function takeOver(vpt: string, tmpDir: string, lockPath: string, staleText: string, ourTmp: string): Promise<boolean> {
  const guard = path.join(vpt, 'run.lock.takeover');
  const guardTmp = await writeTemp(tmpDir, 'runlockguard', `${process.pid}\n`);
  try {
    try {
      await fsp.link(guardTmp, guard);
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
      // Someone else is taking over; a guard older than a few seconds was left by a crash mid-takeover.
      const st = await fsp.stat(guard).catch(() => undefined);
      if (st !== undefined && Date.now() - st.mtimeMs > 5_000) await fsp.rm(guard, { force: true });
      await sleep(20);
      return false;
    }
    try {
      const now = await fsp.readFile(lockPath, 'utf8').catch(() => undefined);
      if (now !== staleText) return false;
      // rename-over: the lock is never absent, so a third process cannot slip in via link().
      const ours = path.join(tmpDir, tempName('runlocknew'));
      await fsp.link(ourTmp, ours);
      await fsp.rename(ours, lockPath);
      return true;
    } finally {
      await fsp.rm(guard, { force: true });
    }
  } finally {
    await fsp.rm(guardTmp, { force: true });
  }
}
