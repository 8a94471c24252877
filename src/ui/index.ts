import { colorEnabled } from './color.js';
import { JsonRenderer } from './json.js';
import { PlainRenderer } from './plain.js';
import type { Renderer } from './renderer.js';

export type { Renderer } from './renderer.js';
export { palette, colorEnabled, type Palette } from './color.js';
export { formatProgress, formatClock, formatDuration, formatReasons, formatMetrics } from './format.js';
export { PlainRenderer } from './plain.js';
export { JsonRenderer } from './json.js';
export { SkipTally } from './skips.js';

export interface RendererChoice {
  readonly json: boolean;
  /** [id, template] of the stages that may do work (for the live view). */
  readonly stages: readonly (readonly [string, string])[];
  readonly verbose: boolean;
}

/** Chosen once per run: JSON lines when asked, listr2 on a TTY, plain lines otherwise (CI, pipes). */
export async function chooseRenderer(choice: RendererChoice): Promise<Renderer & { readonly kind: 'json' | 'listr' | 'plain' }> {
  if (choice.json) return Object.assign(new JsonRenderer(), { kind: 'json' as const });
  if (process.stdout.isTTY && process.env['CI'] === undefined && process.env['TERM'] !== 'dumb' && choice.stages.length > 0) {
    // listr2 is only loaded for interactive runs.
    const { ListrRenderer } = await import('./listr.js');
    return Object.assign(new ListrRenderer(choice.stages), { kind: 'listr' as const });
  }
  return Object.assign(new PlainRenderer(process.stdout, colorEnabled(process.stdout), choice.verbose), { kind: 'plain' as const });
}
