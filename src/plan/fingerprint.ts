/**
 * A stage's fingerprint is the sha256 of one canonical JSON document (fixed key order): what the
 * stage does (kind, version and code hash, or the command), its resolved params, the content hashes of every
 * input, its declared env and where its outputs go. An upstream stage counts through its output
 * hashes only, so a rerun that reproduces the same bytes does not invalidate what follows.
 * The document is kept in the run record, so a later miss can say exactly what changed.
 */
import type { Stage } from '../dsl/model.js';
import { canonicalJson, sha256, type Sha256 } from '../store/index.js';

/** Bump when the document's shape changes: every cached result becomes a miss. */
export const FINGERPRINT_SCHEMA = 1;

export interface FingerprintDoc {
  readonly schema: number;
  readonly task:
    | {
        readonly type: 'builtin';
        readonly uses: string;
        readonly version: number;
        /** Hash of the kind's code (its module and its imports, see code-hash.ts), when known. */
        readonly code?: string;
        readonly params: unknown;
      }
    | { readonly type: 'command'; readonly command: readonly string[] | string; readonly shell: boolean };
  /** The pipeline params the stage referenced (already inside task), kept to name them in explanations. */
  readonly params: Readonly<Record<string, unknown>>;
  /** Workspace-relative path -> content hash. */
  readonly inputs: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string>>;
  readonly outputs: Readonly<Record<string, string>>;
}

export function fingerprintDoc(stage: Stage, kindVersion: number | undefined, inputHashes: ReadonlyMap<string, string>, kindCode?: string): FingerprintDoc {
  const inputs: Record<string, string> = {};
  for (const input of stage.inputs) {
    const hash = inputHashes.get(input.path);
    if (hash === undefined) throw new Error(`internal: no hash for input ${input.path} of ${stage.id}`);
    inputs[input.path] = hash;
  }
  return {
    schema: FINGERPRINT_SCHEMA,
    task:
      stage.type === 'builtin'
        ? { type: 'builtin', uses: stage.uses, version: kindVersion ?? 0, ...(kindCode !== undefined ? { code: kindCode } : {}), params: stage.with }
        : { type: 'command', command: stage.command, shell: stage.shell },
    params: stage.paramsUsed ?? {},
    inputs,
    env: stage.env,
    outputs: stage.outputs,
  };
}

export function fingerprintOf(doc: FingerprintDoc): Sha256 {
  return sha256(canonicalJson(doc));
}
