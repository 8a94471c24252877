import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireWorkspaceLock, processLiveness, type LockHolder } from '../src/store/index.js';

const CHILD = fileURLToPath(new URL('./store-child.ts', import.meta.url));
let ws: string;
beforeEach(async () => {
  ws = await fs.mkdtemp(path.join(os.tmpdir(), 'vpt-mutex-'));
});
afterEach(async () => {
  await fs.rm(ws, { recursive: true, force: true });
});

const lockFile = (): string => path.join(ws, '.vpt/run.lock');

async function plantLock(h: Partial<LockHolder>): Promise<void> {
  await fs.mkdir(path.join(ws, '.vpt'), { recursive: true });
  const holder: LockHolder = { pid: 1, hostname: os.hostname(), startedAt: '2024-01-01T00:00:00.000Z', command: 'pipeline run old.yaml', ...h };
  await fs.writeFile(lockFile(), JSON.stringify(holder));
}

/** Field 22 of /proc/<pid>/stat (start time in ticks), read here independently of the store. */
function procStart(pid: number): string {
  const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19] ?? '0';
}

describe('workspace run-mutex', () => {
  it('a second acquirer gets busy with the holder; release frees it', async () => {
    const a = await acquireWorkspaceLock(ws, { wait: false, command: 'pipeline run a.yaml' });
    expect(a.ok).toBe(true);
    if (!a.ok) return;
    const b = await acquireWorkspaceLock(ws, { wait: false });
    expect(b.ok).toBe(false);
    if (b.ok) return;
    expect(b.error.reason).toBe('busy');
    expect(b.error.holder.pid).toBe(process.pid);
    expect(b.error.holder.command).toBe('pipeline run a.yaml');
    expect(b.error.holder.hostname).toBe(os.hostname());
    expect(b.error.message).toContain('pipeline run a.yaml');
    await a.value.release();
    await expect(fs.stat(lockFile())).rejects.toThrow();
    const c = await acquireWorkspaceLock(ws, { wait: false });
    expect(c.ok).toBe(true);
    if (c.ok) await c.value.release();
    // No temp files left behind.
    expect(await fs.readdir(path.join(ws, '.vpt/tmp'))).toEqual([]);
  });

  it('wait: true proceeds after release, calling onWait with the holder', async () => {
    const a = await acquireWorkspaceLock(ws, { wait: false, command: 'first' });
    if (!a.ok) throw new Error('first acquire failed');
    const waited: LockHolder[] = [];
    let released = false;
    const pending = acquireWorkspaceLock(ws, { wait: true, pollMs: 10, onWait: (h) => waited.push(h) });
    setTimeout(() => {
      released = true;
      void a.value.release();
    }, 150);
    const b = await pending;
    expect(released).toBe(true);
    expect(b.ok).toBe(true);
    expect(waited.map((h) => h.command)).toEqual(['first']);
    if (b.ok) await b.value.release();
  });

  it('wait: true gives up with busy when aborted', async () => {
    const a = await acquireWorkspaceLock(ws, { wait: false });
    if (!a.ok) throw new Error('first acquire failed');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const b = await acquireWorkspaceLock(ws, { wait: true, pollMs: 1000, signal: ac.signal });
    expect(!b.ok && b.error.reason).toBe('busy');
    await a.value.release();
  });

  it('takes over a lock left by a SIGKILLed process, and says so', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, 'lock', ws], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((r) => child.on('exit', r));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => (d.toString().startsWith('locked') ? resolve() : reject(new Error(d.toString()))));
    });
    const busy = await acquireWorkspaceLock(ws, { wait: false });
    expect(!busy.ok && busy.error.holder.pid).toBe(child.pid);
    child.kill('SIGKILL');
    await exited;
    const stale: { holder: LockHolder; why: string }[] = [];
    const r = await acquireWorkspaceLock(ws, { wait: false, onStale: (holder, why) => stale.push({ holder, why }) });
    expect(r.ok).toBe(true);
    expect(stale).toHaveLength(1);
    expect(stale[0]?.holder.pid).toBe(child.pid);
    expect(['dead', 'zombie']).toContain(stale[0]?.why);
    expect(JSON.parse(await fs.readFile(lockFile(), 'utf8')).pid).toBe(process.pid);
    if (r.ok) await r.value.release();
  });

  it('treats a zombie holder as dead (kill -0 would still succeed)', async () => {
    // sh starts a short sleep in the background, then execs a long sleep that never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const zpid = Number(await new Promise<string>((r) => parent.stdout.once('data', (d: Buffer) => r(d.toString().trim()))));
      const start = procStart(zpid);
      for (let i = 0; i < 100 && processLiveness(zpid) !== 'zombie'; i++) await new Promise((r) => setTimeout(r, 20));
      expect(processLiveness(zpid, start)).toBe('zombie');
      expect(() => process.kill(zpid, 0)).not.toThrow(); // the trap this guards against
      await plantLock({ pid: zpid, procStart: start });
      const why: string[] = [];
      const r = await acquireWorkspaceLock(ws, { wait: false, onStale: (_h, w) => why.push(w) });
      expect(r.ok).toBe(true);
      expect(why).toEqual(['zombie']);
      if (r.ok) await r.value.release();
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('treats a reused pid (different start time) as stale', async () => {
    await plantLock({ pid: process.pid, procStart: '1' });
    const why: string[] = [];
    const r = await acquireWorkspaceLock(ws, { wait: false, onStale: (_h, w) => why.push(w) });
    expect(r.ok).toBe(true);
    expect(why).toEqual(['reused']);
    if (r.ok) await r.value.release();
  });

  it('never takes over a lock from another host, and names the host', async () => {
    await plantLock({ pid: 999_999_999, hostname: 'gpu-node-7' });
    const r = await acquireWorkspaceLock(ws, { wait: false });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.holder.hostname).toBe('gpu-node-7');
    expect(r.error.message).toContain('gpu-node-7');
    expect(JSON.parse(await fs.readFile(lockFile(), 'utf8')).hostname).toBe('gpu-node-7');
  });

  it('two concurrent takeovers of one stale lock: exactly one wins', async () => {
    await plantLock({ pid: 999_999_999 });
    const results = await Promise.all([acquireWorkspaceLock(ws, { wait: false }), acquireWorkspaceLock(ws, { wait: false }), acquireWorkspaceLock(ws, { wait: false })]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    for (const r of results) if (r.ok) await r.value.release();
  });

  it('release does not remove a lock that is no longer ours', async () => {
    const a = await acquireWorkspaceLock(ws, { wait: false });
    if (!a.ok) throw new Error('acquire failed');
    await plantLock({ pid: process.pid, command: 'someone else' });
    await a.value.release();
    expect(JSON.parse(await fs.readFile(lockFile(), 'utf8')).command).toBe('someone else');
  });
});
