/**
 * Finds the test cluster (scripts/local-slurm.sh). Where Slurm cannot start the Slurm tests are
 * skipped with the reason printed, except under CI, where they must run: there they fail.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEFAULT_CONF = '/var/tmp/vpt-slurm/slurm.conf';

export type SlurmAvailability = { readonly ok: true; readonly env: Record<string, string> } | { readonly ok: false; readonly reason: string };

async function answers(env: Record<string, string>): Promise<string | undefined> {
  const r = await execa('sinfo', ['-h', '-o', '%P %a'], { env, reject: false, timeout: 10_000 });
  if (r.exitCode === 0) return undefined;
  return (r as { code?: string }).code === 'ENOENT' ? 'sinfo is not installed' : String(r.stderr).trim() || `sinfo exited ${r.exitCode}`;
}

export async function detectSlurm(): Promise<SlurmAvailability> {
  const conf = process.env['SLURM_CONF'] ?? (existsSync(DEFAULT_CONF) ? DEFAULT_CONF : undefined);
  const env: Record<string, string> = conf ? { SLURM_CONF: conf } : {};
  if ((await answers(env)) === undefined) return { ok: true, env };
  // Not running yet: the script starts it (as root) and is a no-op when it already runs.
  const started = await execa(join(root, 'scripts', 'local-slurm.sh'), [], { reject: false, timeout: 120_000, all: true });
  const env2: Record<string, string> = { SLURM_CONF: process.env['SLURM_CONF'] ?? DEFAULT_CONF };
  const why = await answers(env2);
  if (why === undefined) return { ok: true, env: env2 };
  return { ok: false, reason: `no Slurm cluster answers (${why}); scripts/local-slurm.sh said: ${String(started.all).trim().split('\n').slice(-3).join(' | ')}` };
}

export interface Submission {
  readonly jobId: string;
  readonly fingerprint: string;
  readonly stageId: string;
}

/** The executor's audit trail of sbatch calls in a workspace. */
export async function submissions(ws: string): Promise<Submission[]> {
  const text = await readFile(join(ws, '.vpt', 'slurm', 'submissions.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Submission);
}

/** `scontrol show job` fields of one job. */
export async function jobFields(id: string, env: Record<string, string>): Promise<Record<string, string>> {
  const r = await execa('scontrol', ['-o', 'show', 'job', id], { env, reject: false });
  const fields: Record<string, string> = {};
  for (const m of String(r.stdout).matchAll(/(\w[\w/:]*)=(\S*)/g)) if (m[1] !== undefined && m[2] !== undefined) fields[m[1]] = m[2];
  return fields;
}

export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
