import type { StageKind } from './kind.js';

/** Built-in kinds by name. Families add themselves in `src/stages/index.ts`. */
export class KindRegistry {
  readonly #kinds = new Map<string, StageKind<unknown>>();

  register<P>(kind: StageKind<P>): void {
    if (this.#kinds.has(kind.name)) throw new Error(`stage kind ${kind.name} registered twice`);
    this.#kinds.set(kind.name, kind as StageKind<unknown>);
  }

  get(name: string): StageKind<unknown> | undefined {
    return this.#kinds.get(name);
  }

  names(): string[] {
    return [...this.#kinds.keys()].sort();
  }
}
