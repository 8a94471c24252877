/** For `pipeline status`: the workspace's recorded Slurm jobs that are still queued or running. */
import { runSlurmCommand, type SlurmRunner } from './commands.js';
import { listRecords, slurmPaths } from './records.js';
import { isTerminal, parseQueue, SQUEUE_FORMAT } from './states.js';

export interface LiveSlurmJob {
  readonly stageId: string;
  readonly fingerprint: string;
  readonly jobId: string;
  readonly state: string;
}

/** One squeue call for all recorded jobs; none when there are no records or Slurm does not answer. */
export async function liveSlurmJobs(workspace: string, run: SlurmRunner = runSlurmCommand): Promise<LiveSlurmJob[]> {
  const records = (await listRecords(slurmPaths(workspace))).filter((r) => r.jobId !== undefined);
  if (records.length === 0) return [];
  const out = await run('squeue', [`--jobs=${records.map((r) => r.jobId).join(',')}`, '-h', '-t', 'all', '-o', SQUEUE_FORMAT], { timeoutMs: 10_000 });
  if (!out.ok) return [];
  const rows = parseQueue(out.value);
  const live: LiveSlurmJob[] = [];
  for (const r of records) {
    const row = rows.get(r.jobId as string);
    if (row && !isTerminal(row.state)) live.push({ stageId: r.stageId, fingerprint: r.fingerprint, jobId: row.jobId, state: row.state });
  }
  return live;
}
