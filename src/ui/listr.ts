/**
 * Live progress on a TTY through listr2: one task per stage template (a matrix counts as one line,
 * with its running cells below it), so a 1,000-stage run stays readable.
 */
import { Listr, type ListrTaskWrapper } from 'listr2';
import type { RunEvent } from '../exec/events.js';
import { formatDuration, formatProgress } from './format.js';
import type { Renderer } from './renderer.js';

interface Group {
  readonly template: string;
  readonly ids: readonly string[];
  done: number;
  failed: number;
  readonly running: Map<string, string>;
  task?: ListrTaskWrapper<unknown, never, never>;
  finish?: (error?: Error) => void;
}

export class ListrRenderer implements Renderer {
  readonly #groups = new Map<string, Group>();
  readonly #groupOf = new Map<string, Group>();
  readonly #listr: Listr<unknown>;
  readonly #running: Promise<unknown>;

  /** `stages`: the stages that may do work, as [id, template]. */
  constructor(stages: readonly (readonly [string, string])[]) {
    for (const [id, template] of stages) {
      let group = this.#groups.get(template);
      if (!group) {
        group = { template, ids: [], done: 0, failed: 0, running: new Map() };
        this.#groups.set(template, group);
      }
      (group.ids as string[]).push(id);
      this.#groupOf.set(id, group);
    }
    this.#listr = new Listr(
      [...this.#groups.values()].map((group) => ({
        title: this.#title(group),
        task: (_ctx: unknown, task: ListrTaskWrapper<unknown, never, never>) =>
          new Promise<void>((resolve, reject) => {
            group.task = task;
            group.finish = (error) => (error ? reject(error) : resolve());
            task.output = 'waiting';
          }),
      })),
      { concurrent: true, exitOnError: false, rendererOptions: { collapseErrors: false, outputBar: Infinity, persistentOutput: false } } as never,
    );
    this.#running = this.#listr.run().catch(() => undefined);
  }

  #title(group: Group): string {
    const total = group.ids.length;
    const count = total > 1 ? ` [${group.done}/${total}${group.failed ? `, ${group.failed} failed` : ''}]` : '';
    return `${group.template}${count}`;
  }

  #refresh(group: Group): void {
    if (!group.task) return;
    group.task.title = this.#title(group);
    const cells = [...group.running].map(([id, text]) => (group.ids.length > 1 ? `${id.slice(group.template.length)} ${text}` : text));
    group.task.output = cells.join('\n');
    if (group.done + group.failed >= group.ids.length) {
      group.finish?.(group.failed > 0 ? new Error(`${group.failed} failed`) : undefined);
    }
  }

  emit(event: RunEvent): void {
    if (!('id' in event)) return;
    const group = this.#groupOf.get(event.id);
    if (!group) return;
    switch (event.type) {
      case 'stage-start':
        group.running.set(event.id, event.attempt > 1 ? `attempt ${event.attempt}/${event.attempts}` : 'starting');
        break;
      case 'stage-progress':
        group.running.set(event.id, formatProgress(event.update));
        break;
      case 'stage-succeeded':
        group.running.delete(event.id);
        group.done++;
        if (group.ids.length === 1 && group.task) group.task.title = `${group.template} (${formatDuration(event.durationMs)})`;
        break;
      case 'stage-fresh':
      case 'stage-restored':
        group.done++;
        break;
      case 'stage-failed':
        if (event.willRetry) {
          group.running.set(event.id, `retrying: ${event.message}`);
        } else {
          group.running.delete(event.id);
          group.failed++;
        }
        break;
      case 'stage-skipped':
        group.failed++;
        break;
    }
    if (event.type === 'stage-succeeded' && group.ids.length === 1) {
      group.finish?.();
      return;
    }
    this.#refresh(group);
  }

  async close(): Promise<void> {
    for (const group of this.#groups.values()) group.finish?.();
    await this.#running;
  }
}
