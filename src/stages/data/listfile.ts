/** `relative/path label` list files of the VTAB-1k release. */
import { readFile } from 'node:fs/promises';
import { isAbsolute, normalize } from 'node:path';
import { err, ok, type Result } from '../../util/result.js';
import { dataError, type DataError } from './errors.js';

export interface ListEntry {
  /** Path relative to the task folder, as written in the list. */
  readonly path: string;
  readonly label: number;
  /** 1-based line number in the list file, for messages. */
  readonly line: number;
}

/**
 * Parses a list file's text. Paths may contain spaces (the label is the last field); blank lines are
 * skipped. Labels must be integers in [0, numClasses). An empty list is an error: every split has images.
 */
export function parseListFile(text: string, file: string, numClasses: number): Result<ListEntry[], DataError> {
  const entries: ListEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] as string).trim();
    if (raw === '') continue;
    const line = i + 1;
    const cut = raw.search(/\s+\S+$/);
    if (cut <= 0) return err(dataError('bad-list-line', `expected "relative/path label", got ${JSON.stringify(raw)}`, file, line));
    const path = raw.slice(0, cut).trim();
    const labelText = raw.slice(cut).trim();
    if (!/^-?\d+$/.test(labelText)) return err(dataError('bad-list-line', `label ${JSON.stringify(labelText)} is not an integer`, file, line));
    const label = Number(labelText);
    if (label < 0 || label >= numClasses) {
      return err(dataError('label-out-of-range', `label ${label} is outside [0, ${numClasses - 1}] for a ${numClasses}-class task`, file, line));
    }
    const norm = normalize(path);
    if (isAbsolute(path) || norm.startsWith('..')) return err(dataError('bad-list-line', `path ${JSON.stringify(path)} leaves the task folder`, file, line));
    entries.push({ path, label, line });
  }
  if (entries.length === 0) return err(dataError('empty-list', 'list file has no entries', file));
  return ok(entries);
}

export async function readListFile(file: string, numClasses: number): Promise<Result<ListEntry[], DataError>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return err(dataError('missing-file', code === 'ENOENT' ? 'list file is missing' : `cannot read list file: ${(e as Error).message}`, file));
  }
  return parseListFile(text, file, numClasses);
}
