/**
 * One stage attempt as one `sbatch` call: the flags (name, log, resources, placement) and a small
 * batch script handed over on stdin, so the script itself needs no shared filesystem; only the
 * workspace and its `.vpt/` store do, which the script checks against a nonce first.
 */
import type { SlurmSettings } from '../../dsl/model.js';
import type { StageJob } from '../executor.js';

/** Exit code of the batch script when the node cannot see the store (see `storeCheck`). */
export const STORE_INVISIBLE_EXIT = 97;

export interface StoreProbe {
  /** Absolute path of a file the coordinator wrote under `.vpt/`. */
  readonly file: string;
  /** Its content; a different file at the same path (a node-local copy) does not pass. */
  readonly nonce: string;
}

export interface SbatchRequest {
  readonly args: readonly string[];
  readonly script: string;
}

/** Single-quotes a word for /bin/sh. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Slurm's `--time` is in whole minutes; one more than asked so our own, second-precise deadline acts first. */
export function timeLimitMinutes(seconds: number): number {
  return Math.ceil(seconds / 60) + 1;
}

/** Job names carry the stage id; Slurm keeps names up to 200 characters. */
export function jobName(stageId: string): string {
  return `vpt:${stageId}`.slice(0, 200);
}

export function buildSbatch(
  job: StageJob,
  argv: readonly string[],
  opts: { readonly comment: string; readonly probe: StoreProbe | undefined; readonly defaults?: SlurmSettings },
): SbatchRequest {
  const settings = mergeSettings(opts.defaults, job.slurm);
  const args = [
    '--parsable',
    `--job-name=${jobName(job.stageId)}`,
    // `%` would be a Slurm filename pattern.
    `--output=${job.logFile.replace(/%/g, '%%')}`,
    '--open-mode=append',
    `--chdir=${job.workspace}`,
    `--comment=${opts.comment}`,
    '--nodes=1',
    '--ntasks=1',
    `--cpus-per-task=${Math.max(1, Math.ceil(job.resources.cpu))}`,
    ...(job.resources.memoryMiB > 0 ? [`--mem=${Math.ceil(job.resources.memoryMiB)}M`] : []),
    ...(job.resources.gpu > 0 ? [`--gres=gpu:${job.resources.gpu}`] : []),
    ...(job.timeoutSeconds !== undefined ? [`--time=${timeLimitMinutes(job.timeoutSeconds)}`] : []),
    ...(settings.partition ? [`--partition=${settings.partition}`] : []),
    ...(settings.account ? [`--account=${settings.account}`] : []),
    ...(settings.qos ? [`--qos=${settings.qos}`] : []),
    ...(settings.extraArgs ?? []),
  ];
  const lines = ['#!/bin/sh', `# vpt-pipeline: stage ${job.stageId.replace(/\n/g, ' ')}`];
  if (opts.probe) lines.push(...storeCheck(opts.probe));
  // Also in the script: a site may default sbatch to --export=NONE.
  for (const [k, v] of Object.entries({ ...job.env, VPT_STAGE_ID: job.stageId })) {
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) lines.push(`export ${k}=${shellQuote(v)}`);
  }
  lines.push(`exec ${argv.map(shellQuote).join(' ')}`, '');
  return { args, script: lines.join('\n') };
}

/** Pipeline-wide settings first; the stage's own win, and its extra flags come after. */
export function mergeSettings(base: SlurmSettings | undefined, own: SlurmSettings | undefined): SlurmSettings {
  const extra = [...(base?.extraArgs ?? []), ...(own?.extraArgs ?? [])];
  const pick = (k: 'partition' | 'account' | 'qos'): Partial<SlurmSettings> => {
    const v = own?.[k] ?? base?.[k];
    return v !== undefined ? { [k]: v } : {};
  };
  return { ...pick('partition'), ...pick('account'), ...pick('qos'), ...(extra.length ? { extraArgs: extra } : {}) };
}

function storeCheck(probe: StoreProbe): string[] {
  const file = shellQuote(probe.file);
  return [
    `if [ "$(cat ${file} 2>/dev/null)" != ${shellQuote(probe.nonce)} ]; then`,
    `  echo "vpt: node $(hostname) cannot see the workspace store (${probe.file.replace(/["`$\\]/g, '')} missing or different): the workspace must be on a filesystem shared by the head node and the compute nodes" >&2`,
    `  exit ${STORE_INVISIBLE_EXIT}`,
    'fi',
  ];
}
