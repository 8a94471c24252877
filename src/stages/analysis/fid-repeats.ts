/**
 * The FID's spread over reference subsamples (`analysis.fid` `repeats`): which reference images
 * each repeat uses, and how the per-repeat FIDs combine into one record. Pure logic.
 */
import { err, ok, type Result } from '../../util/result.js';
import type { Rng } from '../../util/rng.js';
import type { FidRecord } from '../../artifacts/index.js';

/** Share of the reference set in each subsample when `maxImages` is not given. */
export const DEFAULT_SUBSAMPLE_FRACTION = 0.8;

export interface ReferenceSamples {
  /** Per repeat: sorted indices into the reference split. */
  readonly samples: readonly (readonly number[])[];
  /** Images per sample. */
  readonly size: number;
}

/**
 * The reference images of each repeat. One repeat: all of them, or a seeded `maxImages` subset
 * (the forks of analysis.fid before repeats existed, so its numbers did not change). More: `repeats`
 * seeded subsets of `maxImages` (default 80% of the set) each. Refused, as a message: subsets of
 * fewer than 2 images, subsets as large as the set (every repeat would be the same), and more
 * repeats than there are distinct subsets.
 */
export function referenceSamples(count: number, repeats: number, maxImages: number | undefined, rng: Rng): Result<ReferenceSamples, string> {
  const all = Array.from({ length: count }, (_, i) => i);
  if (repeats === 1) {
    if (maxImages === undefined || maxImages >= count) return ok({ samples: [all], size: count });
    return ok({ samples: [rng.fork('fid:reference').shuffle(all).slice(0, maxImages).sort((a, b) => a - b)], size: maxImages });
  }
  const size = maxImages ?? Math.floor(DEFAULT_SUBSAMPLE_FRACTION * count);
  const from = maxImages === undefined ? `${DEFAULT_SUBSAMPLE_FRACTION * 100}% of the reference's ${count} images` : `maxImages`;
  if (size < 2) return err(`repeats ${repeats} needs reference subsamples of at least 2 images; ${from} is ${size}`);
  if (size >= count) {
    return err(`repeats ${repeats} draws subsamples of maxImages = ${size} from ${count} reference images: every repeat would use all of them (set maxImages below ${count}, or leave it out for ${DEFAULT_SUBSAMPLE_FRACTION * 100}%)`);
  }
  const distinct = subsetsAtLeast(count, size, repeats);
  if (distinct < repeats) return err(`repeats ${repeats} is more than the ${distinct} distinct subsamples of ${size} from ${count} reference images`);
  const samples = Array.from({ length: repeats }, (_, r) => rng.fork(`fid:reference:${r}`).shuffle([...all]).slice(0, size).sort((a, b) => a - b));
  return ok({ samples, size });
}

/** C(n, k), or `cap` as soon as it reaches `cap` (the exact value is only needed below it). */
function subsetsAtLeast(n: number, k: number, cap: number): number {
  const m = Math.min(k, n - k);
  let c = 1;
  for (let i = 0; i < m; i++) {
    c = (c * (n - i)) / (i + 1);
    if (c >= cap) return cap;
  }
  return Math.round(c);
}

/** One repeat's result, as the numerics return it. */
export interface RepeatFid {
  readonly fid: number;
  readonly meanTerm: number;
  readonly covTerm: number;
  readonly offset: number;
  readonly route: string;
  readonly rule: 'exact' | 'offset';
}

/** The record's FID fields (src/artifacts/fid-results.ts), combined over the repeats. */
export type CombinedFid = Pick<FidRecord, 'fid' | 'fidStd' | 'repeats' | 'fids' | 'meanTerm' | 'covTerm' | 'offset' | 'rule' | 'route'>;

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Sample standard deviation (n - 1); 0 for fewer than two values. */
export function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** Mean and sample std of the repeats' FIDs; terms averaged; routes listed once each. */
export function combineRepeats(results: readonly RepeatFid[]): CombinedFid {
  const fids = results.map((r) => r.fid);
  return {
    fid: mean(fids),
    fidStd: sampleStd(fids),
    repeats: results.length,
    fids,
    meanTerm: mean(results.map((r) => r.meanTerm)),
    covTerm: mean(results.map((r) => r.covTerm)),
    offset: Math.max(...results.map((r) => r.offset)),
    rule: results.some((r) => r.rule === 'offset') ? 'offset' : 'exact',
    route: [...new Set(results.map((r) => r.route))].join(', '),
  };
}
