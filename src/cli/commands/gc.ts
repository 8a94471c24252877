import { readFile } from 'node:fs/promises';
import { parseLockFile } from '../../store/index.js';
import { loadWorkspace, splitFileAndTargets, type PipelineOptions } from '../context.js';
import { CliExit, EXIT } from '../exit-codes.js';
import { formatBytes, parseAge, parseSize } from '../units.js';

export interface GcCliOptions extends PipelineOptions {
  readonly maxSize?: string;
  readonly maxAge?: string;
  readonly dryRun?: boolean;
}

/**
 * Without caps: keep what the lock file references and the latest result of every stage of the
 * pipeline, remove the rest. With --max-size / --max-age: keep every record but evict the least
 * recently used ones until under the cap; the lock's results are never evicted.
 */
export async function gcCommand(positionals: string[], options: GcCliOptions): Promise<number> {
  const { file } = splitFileAndTargets(positionals, options.file);
  const { pipeline, store, lockPath } = await loadWorkspace(file, options);
  let lockText: string | undefined;
  try {
    lockText = await readFile(lockPath, 'utf8');
  } catch {
    lockText = undefined;
  }
  const lock = lockText === undefined ? undefined : parseLockFile(lockText, lockPath);
  if (lock && !lock.ok) throw new CliExit(EXIT.invalid, `${lockPath}: ${lock.error.message}`);
  const maxBytes = options.maxSize === undefined ? undefined : parseSize(options.maxSize);
  const maxAgeMs = options.maxAge === undefined ? undefined : parseAge(options.maxAge);
  if (maxBytes === null) throw new CliExit(EXIT.invalid, `--max-size takes a size like 500MiB or 20GiB, got '${options.maxSize}'`);
  if (maxAgeMs === null) throw new CliExit(EXIT.invalid, `--max-age takes an age like 12h, 30d or 2w, got '${options.maxAge}'`);
  const capped = maxBytes !== undefined || maxAgeMs !== undefined;
  const keep: string[] = [];
  if (!capped) {
    for (const stage of pipeline.stages) {
      const latest = await store.getLatest(stage.id);
      if (latest) keep.push(latest);
    }
  }
  const report = await store.gc({
    ...(capped ? {} : { keep }),
    ...(lock?.ok ? { lock: lock.value } : {}),
    ...(maxBytes !== undefined ? { maxBytes } : {}),
    ...(maxAgeMs !== undefined ? { maxAgeMs } : {}),
    dryRun: options.dryRun === true,
  });
  const verb = report.dryRun ? 'would remove' : 'removed';
  process.stdout.write(
    `${verb} ${report.recordsRemoved.length} run record(s) and ${report.objectsRemoved} object(s), ${formatBytes(report.bytesFreed)}; ` +
      `kept ${report.recordsKept} record(s), ${report.objectsKept} object(s), ${formatBytes(report.bytesKept)}\n`,
  );
  return EXIT.ok;
}
