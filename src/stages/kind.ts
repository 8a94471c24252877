/**
 * The contract between the engine and a built-in stage kind.
 *
 * A kind is light metadata (name, version, params schema, outputs) plus `run`, which should
 * import its heavy code (TensorFlow.js, sharp) lazily, so that validating or planning a pipeline
 * never loads an ML backend. `run` executes inside the stage's child process, never in the
 * coordinator.
 */
import type { BackendName } from '../ml/backend-name.js';
import type { Rng } from '../util/rng.js';

/** A JSON Schema object (draft 2020-12 / ajv) describing the kind's `with:` params. */
export type JsonSchema = Readonly<Record<string, unknown>>;

export interface StageKind<P = Record<string, unknown>> {
  /** Dotted family name, e.g. `data.vtab1k`, `train.vit`, `analysis.fid`. */
  readonly name: string;
  /**
   * Bump when the kind's output format changes. Its code counts by itself: the fingerprint holds a
   * hash of the kind's module and all it imports (set `module: import.meta.url` to take part).
   */
  readonly version: number;
  /** The defining module's `import.meta.url`, whose import closure is the kind's code hash. */
  readonly module?: string;
  readonly description: string;
  readonly paramsSchema: JsonSchema;
  /**
   * Output names the kind promises for these params. Each name becomes a path the engine assigns
   * (a file or a folder, as the kind chooses); the kind writes to `ctx.outputs[name]`.
   */
  outputs(params: P): readonly string[];
  /**
   * How far each headline metric may move before `pipeline verify` calls a rerun different (when
   * its bytes are not the same, e.g. on another backend). Metrics not named here must be equal.
   */
  readonly tolerances?: Readonly<Record<string, { readonly abs?: number; readonly rel?: number }>>;
  /**
   * Defaults that change the result and depend on the backend (train.vit's `workers`: 2 shards on
   * wasm, 1 on tfjs-node), filled in by the planner before it fingerprints the stage, so the key
   * says what will run. The stage receives the params as returned. Light: no ML code.
   */
  resolveParams?(params: P, env: { readonly backend: BackendName }): object;
  /** Resource defaults the YAML may override. */
  readonly resources?: { readonly cpu?: number; readonly gpu?: number; readonly memoryMiB?: number };
  /**
   * Threads the stage keeps busy on a CPU backend with these params (default 1): loading warns
   * when a stage without a GPU reserves fewer CPUs than this.
   */
  threads?(params: P): number;
  /**
   * What must be in place before the stage can start (a data package, the files under a data
   * root), checked for every stage a run will start before it starts any, and by `pipeline
   * validate` and `run --dry-run`. File-system look-ups only: no ML code. Empty when ready.
   */
  check?(params: P, env: CheckEnv): Promise<readonly StageProblem[]>;
  run(ctx: StageContext<P>): Promise<StageRunResult>;
}

/** What a kind's `check` may use: the workspace, as `run` sees it. */
export interface CheckEnv {
  readonly workspace: string;
  resolve(workspaceRelative: string): string;
}

/** One reason a stage cannot start, with what to do about it. */
export interface StageProblem {
  readonly message: string;
  /** The absolute path it is about, when one (so a missing `deps:` path is not reported twice). */
  readonly path?: string;
  /** e.g. `apt-get install dataset-fashion-mnist`. */
  readonly hint?: string;
}

export interface StageContext<P = Record<string, unknown>> {
  readonly stageId: string;
  readonly params: P;
  /** Absolute workspace root; resolve workspace-relative input paths with `ctx.resolve`. */
  readonly workspace: string;
  resolve(workspaceRelative: string): string;
  /** Absolute staging paths, one per promised output; moved into place only if `run` succeeds. */
  readonly outputs: Readonly<Record<string, string>>;
  /** Survives a crash and a rerun with the same fingerprint: resume from here. */
  readonly checkpointDir: string;
  /** `with.seed` when given, else 0. */
  readonly seed: number;
  readonly rng: Rng;
  /** A line for the stage's log. */
  log(line: string): void;
  /** Shown by the executor's progress UI (throttled there, so call as often as is natural). */
  progress(update: ProgressUpdate): void;
  /** Aborted on timeout or Ctrl-C: stop soon, the process is killed shortly after. */
  readonly signal: AbortSignal;
  /** The compute backend asked for by `--backend` / `VPT_BACKEND`, if any. */
  readonly backend: string | undefined;
}

export interface ProgressUpdate {
  /** e.g. `epoch`, `decode`, `grid`. */
  readonly phase?: string;
  readonly current: number;
  readonly total?: number;
  /** What `current` counts, e.g. `epoch`, `img`. */
  readonly unit?: string;
  /** Throughput, e.g. 412 with `rateUnit: 'img/s'`. */
  readonly rate?: number;
  readonly rateUnit?: string;
  readonly etaSeconds?: number;
  /** Free text, e.g. `loss 0.412`. */
  readonly message?: string;
}

export interface StageRunResult {
  /** Headline numbers recorded in the run record and `pipeline.lock` (e.g. `test_top1`). */
  readonly metrics?: Readonly<Record<string, number>>;
  /** Facts about how the result was made (backend, flags, hardware). */
  readonly environment?: Readonly<Record<string, string | number | boolean>>;
  /** Anything a reader should know (e.g. a skipped data-size variant). */
  readonly notes?: readonly string[];
}

/** Identity helper that keeps the params type of a kind definition. */
export function defineKind<P>(kind: StageKind<P>): StageKind<P> {
  return kind;
}
