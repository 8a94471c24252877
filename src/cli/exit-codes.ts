/** Exit codes scripts can trust. */
export const EXIT = {
  ok: 0,
  /** A stage failed (or could not run). */
  stageFailed: 1,
  /** The pipeline file or the command line is invalid. */
  invalid: 2,
  /** Interrupted (Ctrl-C / SIGTERM). */
  interrupted: 130,
} as const;

/** Thrown by commands to end with a message and an exit code; caught once in main. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
