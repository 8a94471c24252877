/** Report stage kinds (figures and the study report) and the pieces they are built from. */
import { plotsKind, studyReportKind } from './report-kind.js';

export { studyReportKind, plotsKind, loadReportInputs, buildFigures, reportBlocks, resultsCsv, studyExtras, ReportStageError, type ReportParams, type ReportRunRef, type ReportInputs, type LockEntry } from './report-kind.js';
export { buildStudy, inMainTable, canonicalMethod, methodLabel, cellStats, fmtCell, summarise, MAIN_METHODS, type StudyTables, type TaskRow, type CellStats, type GroupSummary, type StudyOptions } from './study.js';
export { PAPER_VTAB1K, PAPER_GROUP_MEANS, PAPER_VPT_WINS, paperRow, paperKey, type PaperRow } from './paper.js';
export { renderFigure, svgSize, accuracyVsSizeSpec, fidGapSpec, lossCurvesSpec, ablationBarsSpec, quadrantSpec, promptLengthSpec, type Figure, type PlotError } from './plots.js';
export {
  crossovers, crossoverOf, crossoverCsv, hasCrossover, matchReference, promptMode, promptSweep, buildExtras,
  type Crossover, type CrossoverPoint, type CrossoverVerdict, type ReferenceTable, type ReferenceMatch, type PromptMode, type PromptSweep, type SweepRow, type SweepVerdict, type SweepError, type StudyExtras,
} from './studies.js';
export { NO_REFERENCE, NO_PAPER_FOR_ONE_SHOT, ONE_SHOT_SETTING } from './study-sections.js';
export { toMarkdown, toHtml, type Block } from './document.js';

export const reportKinds = [studyReportKind, plotsKind] as const;
