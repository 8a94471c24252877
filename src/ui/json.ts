import type { RunEvent } from '../exec/events.js';
import type { Renderer } from './renderer.js';

/** One JSON object per line, with a timestamp, for scripts and dashboards. */
export class JsonRenderer implements Renderer {
  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}
  emit(event: RunEvent): void {
    this.out.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
  }
  async close(): Promise<void> {}
}
