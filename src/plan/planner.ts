/**
 * Decides, for each stage, whether it is fresh, can be restored from the store, must run, or can
 * only be decided after an upstream stage has run — with the reasons. The executor calls
 * `evaluateStage` again when a pending stage's inputs are known, so an upstream rerun that
 * reproduces its outputs byte for byte leaves the stages after it fresh.
 */
import { resolve } from 'node:path';
import type { Pipeline, Stage } from '../dsl/model.js';
import type { KindRegistry } from '../stages/registry.js';
import type { RunRecord, Store } from '../store/index.js';
import { err, ok, type Result } from '../util/result.js';
import { explainChange } from './explain.js';
import { predictBackend } from '../ml/backend-name.js';
import { codeHashOf } from './code-hash.js';
import { fingerprintDoc, fingerprintOf, type FingerprintDoc } from './fingerprint.js';
import { StageGraph } from './graph.js';
import { describeReason, type Reason } from './reasons.js';
import { matchStages, selectStages, type SelectionOptions } from './select.js';

export type Decision =
  | { readonly action: 'fresh'; readonly fingerprint: string; readonly doc: FingerprintDoc; readonly record: RunRecord; readonly reasons: readonly Reason[] }
  | { readonly action: 'restore'; readonly fingerprint: string; readonly doc: FingerprintDoc; readonly record: RunRecord; readonly reasons: readonly Reason[] }
  | { readonly action: 'run'; readonly fingerprint: string; readonly doc: FingerprintDoc; readonly reasons: readonly Reason[] }
  | { readonly action: 'pending'; readonly reasons: readonly Reason[] }
  | { readonly action: 'skip'; readonly reasons: readonly Reason[] }
  | { readonly action: 'blocked'; readonly reasons: readonly Reason[]; readonly message: string };

export interface PlanOptions extends SelectionOptions {
  readonly force?: boolean;
}

export interface Plan {
  readonly pipeline: Pipeline;
  readonly graph: StageGraph;
  readonly selected: ReadonlySet<string>;
  readonly required: ReadonlySet<string>;
  readonly forced: ReadonlySet<string>;
  readonly decisions: ReadonlyMap<string, Decision>;
}

/** Stages decided concurrently at most (each may read a run record and stat its outputs). */
const PLAN_BATCH = 64;

export type PlanError =
  | { readonly reason: 'no-match'; readonly message: string; readonly hint?: string }
  | { readonly reason: 'upstream-not-cached'; readonly message: string; readonly stage: string }
  | { readonly reason: 'missing-input'; readonly message: string; readonly stage: string };

export interface PlanContext {
  readonly pipeline: Pipeline;
  readonly store: Store;
  readonly kinds: KindRegistry;
  /** The backend stages will ask for (`--backend`; default `VPT_BACKEND`, then auto): kinds resolve their backend-dependent defaults with it. */
  readonly backend?: string | undefined;
}

/** Output hashes known so far (from fresh, restored or finished stages), by workspace path. */
export type KnownOutputs = Map<string, string>;

export async function planPipeline(ctx: PlanContext, options: PlanOptions): Promise<Result<Plan, PlanError>> {
  const graph = new StageGraph(ctx.pipeline);
  const selection = selectStages(graph, options);
  if (!selection.ok) return err(selection.error);
  const { selected, required } = selection.value;
  const named = [...(options.targets ?? []), ...(options.from ?? []), ...(options.until ?? []), ...(options.only ?? [])];
  const forced = new Set<string>(options.force ? (named.length > 0 ? named.flatMap((p) => matchStages(graph, p)) : selected) : []);

  const decisions = new Map<string, Decision>();
  const known: KnownOutputs = new Map();
  await ctx.store.indexRecords();
  // Stages are decided in topological order, in batches of consecutive stages that do not depend
  // on each other, so their file reads overlap instead of queueing one await at a time.
  let batch: string[] = [];
  let inBatch = new Set<string>();
  const decideBatch = async (): Promise<PlanError | undefined> => {
    const results = await Promise.all(batch.map((id) => evaluateStage(ctx, graph, id, known, decisions, forced.has(id))));
    for (const [i, id] of batch.entries()) {
      const decision = results[i] as Decision;
      decisions.set(id, decision);
      if (decision.action === 'fresh' || decision.action === 'restore') rememberOutputs(known, decision.record);
      if (required.has(id) && decision.action !== 'fresh' && decision.action !== 'restore') {
        const why = decision.action === 'blocked' ? decision.message : decision.reasons.map(describeReason).join('; ');
        return {
          reason: 'upstream-not-cached',
          stage: id,
          message: `stage ${id} is needed by the selection but is not in the cache (${why}); run it first, or widen the selection`,
        };
      }
      if (decision.action === 'blocked') return { reason: 'missing-input', stage: id, message: decision.message };
    }
    batch = [];
    inBatch = new Set();
    return undefined;
  };
  for (const id of graph.order) {
    if (!selected.has(id) && !required.has(id)) {
      decisions.set(id, { action: 'skip', reasons: [{ type: 'not-selected' }] });
      continue;
    }
    if ((graph.upstream.get(id) ?? []).some((up) => inBatch.has(up)) || batch.length >= PLAN_BATCH) {
      const failure = await decideBatch();
      if (failure) return err(failure);
    }
    batch.push(id);
    inBatch.add(id);
  }
  const failure = await decideBatch();
  if (failure) return err(failure);
  return ok({ pipeline: ctx.pipeline, graph, selected, required, forced, decisions });
}

