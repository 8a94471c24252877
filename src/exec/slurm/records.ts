/**
 * Job records: `.vpt/slurm/jobs/<fingerprint>.json`, one per submitted attempt, written BEFORE
 * `sbatch` (state `submitting`, with a random token passed as the job's comment) and again with
 * the job id after it. A later coordinator finds running or finished jobs through them, so an
 * attempt is never submitted twice. Staging folders of Slurm attempts live in
 * `.vpt/slurm/staging/`, out of reach of `Store.cleanTmp()` (which removes tmp/ entries of dead
 * coordinator pids): a job outlives the coordinator that submitted it.
 */
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isValidFingerprint, stageSlug } from '../../store/index.js';

export interface JobRecord {
  readonly version: 1;
  readonly fingerprint: string;
  readonly stageId: string;
  /** Absent while `sbatch` has not answered yet (or the coordinator died before it did). */
  readonly jobId?: string;
  /** Passed as `--comment`, to find the job if the coordinator died before recording its id. */
  readonly token: string;
  readonly stagingDir: string;
  readonly specFile: string;
  readonly resultFile: string;
  readonly logFile: string;
  readonly runId: string;
  readonly submittedAt: string;
  readonly submitHost: string;
  readonly coordinatorPid: number;
}

export interface SlurmPaths {
  readonly root: string;
  readonly jobs: string;
  readonly staging: string;
  /** One JSON line per `sbatch` call: an audit trail (and how the tests count submissions). */
  readonly submissions: string;
}

export function slurmPaths(workspace: string): SlurmPaths {
  const root = join(workspace, '.vpt', 'slurm');
  return { root, jobs: join(root, 'jobs'), staging: join(root, 'staging'), submissions: join(root, 'submissions.jsonl') };
}

export async function ensureDirs(paths: SlurmPaths): Promise<void> {
  await mkdir(paths.jobs, { recursive: true });
  await mkdir(paths.staging, { recursive: true });
}

export function recordPath(paths: SlurmPaths, fingerprint: string): string {
  if (!isValidFingerprint(fingerprint)) throw new Error(`invalid fingerprint for a file name: ${JSON.stringify(fingerprint)}`);
  return join(paths.jobs, `${fingerprint}.json`);
}

export async function newStagingDir(paths: SlurmPaths, stageId: string): Promise<string> {
  const dir = join(paths.staging, `${stageSlug(stageId).slice(0, 60)}.${randomBytes(6).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

export function newToken(): string {
  return `vpt-${randomBytes(8).toString('hex')}`;
}

export function describeRecord(base: Omit<JobRecord, 'version' | 'submittedAt' | 'submitHost' | 'coordinatorPid'>): JobRecord {
  return { version: 1, ...base, submittedAt: new Date().toISOString(), submitHost: hostname(), coordinatorPid: process.pid };
}

export async function writeRecord(paths: SlurmPaths, record: JobRecord): Promise<void> {
  const target = recordPath(paths, record.fingerprint);
  const tmp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
  await rename(tmp, target);
}

export async function readRecord(paths: SlurmPaths, fingerprint: string): Promise<JobRecord | undefined> {
  return parseRecord(await readFile(recordPath(paths, fingerprint), 'utf8').catch(() => undefined));
}

export async function removeRecord(paths: SlurmPaths, fingerprint: string): Promise<void> {
  await rm(recordPath(paths, fingerprint), { force: true });
}

/** Every record in the workspace (unreadable ones are skipped: a record is a hint, not the truth). */
export async function listRecords(paths: SlurmPaths): Promise<JobRecord[]> {
  const names = await readdir(paths.jobs).catch(() => [] as string[]);
  const records: JobRecord[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const r = parseRecord(await readFile(join(paths.jobs, name), 'utf8').catch(() => undefined));
    if (r) records.push(r);
  }
  return records;
}

export async function logSubmission(paths: SlurmPaths, entry: { jobId: string; fingerprint: string; stageId: string }): Promise<void> {
  await appendFile(paths.submissions, `${JSON.stringify({ ...entry, at: new Date().toISOString(), pid: process.pid })}\n`);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function parseRecord(text: string | undefined): JobRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as Partial<JobRecord>;
    const strings = ['fingerprint', 'stageId', 'token', 'stagingDir', 'specFile', 'resultFile', 'logFile', 'runId'] as const;
    if (v.version !== 1 || strings.some((k) => typeof v[k] !== 'string')) return undefined;
    if (v.jobId !== undefined && typeof v.jobId !== 'string') return undefined;
    return v as JobRecord;
  } catch {
    return undefined;
  }
}
