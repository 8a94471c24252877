/** The report's sections for the follow-up studies (one-shot, data size, prompt length), as document blocks. */
import type { Block } from './document.js';
import { matchReference, type Crossover, type PromptSweep, type ReferenceTable } from './studies.js';
import { fmtCell, methodLabel, type StudyTables, type TaskRow } from './study.js';

export const ONE_SHOT_SETTING = 'one-shot (one train and one val image per class)';

/** Said where the paper's VTAB-1k table would be, so its absence is not read as a missing input. */
export const NO_PAPER_FOR_ONE_SHOT = 'The paper\'s VTAB-1k table is not set beside these numbers: it is a different setting (800 train + 200 val images per task), not one-shot.';

export const NO_REFERENCE = 'No reference numbers were supplied: the paper\'s one-shot results (its Tables 3-4) are not bundled with the tool, and none are made up here. To set them beside ours, give `reference: { title, source, rows: { <task>: { ft, vpt } } }` (test top-1 in %) in the report\'s `with:`.';

const winnerCell = (r: TaskRow): string => (r.winner ? (r.winner === 'tie' ? 'tie' : methodLabel(r.winner)) : '—');
const signed = (v: number): string => (v >= 0 ? '+' : '') + v.toFixed(2);

/** The per-task table of a study (the main table without the quadrant columns). */
function taskTable(study: StudyTables): Block {
  return {
    kind: 'table',
    head: ['task', 'group', ...study.methods.map(methodLabel), 'seeds', 'VPT - FT', 'winner'],
    numeric: [false, false, ...study.methods.map(() => true), true, true, false],
    rows: study.rows.map((r) => [r.task, r.group ?? '—', ...study.methods.map((m) => fmtCell(r.cells[m])), String(Math.max(0, ...Object.values(r.cells).map((c) => c.n))), r.gap === undefined ? '—' : signed(r.gap), winnerCell(r)]),
  };
}

/** Our one-shot FT and VPT beside the supplied reference, or a plain word that there is none. */
function referenceBlocks(study: StudyTables, reference: ReferenceTable | null | undefined): Block[] {
  if (!reference) return [{ kind: 'p', text: NO_REFERENCE }];
  const { matches, unused } = matchReference(reference, study.rows.map((r) => r.task));
  const ref = (v: number | undefined): string => (v === undefined ? '—' : String(v));
  const b: Block[] = [
    { kind: 'p', text: `Reference: ${reference.title}${reference.source ? ` (${reference.source})` : ''}. Its numbers (test top-1 %) are as the report's \`reference\` param gives them; ours are mean ± std over seeds.` },
    {
      kind: 'table',
      head: ['task', 'ref FT', 'ours FT', 'ref VPT', 'ours VPT'],
      numeric: [false, true, true, true, true],
      rows: study.rows.map((r, i) => [r.task, ref(matches[i]?.ft), fmtCell(r.cells['ft']), ref(matches[i]?.vpt), fmtCell(r.cells['vpt'])]),
    },
  ];
  if (unused.length) b.push({ kind: 'p', text: `Reference rows with no one-shot run here: ${unused.join(', ')}.` });
  return b;
}

/** The one-shot section: its own tables beside sized runs, or the reference beside a one-shot main table. */
export function oneShotBlocks(study: StudyTables, reference: ReferenceTable | null | undefined): Block[] {
  if (study.mainIsOneShot) return [{ kind: 'h', level: 2, text: 'One-shot: ours vs the reference' }, ...referenceBlocks(study, reference)];
  const os = study.oneShot;
  if (!os) return [];
  const runs = os.rows.reduce((a, r) => a + Object.values(r.cells).reduce((x, c) => x + c.n, 0), 0);
  return [
    { kind: 'h', level: 2, text: 'One-shot results (one train and one val image per class)' },
    { kind: 'p', text: `${runs} one-shot runs, kept out of the tables, group means and size curve above: one-shot is a different setting from any training-set size.` },
    taskTable(os),
    { kind: 'h', level: 3, text: 'Ours vs the reference' },
    ...referenceBlocks(os, reference),
  ];
}

/** Data size: FT and VPT at each measured size per task and where FT overtakes VPT. */
export function crossoverBlocks(cs: readonly Crossover[]): Block[] {
  const sizes = [...new Set(cs.flatMap((c) => c.points.map((p) => p.size)))].sort((a, b) => a - b);
  return [
    { kind: 'h', level: 2, text: 'Data size: where FT overtakes VPT' },
    { kind: 'p', text: 'Mean test top-1 (%) of FT / VPT at each measured training-set size. FT overtakes VPT at the smallest size from which FT is ahead at every larger size too; "within seed spread": the FT - VPT gap there is no larger than the larger of the two seed stds.' },
    {
      kind: 'table',
      head: ['task', ...sizes.map((s) => `${s}: FT / VPT`), 'verdict'],
      numeric: [false, ...sizes.map(() => true), false],
      rows: cs.map((c) => [c.task, ...sizes.map((s) => {
        const p = c.points.find((x) => x.size === s);
        return p ? `${p.ft.mean.toFixed(2)} / ${p.vpt.mean.toFixed(2)}` : '—';
      }), c.text]),
    },
  ];
}

/** Prompt length: mean ± std per task, mode and length, each row's best marked, and a verdict line per task. */
export function promptSweepBlocks(sweep: PromptSweep): Block[] {
  return [
    { kind: 'h', level: 2, text: 'Prompt length: test top-1 per task' },
    { kind: 'p', text: `${sweep.runs} runs from \`promptSweep\` (not in the tables above). Test top-1 (%), mean ± std over seeds, per prompt length; deep = prompts at every layer (VPT), shallow = at the input only (VPT-shallow); "(best)" marks each row's best length (a tie goes to the shorter).` },
    {
      kind: 'table',
      head: ['task', 'prompts', ...sweep.lengths.map(String)],
      numeric: [false, false, ...sweep.lengths.map(() => true)],
      rows: sweep.rows.map((r) => [r.task, r.mode, ...sweep.lengths.map((l) => {
        const p = r.points.find((x) => x.length === l);
        return p ? `${fmtCell(p.stats)}${l === r.best ? ' (best)' : ''}` : '—';
      })]),
    },
    { kind: 'list', items: sweep.verdicts.map((v) => v.text) },
  ];
}
