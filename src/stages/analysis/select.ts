/** Which test images to explain: where FT fails and VPT succeeds (the paper's choice), and the reverse. Pure logic. */
import type { Predictions } from './runs.js';

export interface Selection {
  /** FT wrong, VPT right. */
  readonly ftFailsVptSucceeds: readonly number[];
  /** VPT wrong, FT right. */
  readonly vptFailsFtSucceeds: readonly number[];
  readonly total: number;
}

export type SelectError = { readonly reason: 'mismatch'; readonly message: string };

export function selectImages(ft: Predictions, vpt: Predictions, limit = Infinity): { ok: true; value: Selection } | { ok: false; error: SelectError } {
  if (ft.label.length !== vpt.label.length) {
    return { ok: false, error: { reason: 'mismatch', message: `FT has ${ft.label.length} predictions, VPT ${vpt.label.length}: not the same test set` } };
  }
  for (let i = 0; i < ft.label.length; i++) {
    if (ft.label[i] !== vpt.label[i]) return { ok: false, error: { reason: 'mismatch', message: `image ${i}: label ${ft.label[i]} in FT but ${vpt.label[i]} in VPT: not the same test set/order` } };
  }
  const a: number[] = [], b: number[] = [];
  for (let i = 0; i < ft.label.length; i++) {
    if (!ft.correct[i] && vpt.correct[i] && a.length < limit) a.push(i);
    if (ft.correct[i] && !vpt.correct[i] && b.length < limit) b.push(i);
  }
  return { ok: true, value: { ftFailsVptSucceeds: a, vptFailsFtSucceeds: b, total: ft.label.length } };
}
