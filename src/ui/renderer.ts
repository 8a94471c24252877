import type { RunEvent } from '../exec/events.js';

export interface Renderer {
  emit(event: RunEvent): void;
  close(): Promise<void>;
}
