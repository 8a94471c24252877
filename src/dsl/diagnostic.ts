/**
 * A diagnostic is one problem found in a pipeline file, with where it is.
 * Offsets are 0-based character offsets into the file text; line and column are 1-based
 * and are what people see (`file:line:col`).
 */
export interface SourcePosition {
  readonly file: string;
  readonly offset: number;
  readonly line: number;
  readonly column: number;
}

export interface SourceRange {
  readonly start: SourcePosition;
  /** Exclusive end. */
  readonly end: SourcePosition;
}

export type DiagnosticReason =
  | 'yaml-syntax'
  | 'schema'
  | 'unknown-key'
  | 'duplicate-id'
  | 'cycle'
  | 'unknown-stage'
  | 'unknown-output'
  | 'unknown-param'
  | 'unknown-matrix-key'
  | 'bad-reference'
  | 'bad-matrix'
  | 'unknown-kind'
  | 'bad-params'
  | 'bad-override'
  | 'missing-file'
  | 'include'
  | 'output-escapes-workspace'
  | 'output-conflict'
  /** A stage that is neither/both `uses:` and `run:`, or mixes fields of both forms. */
  | 'bad-stage'
  /** A value of the right type but unusable: a memory size or timeout string, an empty `run`. */
  | 'bad-value'
  /** (warning) A stage runs more threads than the CPUs it reserves. */
  | 'oversubscribed'
  /** A stage cannot start: a data package, a data root's files or a `deps:` input is missing. */
  | 'stage-not-ready';

export interface Diagnostic {
  readonly severity: 'error' | 'warning';
  readonly reason: DiagnosticReason;
  readonly message: string;
  /** Absent only for problems that have no place in a file (e.g. a bad `--set` flag). */
  readonly location?: SourceRange;
  /** e.g. "did you mean `needs`?" */
  readonly hint?: string;
  /** Other places that matter, e.g. the other links of a cycle. */
  readonly related?: readonly { readonly message: string; readonly location: SourceRange }[];
}
