/** The one error of reading an artifact: which file, and what is wrong with it. */
export interface ArtifactError {
  readonly reason: 'unreadable' | 'bad-format';
  readonly message: string;
  readonly path: string;
}

export function artifactError(reason: ArtifactError['reason'], message: string, path: string): ArtifactError {
  return { reason, message: `${path}: ${message}`, path };
}

/** `path: message [reason]`, for the stages that throw at their boundary. */
export function formatArtifactError(e: ArtifactError): string {
  return `${e.message} [${e.reason}]`;
}

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
