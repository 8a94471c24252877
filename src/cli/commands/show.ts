import { relative } from 'node:path';
import { stringify } from 'yaml';
import { describeReason, matchStages, planPipeline, StageGraph, type Decision } from '../../plan/index.js';
import { colorEnabled, palette } from '../../ui/color.js';
import { formatDuration } from '../../ui/format.js';
import { loadWorkspace, type PipelineOptions } from '../context.js';
import { CliExit, EXIT } from '../exit-codes.js';

export interface ShowOptions extends PipelineOptions {
  readonly json?: boolean;
}

/** Everything about one stage: params, what its fingerprint is made of, outputs, last run, log. */
export async function showCommand(stageId: string, options: ShowOptions): Promise<number> {
  const file = options.file ?? 'pipeline.yaml';
  const { pipeline, kinds, store } = await loadWorkspace(file, options);
  const graph = new StageGraph(pipeline);
  const matches = matchStages(graph, stageId);
  if (matches.length !== 1) {
    throw new CliExit(EXIT.invalid, matches.length === 0 ? `no stage '${stageId}' in ${file}` : `'${stageId}' matches ${matches.length} stages; name one:\n  ${matches.slice(0, 20).join('\n  ')}`);
  }
  const id = matches[0] as string;
  const stage = graph.stage(id);
  const plan = await planPipeline({ pipeline, store, kinds }, { targets: [id] });
  await store.flushStatCache();
  const decision: Decision | undefined = plan.ok ? plan.value.decisions.get(id) : undefined;
  const fingerprint = decision && 'fingerprint' in decision ? decision.fingerprint : undefined;
  const latestFp = await store.getLatest(id);
  const record = (fingerprint && (await store.readRunRecord(fingerprint))) || (latestFp ? await store.readRunRecord(latestFp) : undefined);
  const c = palette(colorEnabled(process.stdout));
  const where = `${relative(process.cwd(), stage.location.start.file)}:${stage.location.start.line}:${stage.location.start.column}`;
  const info = {
    id,
    declared: where,
    kind: stage.type === 'builtin' ? `${stage.uses}@${kinds.get(stage.uses)?.version ?? '?'}` : 'command',
    ...(stage.type === 'command' ? { command: stage.command, shell: stage.shell } : { params: stage.with }),
    needs: graph.upstream.get(id) ?? [],
    inputs: stage.inputs.map((i) => i.path),
    outputs: stage.outputs,
    env: stage.env,
    resources: stage.resources,
    status: decision ? { action: decision.action, reasons: decision.reasons.map(describeReason) } : { action: 'unknown', reasons: [plan.ok ? '' : plan.error.message] },
    fingerprint: fingerprint ?? null,
    fingerprintInputs: decision && 'doc' in decision ? decision.doc : null,
    lastRun: record
      ? {
          fingerprint: record.fingerprint,
          current: record.fingerprint === fingerprint,
          startedAt: record.startedAt,
          duration: formatDuration(record.durationMs),
          metrics: record.metrics,
          environment: record.environment,
          notes: record.notes,
          outputs: Object.fromEntries(Object.entries(record.outputs).map(([n, o]) => [n, { path: o.path, hash: o.ref.hash, size: o.ref.size, kind: o.ref.kind }])),
          log: record.logFile ?? null,
        }
      : null,
  };
  if (options.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
  else process.stdout.write(`${c.bold(`stage ${id}`)}\n${stringify(info, { lineWidth: 0 }).replace(/^/gm, '  ')}`);
  return EXIT.ok;
}
