/**
 * `slurm:` placement settings (pipeline top level, `defaults`, or a stage): partition, account,
 * qos and extra sbatch flags. The schema checks their shape; this reads them into the model and
 * refuses extra flags the Slurm executor sets itself (name, log, workdir...), which would break it.
 */
import type { Diags } from './diags.js';
import type { SlurmSettings } from './model.js';
import { isPlainObject } from './params.js';
import { childPointer, valueAt, type LocatedDoc } from './yaml-source.js';

/** Flags the executor owns: a job's name, log, folder and bookkeeping must stay as it sets them. */
const RESERVED = new Map<string, string>([
  ['--parsable', 'how the job id is read'],
  ['--job-name', 'the job name carries the stage id'],
  ['-J', 'the job name carries the stage id'],
  ['--output', 'job output goes to the stage log'],
  ['-o', 'job output goes to the stage log'],
  ['--error', 'job output goes to the stage log'],
  ['-e', 'job output goes to the stage log'],
  ['--open-mode', 'job output goes to the stage log'],
  ['--chdir', 'jobs run in the workspace'],
  ['-D', 'jobs run in the workspace'],
  ['--comment', 'the comment finds a job after a coordinator crash'],
  ['--wrap', 'the executor writes the batch script'],
  ['--array', 'one job per stage attempt'],
  ['-a', 'one job per stage attempt'],
]);

/** The settings at `ptr` (undefined when absent or unusable; problems are reported to `diags`). */
export function readSlurmSettings(raw: unknown, doc: LocatedDoc, ptr: string, diags: Diags): SlurmSettings | undefined {
  if (!isPlainObject(raw)) return undefined;
  const out: { partition?: string; account?: string; qos?: string; extraArgs?: string[] } = {};
  for (const k of ['partition', 'account', 'qos'] as const) {
    const v = raw[k];
    if (typeof v === 'string' && v.length > 0) out[k] = v;
  }
  if (Array.isArray(raw.extra_args)) {
    const args: string[] = [];
    raw.extra_args.forEach((a, i) => {
      if (typeof a !== 'string') return;
      const flag = a.split('=')[0] ?? a;
      const why = RESERVED.get(flag);
      if (why !== undefined) {
        diags.error('bad-value', `slurm.extra_args: \`${flag}\` is set by the Slurm executor (${why})`, valueAt(doc, childPointer(childPointer(ptr, 'extra_args'), i)));
        return;
      }
      args.push(a);
    });
    if (args.length > 0) out.extraArgs = args;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** `base` < `own`: the later one's fields win; extra flags accumulate in order. */
export function mergeSlurmSettings(base: SlurmSettings | undefined, own: SlurmSettings | undefined): SlurmSettings | undefined {
  if (!base) return own;
  if (!own) return base;
  const extra = [...(base.extraArgs ?? []), ...(own.extraArgs ?? [])];
  const merged: SlurmSettings = {
    ...((own.partition ?? base.partition) !== undefined ? { partition: own.partition ?? base.partition } : {}),
    ...((own.account ?? base.account) !== undefined ? { account: own.account ?? base.account } : {}),
    ...((own.qos ?? base.qos) !== undefined ? { qos: own.qos ?? base.qos } : {}),
    ...(extra.length > 0 ? { extraArgs: extra } : {}),
  };
  return merged;
}
