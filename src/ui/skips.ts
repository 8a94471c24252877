import type { RunEvent, SkipCause } from '../exec/events.js';

type Skipped = Extract<RunEvent, { type: 'stage-skipped' }>;

/**
 * Stages that did not run, grouped by cause: one line per failed root ("113 stages not run because
 * `prep` failed"), not one per stage. `--verbose` renderers print each stage as it is skipped instead.
 */
export class SkipTally {
  readonly #byCause = new Map<string, { cause: SkipCause; ids: string[] }>();

  add(event: Skipped): void {
    const key = event.cause.type === 'upstream-failed' ? `failed:${event.cause.failed}` : event.cause.type;
    const entry = this.#byCause.get(key) ?? { cause: event.cause, ids: [] };
    entry.ids.push(event.id);
    this.#byCause.set(key, entry);
  }

  get size(): number {
    let n = 0;
    for (const entry of this.#byCause.values()) n += entry.ids.length;
    return n;
  }

  /** One line per cause; `listed` says the stages were already printed one by one. */
  lines(listed: boolean): string[] {
    const tail = listed ? '' : '; `--verbose` lists them';
    return [...this.#byCause.values()].map(({ cause, ids }) => {
      const count = ids.length === 1 ? `1 stage (${ids[0]}) not run` : `${ids.length} stages not run`;
      switch (cause.type) {
        case 'upstream-failed':
          return `${count} because \`${cause.failed}\` failed${ids.length === 1 ? '' : tail}`;
        case 'stopped':
          return `${count}: the run stopped after a failure (use --keep-going to continue past failures)${ids.length === 1 ? '' : tail}`;
        case 'cancelled':
          return `${count}: cancelled${ids.length === 1 ? '' : tail}`;
      }
    });
  }
}
