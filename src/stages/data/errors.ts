/** The one error shape of the data stages: what went wrong, and where (file, and line for list files). */
export type DataErrorReason =
  | 'missing-file'
  | 'empty-list'
  | 'bad-list-line'
  | 'label-out-of-range'
  | 'bad-image'
  | 'bad-layout'
  | 'unknown-task'
  | 'bad-idx'
  | 'bad-params'
  | 'missing-package'
  | 'write-failed';

export interface DataError {
  readonly reason: DataErrorReason;
  readonly message: string;
  readonly file?: string;
  readonly line?: number;
}

export function dataError(reason: DataErrorReason, message: string, file?: string, line?: number): DataError {
  return { reason, message, ...(file !== undefined ? { file } : {}), ...(line !== undefined ? { line } : {}) };
}

/** `file:line: message` (the engine shows a stage's thrown message as is). */
export function formatDataError(e: DataError): string {
  const where = e.file === undefined ? '' : e.line === undefined ? `${e.file}: ` : `${e.file}:${e.line}: `;
  return `${where}${e.message} [${e.reason}]`;
}

/** Kinds throw at their boundary; helpers below them return Results. */
export class DataStageError extends Error {
  constructor(readonly detail: DataError) {
    super(formatDataError(detail));
    this.name = 'DataStageError';
  }
}
