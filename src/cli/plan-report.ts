import type { Decision, Plan } from '../plan/index.js';
import { formatReasons } from '../ui/format.js';
import type { Palette } from '../ui/color.js';

const LABEL: Record<Decision['action'], string> = {
  fresh: 'up to date',
  restore: 'restore',
  run: 'run',
  pending: 'run?',
  skip: 'skip',
  blocked: 'blocked',
};

/** One line per stage: what will happen and why. `all` includes fresh and unselected stages. */
export function renderPlan(plan: Plan, c: Palette, all: boolean): string {
  const rows: [string, string, string][] = [];
  for (const id of plan.graph.order) {
    const d = plan.decisions.get(id) as Decision;
    if (!all && (d.action === 'fresh' || d.action === 'skip')) continue;
    const why = d.action === 'blocked' ? d.message : formatReasons(d.reasons);
    rows.push([id, LABEL[d.action], why]);
  }
  const width = Math.min(60, Math.max(0, ...rows.map(([id]) => id.length)));
  const color = (action: string, text: string): string =>
    action === 'run' || action === 'run?' ? c.yellow(text) : action === 'restore' ? c.cyan(text) : action === 'blocked' ? c.red(text) : c.dim(text);
  const lines = rows.map(([id, action, why]) => `  ${id.padEnd(width)}  ${color(action, action.padEnd(10))}  ${why}`);
  const counts = countActions(plan);
  const head = `${plan.pipeline.name}: ${counts.run} to run, ${counts.pending} after upstream, ${counts.restore} to restore, ${counts.fresh} up to date${counts.skip ? `, ${counts.skip} not selected` : ''}`;
  return `${head}\n${lines.join('\n')}${lines.length ? '\n' : ''}`;
}

export function countActions(plan: Plan): Record<Decision['action'], number> {
  const counts: Record<Decision['action'], number> = { fresh: 0, restore: 0, run: 0, pending: 0, skip: 0, blocked: 0 };
  for (const d of plan.decisions.values()) counts[d.action]++;
  return counts;
}

export function planAsJson(plan: Plan): unknown {
  return plan.graph.order.map((id) => {
    const d = plan.decisions.get(id) as Decision;
    return {
      id,
      action: d.action,
      fingerprint: 'fingerprint' in d ? d.fingerprint : undefined,
      reasons: d.reasons,
      ...(d.action === 'blocked' ? { message: d.message } : {}),
    };
  });
}
