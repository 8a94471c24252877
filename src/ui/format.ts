import type { Reason } from '../plan/reasons.js';
import { describeReason } from '../plan/reasons.js';
import type { ProgressUpdate } from '../stages/kind.js';

/** `epoch 3/10 · 412 img/s · ETA 0:42 · loss 0.41` */
export function formatProgress(update: ProgressUpdate): string {
  const parts: string[] = [];
  const unit = update.unit ?? update.phase ?? '';
  const count = update.total !== undefined ? `${update.current}/${update.total}` : `${update.current}`;
  parts.push(unit ? `${unit} ${count}` : count);
  if (update.phase && update.unit && update.phase !== update.unit) parts.unshift(update.phase);
  if (update.rate !== undefined && Number.isFinite(update.rate)) parts.push(`${formatRate(update.rate)} ${update.rateUnit ?? '/s'}`);
  if (update.etaSeconds !== undefined && Number.isFinite(update.etaSeconds)) parts.push(`ETA ${formatClock(update.etaSeconds)}`);
  if (update.message) parts.push(update.message);
  return parts.join(' · ');
}

function formatRate(rate: number): string {
  return rate >= 100 ? rate.toFixed(0) : rate >= 10 ? rate.toFixed(1) : rate.toFixed(2);
}

/** 42 -> 0:42, 3725 -> 1:02:05 */
export function formatClock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return formatClock(ms / 1000);
}

export function formatReasons(reasons: readonly Reason[]): string {
  return reasons.map(describeReason).join('; ');
}

export function formatMetrics(metrics: Readonly<Record<string, number>>, max = 4): string {
  const entries = Object.entries(metrics).slice(0, max);
  return entries.map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toPrecision(4)}`).join(' ');
}
