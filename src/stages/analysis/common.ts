/** Small helpers shared by the analysis kinds. */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { StageContext } from '../kind.js';

/** A kind failed: `run` throws this (the child process reports `reason: message`). */
export class AnalysisStageError extends Error {
  readonly reason: string;
  readonly path: string | undefined;
  constructor(reason: string, message: string, path?: string) {
    super(`${reason}: ${message}`);
    this.reason = reason;
    this.path = path;
  }
}

/** Workspace-relative (or absolute) param path to an absolute path. */
export function pathParam<P>(ctx: StageContext<P>, p: string): string {
  return isAbsolute(p) ? p : ctx.resolve(p);
}

export async function writeJsonFile(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** A file-name-safe form of a task or stage name. */
export const safeName = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, '_');

/**
 * Task folders from params: a folder holding task.json is a task; any other folder (e.g. a data
 * stage's whole `tasks` output) stands for the task folders inside it, sorted, minus `exclude`
 * (the reference set). Absolute paths out.
 */
export async function expandTaskDirs(paths: readonly string[], exclude: readonly string[] = []): Promise<string[]> {
  const skip = new Set(exclude.map((e) => resolve(e)));
  const out: string[] = [];
  for (const p of paths) {
    if (await isFile(join(p, 'task.json'))) {
      out.push(p);
      continue;
    }
    let entries: string[];
    try {
      entries = (await readdir(p)).sort();
    } catch (e) {
      throw new AnalysisStageError('missing', `${p}: neither a task folder (no task.json) nor a folder of tasks: ${(e as Error).message}`, p);
    }
    const found: string[] = [];
    for (const name of entries) if (await isFile(join(p, name, 'task.json'))) found.push(join(p, name));
    if (found.length === 0) throw new AnalysisStageError('missing', `${p}: no task.json in it or in its subfolders`, p);
    out.push(...found.filter((f) => !skip.has(resolve(f))));
  }
  return out;
}

async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isFile() ?? false;
}
