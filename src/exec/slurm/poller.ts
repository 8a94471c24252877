/**
 * ONE poller for every job of a run: each tick is a single `squeue --jobs=a,b,c` call. The
 * period follows the youngest job's age (a tenth of it, clamped to [minMs, maxMs]), where age
 * counts from submission or the job's last state change (a job that waited an hour in the queue
 * and just started is young again): a 1-second job is seen finishing within ~250 ms, while an
 * hour-long one costs the controller one query every few seconds at most.
 */
import type { SlurmRunner } from './commands.js';
import { parseQueue, SQUEUE_FORMAT, type QueueRow } from './states.js';

export interface PollerOptions {
  readonly minMs: number;
  readonly maxMs: number;
}

/** What one tick saw of a job: its row, `gone` when Slurm no longer knows it, `error` when squeue failed. */
export type JobSighting = { readonly type: 'row'; readonly row: QueueRow } | { readonly type: 'gone' } | { readonly type: 'error'; readonly message: string };

type Listener = (sighting: JobSighting) => void | Promise<void>;

interface Watched {
  /** Submit time, then the time of the last state change: a job that just started is young again. */
  since: number;
  state: string | undefined;
  readonly listener: Listener;
}

/** squeue's --jobs list is one argument; chunks keep it far below the argument-size limit. */
const CHUNK = 400;

export class JobPoller {
  private readonly watched = new Map<string, Watched>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private closed = false;
  private dueAt = 0;
  /** squeue calls so far (for the benchmark and the tests: one per tick, whatever the number of jobs). */
  queries = 0;

  constructor(
    private readonly run: SlurmRunner,
    private readonly opts: PollerOptions,
  ) {}

  /** Reports the job on every tick until the returned function is called. */
  watch(jobId: string, listener: Listener, since = Date.now()): () => void {
    this.watched.set(jobId, { since, state: undefined, listener });
    this.schedule();
    return () => {
      this.watched.delete(jobId);
    };
  }

  /** Next period: a tenth of the youngest job's age, within [minMs, maxMs]. */
  period(now = Date.now()): number {
    let youngest = Infinity;
    for (const w of this.watched.values()) youngest = Math.min(youngest, now - w.since);
    if (!Number.isFinite(youngest)) return this.opts.maxMs;
    return Math.min(this.opts.maxMs, Math.max(this.opts.minMs, Math.round(youngest / 10)));
  }

  /** Ask again soon (after a cancel): the answer matters now, whatever the jobs' age. */
  nudge(): void {
    if (this.closed || this.ticking || this.watched.size === 0) return;
    const due = Date.now() + this.opts.minMs;
    if (this.timer && this.dueAt <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.dueAt = due;
    this.timer = setTimeout(() => void this.tick(), this.opts.minMs);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.closed || this.ticking || this.watched.size === 0) return;
    // A new (young) job shortens the wait that is already scheduled.
    const due = Date.now() + this.period();
    if (this.timer && this.dueAt <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.dueAt = due;
    this.timer = setTimeout(() => void this.tick(), due - Date.now());
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    if (this.closed || this.watched.size === 0) return;
    this.ticking = true;
    try {
      const ids = [...this.watched.keys()];
      const sightings = new Map<string, JobSighting>();
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        this.queries++;
        const out = await this.run('squeue', [`--jobs=${chunk.join(',')}`, '-h', '-t', 'all', '-o', SQUEUE_FORMAT]);
        if (out.ok) {
          const rows = parseQueue(out.value);
          for (const id of chunk) {
            const row = rows.get(id);
            sightings.set(id, row ? { type: 'row', row } : { type: 'gone' });
          }
        } else if (out.error.reason === 'invalid-job') {
          // Every id of the chunk is unknown (squeue fails only when none is valid).
          for (const id of chunk) sightings.set(id, { type: 'gone' });
        } else {
          for (const id of chunk) sightings.set(id, { type: 'error', message: out.error.message });
        }
      }
      await Promise.all(
        [...sightings].map(async ([id, s]) => {
          const w = this.watched.get(id);
          if (w && s.type === 'row' && s.row.state !== w.state) {
            if (w.state !== undefined) w.since = Date.now();
            w.state = s.row.state;
          }
          // A listener that fails (e.g. a log read) is asked again next tick; the loop must go on.
          if (w) await Promise.resolve(w.listener(s)).catch(() => undefined);
        }),
      );
    } finally {
      this.ticking = false;
      this.schedule();
    }
  }
}
