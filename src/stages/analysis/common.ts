/** Small helpers shared by the analysis kinds. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute } from 'node:path';
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
