import type { RunEvent } from '../exec/events.js';
import { palette, type Palette } from './color.js';
import { formatDuration, formatMetrics, formatProgress, formatReasons } from './format.js';
import type { Renderer } from './renderer.js';
import { SkipTally } from './skips.js';

/** Progress of one stage is printed at most this often when stdout is not a TTY (CI logs). */
const PROGRESS_EVERY_MS = 10_000;

/** Plain lines, for CI logs and pipes. */
export class PlainRenderer implements Renderer {
  readonly #c: Palette;
  readonly #lastProgress = new Map<string, { at: number; phase: string | undefined; current: number }>();
  readonly #skips = new SkipTally();

  constructor(
    private readonly out: NodeJS.WritableStream = process.stdout,
    color = false,
    private readonly verbose = false,
  ) {
    this.#c = palette(color);
  }

  emit(event: RunEvent): void {
    const c = this.#c;
    const line = (text: string): void => {
      this.out.write(`${text}\n`);
    };
    switch (event.type) {
      case 'run-start':
        line(c.bold(`run ${event.pipeline}: ${event.total} stage(s), ${event.toRun} to run or restore, --jobs ${event.jobs}, ${event.executor} executor`));
        break;
      case 'stage-fresh':
        if (this.verbose) line(c.dim(`= ${event.id} up to date`));
        break;
      case 'stage-restored':
        line(`${c.cyan('↺')} ${event.id} restored from cache (${formatReasons(event.reasons)})`);
        break;
      case 'stage-start':
        line(`${c.yellow('▶')} ${event.id} started${event.attempt > 1 ? ` (attempt ${event.attempt}/${event.attempts})` : ''}: ${formatReasons(event.reasons)}  ${c.dim(`log: ${event.logFile}`)}`);
        break;
      case 'stage-progress': {
        const now = Date.now();
        const last = this.#lastProgress.get(event.id);
        const phaseChanged = last?.phase !== event.update.phase;
        // The first update of the last step, not every update during it.
        const reachedEnd = event.update.total !== undefined && event.update.current >= event.update.total && last?.current !== event.update.current;
        if (!last || phaseChanged || reachedEnd || now - last.at >= PROGRESS_EVERY_MS) {
          this.#lastProgress.set(event.id, { at: now, phase: event.update.phase, current: event.update.current });
          line(c.dim(`  ${event.id} ${formatProgress(event.update)}`));
        }
        break;
      }
      case 'stage-succeeded':
        this.#lastProgress.delete(event.id);
        line(`${c.green('✔')} ${event.id} done in ${formatDuration(event.durationMs)}${Object.keys(event.metrics).length ? ` ${c.dim(formatMetrics(event.metrics))}` : ''}`);
        break;
      case 'stage-failed':
        line(`${c.red('✖')} ${event.id} failed${event.attempt > 0 ? ` (attempt ${event.attempt})` : ''}: ${event.message}${event.willRetry ? c.yellow(' — retrying') : ''}`);
        for (const t of event.tail) line(c.dim(`    │ ${t}`));
        if (event.logFile) line(c.dim(`    full log: ${event.logFile}`));
        break;
      case 'stage-skipped':
        this.#skips.add(event);
        if (this.verbose) line(`${c.dim('-')} ${event.id} skipped: ${event.because}`);
        break;
      case 'warning':
        line(c.yellow(`warning: ${event.message}`));
        break;
      case 'run-end': {
        for (const text of this.#skips.lines(this.verbose)) line(c.dim(`- ${text}`));
        const s = event.summary;
        const text = `${s.cancelled ? 'cancelled' : s.failed > 0 ? 'failed' : 'done'}: ${s.ran} ran, ${s.restored} restored, ${s.fresh} up to date, ${s.failed} failed, ${s.skipped} skipped in ${formatDuration(s.durationMs)}`;
        line(s.failed > 0 || s.cancelled ? c.red(text) : c.green(text));
        break;
      }
    }
  }

  async close(): Promise<void> {}
}
