/**
 * Atomic file placement: write a temp file, fsync it, rename it over the target. A `kill -9`
 * at any moment leaves the old or the new content, never a mix. Temp names carry the creating
 * pid and its start time so leftovers of dead processes can be recognised and removed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { selfStartTicks } from './proc.js';

/** 8 hex digits naming this host: a workspace on a shared filesystem may be used from several machines. */
export function hostTag(): string {
  return createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
}

let ownerTag: string | undefined;
/** `<pid>-<startTicks>-<hostTag>`, the part of every temp name that identifies its creator. */
export function owner(): string {
  ownerTag ??= `${process.pid}-${selfStartTicks()}-${hostTag()}`;
  return ownerTag;
}

/** `<label>.<pid>-<ticks>-<host>.<random>`: parsed back by `parseTempName`. */
export function tempName(label: string): string {
  const safe = label.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 60) || 'tmp';
  return `${safe}.${owner()}.${randomBytes(6).toString('hex')}`;
}

const TEMP_RE = /\.(\d+)-(\d+)-([0-9a-f]{8})\.[0-9a-f]{12}(?:\.tmp)?$/;
export function parseTempName(name: string): { pid: number; startTicks: string; host: string } | undefined {
  const m = TEMP_RE.exec(name);
  if (m === null || m[1] === undefined || m[2] === undefined || m[3] === undefined) return undefined;
  return { pid: Number(m[1]), startTicks: m[2], host: m[3] };
}

export async function fsyncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic, just less durable.
  } finally {
    await fh?.close();
  }
}

export interface AtomicWriteOptions {
  /** Folder for the temp file; must be on the same filesystem as `target`. Default: the target's folder. */
  readonly tmpDir?: string;
  readonly mode?: number;
  /** fsync the target's folder after the rename (durability across power loss, not needed for kill -9). */
  readonly syncDir?: boolean;
}

export async function writeFileAtomic(target: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(target);
  const tmp = path.join(opts.tmpDir ?? dir, `.${tempName(path.basename(target))}.tmp`);
  const fh = await fsp.open(tmp, 'wx', opts.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  if (opts.syncDir === true) await fsyncDir(dir);
}

export function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A tiny concurrency limiter (no dependency): at most `n` tasks run at once. */
export function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    // A finishing task hands its slot straight to the next waiter, so `active` never exceeds n.
    if (active >= n) await new Promise<void>((resolve) => queue.push(resolve));
    else active++;
    try {
      return await task();
    } finally {
      const wake = queue.shift();
      if (wake !== undefined) wake();
      else active--;
    }
  };
}
