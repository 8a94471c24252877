/** The one error of reading an artifact (which file, and what is wrong with it), and the reading itself. */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { err, ok, type Result } from '../util/result.js';

export interface ArtifactError {
  readonly reason: 'unreadable' | 'bad-format';
  readonly message: string;
  readonly path: string;
}

export function artifactError(reason: ArtifactError['reason'], message: string, path: string): ArtifactError {
  return { reason, message: `${path}: ${message}`, path };
}

/** `path: message [reason]`, for the stages that throw at their boundary. */
export function formatArtifactError(e: ArtifactError): string {
  return `${e.message} [${e.reason}]`;
}

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A file's text, or why it cannot be read. */
export async function readArtifactText(path: string): Promise<Result<string, ArtifactError>> {
  try {
    return ok(await readFile(path, 'utf8'));
  } catch (e) {
    return err(artifactError('unreadable', (e as Error).message, path));
  }
}

/** `path` itself, or `<path>/<name>` when `path` is a stage's output folder. */
export async function fileInFolder(path: string, name: string): Promise<string> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ? join(path, name) : path;
}

/** The JSON object of an artifact of `format` (`what` says which file that is, for the message). */
export function parseArtifactObject(text: string, path: string, format: string, what: string): Result<Record<string, unknown>, ArtifactError> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return err(artifactError('bad-format', `not JSON: ${(e as Error).message}`, path));
  }
  if (!isRecord(raw)) return err(artifactError('bad-format', 'expected a JSON object', path));
  if (raw['format'] !== format) return err(artifactError('bad-format', `format ${JSON.stringify(raw['format'])}, expected "${format}" (${what})`, path));
  return ok(raw);
}

/** Every artifact is written the same way: indented JSON and a final newline. */
export async function writeArtifactJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}
