import { StageGraph } from '../../plan/index.js';
import { loadWorkspace, splitFileAndTargets, type PipelineOptions } from '../context.js';
import { CliExit, EXIT } from '../exit-codes.js';

export interface GraphOptions extends PipelineOptions {
  readonly format?: string;
}

export async function graphCommand(positionals: string[], options: GraphOptions): Promise<number> {
  const { file } = splitFileAndTargets(positionals, options.file);
  const { pipeline } = await loadWorkspace(file, options);
  const graph = new StageGraph(pipeline);
  const format = options.format ?? 'mermaid';
  if (format === 'mermaid') process.stdout.write(toMermaid(graph));
  else if (format === 'dot') process.stdout.write(toDot(graph));
  else throw new CliExit(EXIT.invalid, `--format takes mermaid or dot, got '${format}'`);
  return EXIT.ok;
}

export function toMermaid(graph: StageGraph): string {
  const node = new Map(graph.order.map((id, i) => [id, `s${i}`]));
  const lines = ['flowchart TD'];
  for (const id of graph.order) lines.push(`  ${node.get(id)}["${id.replace(/"/g, '#quot;')}"]`);
  for (const id of graph.order) for (const up of graph.upstream.get(id) ?? []) lines.push(`  ${node.get(up)} --> ${node.get(id)}`);
  return `${lines.join('\n')}\n`;
}

export function toDot(graph: StageGraph): string {
  const q = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const lines = ['digraph pipeline {', '  rankdir=LR;', '  node [shape=box];'];
  for (const id of graph.order) lines.push(`  ${q(id)};`);
  for (const id of graph.order) for (const up of graph.upstream.get(id) ?? []) lines.push(`  ${q(up)} -> ${q(id)};`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
