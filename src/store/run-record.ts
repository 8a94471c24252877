/** Run records: what one successful stage run produced, keyed by its fingerprint. */
import { isSha256, sha256, type Sha256 } from './sha256.js';

export interface ArtifactRef {
  readonly kind: 'file' | 'dir';
  /** File: sha256 of the content. Folder: sha256 of its canonical manifest (see manifest.ts). */
  readonly hash: Sha256;
  /** Bytes of content (a folder: the sum over its files). */
  readonly size: number;
  /** Number of files (1 for a file). */
  readonly files: number;
}

export interface RunRecord {
  readonly fingerprint: string;
  readonly stageId: string;
  /** The JSON document that was hashed into the fingerprint (the planner explains misses from it). */
  readonly fingerprintInputs: unknown;
  readonly outputs: Readonly<Record<string, { readonly path: string; readonly ref: ArtifactRef }>>;
  readonly metrics: Readonly<Record<string, number>>;
  readonly environment: Readonly<Record<string, string | number | boolean>>;
  readonly notes: readonly string[];
  readonly startedAt: string;
  readonly durationMs: number;
  readonly logFile: string | undefined;
}

/** Fingerprints become file names: keep them to a safe alphabet. */
const FINGERPRINT_RE = /^[A-Za-z0-9_-]{3,128}$/;
export function isValidFingerprint(fp: string): boolean {
  return FINGERPRINT_RE.test(fp);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export function isArtifactRef(v: unknown): v is ArtifactRef {
  return isRecord(v) && (v.kind === 'file' || v.kind === 'dir') && isSha256(v.hash) && isCount(v.size) && isCount(v.files);
}

/** Shape check of a parsed record; returns a problem description or undefined when it is valid. */
export function runRecordProblem(v: unknown): string | undefined {
  if (!isRecord(v)) return 'not an object';
  if (typeof v.fingerprint !== 'string' || !isValidFingerprint(v.fingerprint)) return 'bad fingerprint';
  if (typeof v.stageId !== 'string') return 'bad stageId';
  if (!('fingerprintInputs' in v)) return 'missing fingerprintInputs';
  if (!isRecord(v.outputs)) return 'bad outputs';
  for (const [name, o] of Object.entries(v.outputs)) {
    if (!isRecord(o) || typeof o.path !== 'string' || !isArtifactRef(o.ref)) return `bad output ${name}`;
  }
  // Metrics may be NaN/Infinity in memory; JSON stores those as null, so accept null on read.
  if (!isRecord(v.metrics) || !Object.values(v.metrics).every((m) => typeof m === 'number' || m === null)) return 'bad metrics';
  if (!isRecord(v.environment) || !Object.values(v.environment).every((x) => ['string', 'number', 'boolean'].includes(typeof x))) return 'bad environment';
  if (!Array.isArray(v.notes) || !v.notes.every((n) => typeof n === 'string')) return 'bad notes';
  if (typeof v.startedAt !== 'string') return 'bad startedAt';
  if (typeof v.durationMs !== 'number') return 'bad durationMs';
  if (v.logFile !== undefined && v.logFile !== null && typeof v.logFile !== 'string') return 'bad logFile';
  return undefined;
}

/** JSON has no NaN/Infinity: a metric stored as null reads back as NaN. */
export function reviveRunRecord(v: Record<string, unknown>): RunRecord {
  const metrics: Record<string, number> = {};
  for (const [k, m] of Object.entries(v.metrics as Record<string, number | null>)) metrics[k] = m ?? Number.NaN;
  return { ...(v as unknown as RunRecord), metrics, logFile: typeof v.logFile === 'string' ? v.logFile : undefined };
}

/**
 * A file-name-safe, collision-free slug for a stage id (ids contain `[ ] = ,`): unsafe characters
 * become `_` and, when anything was changed, a short hash of the original id is appended.
 */
export function stageSlug(stageId: string): string {
  const cleaned = stageId.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_').slice(0, 100);
  if (cleaned === stageId && cleaned.length > 0) return cleaned;
  return `${cleaned}-${sha256(stageId).slice(0, 10)}`;
}
