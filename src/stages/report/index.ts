/** Report stage kinds (figures and the study report) and the pieces they are built from. */
import { plotsKind, studyReportKind } from './report-kind.js';

export { studyReportKind, plotsKind, loadReportInputs, buildFigures, reportBlocks, resultsCsv, ReportStageError, type ReportParams, type ReportRunRef, type ReportInputs, type LockEntry } from './report-kind.js';
export { buildStudy, canonicalMethod, methodLabel, cellStats, fmtCell, summarise, MAIN_METHODS, type StudyTables, type TaskRow, type CellStats, type GroupSummary, type StudyOptions } from './study.js';
export { PAPER_VTAB1K, PAPER_GROUP_MEANS, PAPER_VPT_WINS, paperRow, type PaperRow } from './paper.js';
export { renderFigure, svgSize, accuracyVsSizeSpec, fidGapSpec, lossCurvesSpec, ablationBarsSpec, quadrantSpec, type Figure, type PlotError } from './plots.js';
export { toMarkdown, toHtml, type Block } from './document.js';

export const reportKinds = [studyReportKind, plotsKind] as const;
