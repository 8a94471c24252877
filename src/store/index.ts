/** The store: content-addressed objects, run records, stat cache, lock file, gc, run-mutex. */
export { sha256, isSha256, type Sha256 } from './sha256.js';
export { canonicalJson, canonicallyEqual, tryCanonicalJson, CanonicalJsonError } from './canonical-json.js';
export { Store, type StoreError, type StoreWarning, type StoreOptions, type StoreCounters } from './store.js';
export { stageSlug, isValidFingerprint, isArtifactRef, type ArtifactRef, type RunRecord } from './run-record.js';
export { MANIFEST_FORMAT, parseManifest, type Manifest, type ManifestEntry } from './manifest.js';
export { renderLockFile, parseLockFile, writeLockFile, type LockFile, type LockStage, type LockFileError } from './lock-file.js';
export { compareMetrics, type MetricTolerance, type MetricVerdict, type MetricStatus } from './metrics.js';
export { acquireWorkspaceLock, type LockHolder, type AcquireOptions, type WorkspaceLock, type BusyError } from './mutex.js';
export type { GcOptions, GcReport } from './gc.js';
export { processLiveness, type Liveness } from './proc.js';
export { judgeStage, summarize, toleranceFor, verifyPassed, HEADLINE_METRIC, type StageCheck, type StageNow, type StageVerdict, type MetricRow, type ToleranceChoice, type VerifySummary } from './verify.js';
