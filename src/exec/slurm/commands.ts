/**
 * The Slurm client commands, each run once per call with a bounded time: sbatch, squeue,
 * scontrol, scancel, sacct. Failures are values (`SlurmError`) carrying the command's stderr.
 */
import { execa } from 'execa';
import { err, ok, type Result } from '../../util/result.js';

export interface SlurmError {
  readonly reason: 'not-installed' | 'unreachable' | 'rejected' | 'invalid-job' | 'no-accounting';
  readonly message: string;
  /** The command that failed, for messages. */
  readonly command: string;
}

export interface SlurmCommandOptions {
  /** stdin for the command (sbatch reads its batch script from it). */
  readonly input?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

/** What the executor needs from the cluster; tests may substitute it. */
export type SlurmRunner = (command: string, args: readonly string[], options?: SlurmCommandOptions) => Promise<Result<string, SlurmError>>;

/** Runs the real commands from PATH. A slow controller gets 30 s before the call counts as failed. */
export const runSlurmCommand: SlurmRunner = async (command, args, options = {}) => {
  const shown = `${command} ${args.join(' ')}`.slice(0, 200);
  const result = await execa(command, [...args], {
    reject: false,
    timeout: options.timeoutMs ?? 30_000,
    ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' as const }),
    ...(options.env ? { env: options.env, extendEnv: true } : {}),
  });
  if (result.exitCode === 0) return ok(String(result.stdout));
  const stderr = String(result.stderr).trim();
  const code = (result as { code?: string }).code;
  if (code === 'ENOENT') return err({ reason: 'not-installed', message: `${command} is not installed (is this a Slurm login node?)`, command: shown });
  if (result.timedOut) return err({ reason: 'unreachable', message: `${command} did not answer within ${(options.timeoutMs ?? 30_000) / 1000}s`, command: shown });
  return err({ reason: classify(stderr), message: stderr || `${command} exited with code ${result.exitCode ?? 'unknown'}`, command: shown });
};

function classify(stderr: string): SlurmError['reason'] {
  if (/Invalid job id/i.test(stderr)) return 'invalid-job';
  if (/accounting storage is disabled/i.test(stderr)) return 'no-accounting';
  if (/Unable to contact slurm controller|Connection refused|Socket timed out|Zero Bytes were transmitted|Could not establish a configuration source/i.test(stderr)) return 'unreachable';
  return 'rejected';
}

/** `sbatch --parsable` prints `<id>` or `<id>;<cluster>`. */
export function parseSbatchId(stdout: string): string | undefined {
  const first = stdout.trim().split('\n').pop()?.split(';')[0]?.trim();
  return first !== undefined && /^\d+(_\d+)?$/.test(first) ? first : undefined;
}