export function rememberOutputs(known: KnownOutputs, record: RunRecord): void {
  for (const output of Object.values(record.outputs)) known.set(output.path, output.ref.hash);
}

/** The decision for one stage, given what is known of its upstream outputs. */
export async function evaluateStage(
  ctx: PlanContext,
  graph: StageGraph,
  id: string,
  known: KnownOutputs,
  decisions: ReadonlyMap<string, Decision>,
  force: boolean,
): Promise<Decision> {
  const stage = graph.stage(id);
  const waiting = graph.upstream
    .get(id)
    ?.filter((up) => {
      const d = decisions.get(up)?.action;
      return d === 'run' || d === 'pending';
    });
  if (waiting && waiting.length > 0) {
    return { action: 'pending', reasons: waiting.map((up): Reason => ({ type: 'upstream-will-run', stage: up })) };
  }
  const hashes = new Map<string, string>();
  for (const input of stage.inputs) {
    const fromUpstream = known.get(input.path);
    if (fromUpstream !== undefined) {
      hashes.set(input.path, fromUpstream);
      continue;
    }
    const producer = input.fromStage ?? graph.producers.get(input.path)?.stage;
    if (producer !== undefined && producer !== id) {
      return { action: 'blocked', reasons: [], message: `stage ${id}: input ${input.path} from ${producer} is not available` };
    }
    const hashed = await ctx.store.hashPath(resolve(ctx.pipeline.workspace, input.path));
    if (!hashed.ok) {
      return {
        action: 'blocked',
        reasons: [],
        message: `stage ${id}: input ${input.path} ${hashed.error.reason === 'not-found' || hashed.error.reason === 'missing' ? 'does not exist' : `cannot be read (${hashed.error.message})`}`,
      };
    }
    hashes.set(input.path, hashed.value.hash);
  }
  const kind = stage.type === 'builtin' ? ctx.kinds.get(stage.uses) : undefined;
  const backend = kind?.resolveParams ? predictBackend(ctx.backend) : undefined;
  // The params the stage will really get (the coordinator hands it doc.task.params).
  const resolved = stage.type === 'builtin' && kind?.resolveParams && backend ? { ...stage, with: kind.resolveParams(stage.with, { backend }) as Readonly<Record<string, unknown>> } : stage;
  const doc = fingerprintDoc(resolved, kind?.version, hashes, kind?.module !== undefined ? codeHashOf(kind.module) : undefined);
  const fingerprint = fingerprintOf(doc);
  if (force) return { action: 'run', fingerprint, doc, reasons: [{ type: 'forced' }] };

  const record = await ctx.store.readRunRecord(fingerprint);
  if (record) {
    const outputReasons = await checkOutputs(ctx, stage, record);
    if (outputReasons.length === 0) return { action: 'fresh', fingerprint, doc, record, reasons: [{ type: 'up-to-date' }] };
    for (const [name, output] of Object.entries(record.outputs)) {
      if (!(await ctx.store.hasObject(output.ref))) return { action: 'run', fingerprint, doc, reasons: [...outputReasons, { type: 'cache-missing', name }] };
    }
    return { action: 'restore', fingerprint, doc, record, reasons: (await explainReturn(ctx, stage, fingerprint, doc)) ?? outputReasons };
  }
  return { action: 'run', fingerprint, doc, reasons: await explainMiss(ctx, stage, doc) };
}

/**
 * Why a stage goes back to a result cached earlier: when the workspace holds another run's outputs
 * (e.g. the run of a `--set` now undone), what differs from that run, not "output modified".
 * Undefined when the workspace's outputs are this fingerprint's own.
 */
async function explainReturn(ctx: PlanContext, stage: Stage, fingerprint: string, doc: FingerprintDoc): Promise<Reason[] | undefined> {
  const latest = await ctx.store.getLatest(stage.id);
  if (latest === undefined || latest === fingerprint) return undefined;
  const previous = await ctx.store.readRunRecord(latest);
  if (!previous) return undefined;
  const reasons = explainChange(previous.fingerprintInputs as FingerprintDoc, doc);
  return reasons.length > 0 ? reasons : undefined;
}

async function checkOutputs(ctx: PlanContext, stage: Stage, record: RunRecord): Promise<Reason[]> {
  const reasons: Reason[] = [];
  for (const [name, output] of Object.entries(record.outputs)) {
    const current = await ctx.store.hashPath(resolve(ctx.pipeline.workspace, output.path));
    if (!current.ok) reasons.push({ type: 'output-missing', name, path: output.path });
    else if (current.value.hash !== output.ref.hash) reasons.push({ type: 'output-modified', name, path: output.path });
  }
  for (const [name, path] of Object.entries(stage.outputs)) {
    if (!(name in record.outputs)) reasons.push({ type: 'output-missing', name, path });
  }
  return reasons;
}

async function explainMiss(ctx: PlanContext, stage: Stage, doc: FingerprintDoc): Promise<Reason[]> {
  const latest = await ctx.store.getLatest(stage.id);
  if (latest === undefined) return [{ type: 'new-stage' }];
  const previous = await ctx.store.readRunRecord(latest);
  if (!previous) return [{ type: 'no-record', detail: 'the last run record is gone (store cleaned or gc)' }];
  const reasons = explainChange(previous.fingerprintInputs as FingerprintDoc, doc);
  return reasons.length > 0 ? reasons : [{ type: 'no-record', detail: 'fingerprint changed' }];
}
