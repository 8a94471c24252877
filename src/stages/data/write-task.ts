/**
 * Writing a task folder (task.json + one shard per split), from images in memory or from image files
 * decoded on the worker pool. Every split is streamed through a SplitWriter; `task.json` is written last,
 * so a folder without it is unfinished.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSplitWriter, type PixelFormat, type SplitWriter, type TaskMeta } from '../../io/shards.js';
import { err, ok, type Result } from '../../util/result.js';
import type { DecodePool, DecodeRequest } from './decode.js';
import { dataError, type DataError } from './errors.js';

export type TaskMetaBase = Omit<TaskMeta, 'splits'>;

export interface MemorySplit {
  readonly images: readonly Uint8Array[];
  readonly labels: readonly number[];
}

/** Stable JSON text for task.json (key order as built; two-space indent). */
export function taskJson(meta: TaskMeta): string {
  return `${JSON.stringify(meta, null, 2)}\n`;
}

async function finishAll(taskDir: string, writers: readonly SplitWriter[], meta: TaskMeta): Promise<void> {
  for (const w of writers) await w.finish(meta);
  await writeFile(join(taskDir, 'task.json'), taskJson(meta));
}

/** Writes a task whose images are all in memory. Split order is the map's order. */
export async function writeMemoryTask(taskDir: string, base: TaskMetaBase, splits: ReadonlyMap<string, MemorySplit>, pixels: PixelFormat): Promise<Result<TaskMeta, DataError>> {
  const writers: SplitWriter[] = [];
  try {
    await mkdir(taskDir, { recursive: true });
    for (const [name, split] of splits) {
      const w = await createSplitWriter(taskDir, name, base, { pixels });
      writers.push(w);
      for (let i = 0; i < split.images.length; i++) await w.append(split.images[i] as Uint8Array, split.labels[i] as number);
    }
    const meta: TaskMeta = { ...base, splits: Object.fromEntries([...splits].map(([n, s]) => [n, s.labels.length])) };
    await finishAll(taskDir, writers, meta);
    return ok(meta);
  } catch (e) {
    for (const w of writers) await w.abort();
    return err(dataError('write-failed', `cannot write the task: ${(e as Error).message}`, taskDir));
  }
}

export interface FileItem {
  readonly file: string;
  readonly label: number;
  /** Where the item was listed (`list.txt:12`), added to error messages. */
  readonly ref?: string;
}

/** Adds the list-file reference of the failing image, when it has one. */
function withRef(e: DataError, items: readonly FileItem[]): DataError {
  const item = items.find((x) => x.file === e.file);
  return item?.ref ? { ...e, message: `${e.message} (listed at ${item.ref})` } : e;
}

export interface FileTaskPlan {
  readonly taskDir: string;
  readonly base: TaskMetaBase;
  /** Non-test images; split indices point into it. */
  readonly pool: readonly FileItem[];
  /** Split name -> pool indices, in write order. */
  readonly splits: ReadonlyMap<string, readonly number[]>;
  /** Streamed (never held whole in memory): it is the large one. */
  readonly test: readonly FileItem[];
  readonly testSplit?: string;
  readonly image: { readonly width: number; readonly height: number; readonly channels: 1 | 3 };
  readonly pixels: PixelFormat;
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Decodes the pool images the splits use (each once) and the test images, writes every split, and
 * records per-split sha256 digests of the source files in `source.imageDigests`.
 */
export async function writeFileTask(plan: FileTaskPlan, decoder: DecodePool): Promise<Result<TaskMeta, DataError>> {
  const { width, height, channels } = plan.image;
  const request = (item: FileItem): DecodeRequest => ({ file: item.file, width, height, channels });
  const used = [...new Set([...plan.splits.values()].flat())].sort((a, b) => a - b);
  const total = used.length + plan.test.length;
  let done = 0;
  const tick = (): void => { done++; plan.onProgress?.(done, total); };
  // Decoded pool images go to a scratch file, not memory: splits overlap (train800val200, size variants)
  // and a 10,000-image variant at 224x224 would otherwise hold gigabytes.
  await mkdir(plan.taskDir, { recursive: true });
  const imageBytes = width * height * channels;
  const cachePath = join(plan.taskDir, `.pool-pixels-${process.pid}`);
  const cache = await open(cachePath, 'w+');
  const slot = new Map<number, number>();
  const sha = new Map<number, string>();
  const writers: SplitWriter[] = [];
  const digests: Record<string, string> = {};
  const counts: Record<string, number> = {};
  const cleanup = async (): Promise<void> => {
    for (const w of writers) await w.abort();
    await cache.close().catch(() => {});
    await rm(cachePath, { force: true });
  };
  try {
    const poolResult = await decoder.decodeEach(used.map((i) => request(plan.pool[i] as FileItem)), async (k, img) => {
      const index = used[k] as number;
      slot.set(index, k);
      sha.set(index, img.sha256);
      await cache.write(img.pixels, 0, imageBytes, k * imageBytes);
      tick();
    }, plan.signal ? { signal: plan.signal } : {});
    if (!poolResult.ok) {
      await cleanup();
      return err(withRef(poolResult.error, plan.pool));
    }
    const buf = new Uint8Array(imageBytes);
    for (const [name, indices] of plan.splits) {
      const w = await createSplitWriter(plan.taskDir, name, plan.base, { pixels: plan.pixels });
      writers.push(w);
      const h = createHash('sha256');
      for (const i of indices) {
        await cache.read(buf, 0, imageBytes, (slot.get(i) as number) * imageBytes);
        await w.append(buf, (plan.pool[i] as FileItem).label);
        h.update(sha.get(i) as string);
      }
      digests[name] = h.digest('hex');
      counts[name] = indices.length;
    }
    await cache.close();
    await rm(cachePath, { force: true });
    const testName = plan.testSplit ?? 'test';
    const testWriter = await createSplitWriter(plan.taskDir, testName, plan.base, { pixels: plan.pixels });
    writers.push(testWriter);
    const th = createHash('sha256');
    const testResult = await decoder.decodeEach(plan.test.map(request), async (k, img) => {
      await testWriter.append(img.pixels, (plan.test[k] as FileItem).label);
      th.update(img.sha256);
      tick();
    }, plan.signal ? { signal: plan.signal } : {});
    if (!testResult.ok) {
      await cleanup();
      return err(withRef(testResult.error, plan.test));
    }
    digests[testName] = th.digest('hex');
    counts[testName] = plan.test.length;
    const meta: TaskMeta = {
      ...plan.base,
      splits: counts,
      source: { ...(plan.base.source ?? {}), imageDigests: digests },
    };
    await finishAll(plan.taskDir, writers, meta);
    return ok(meta);
  } catch (e) {
    await cleanup();
    return err(dataError('write-failed', `cannot write the task: ${(e as Error).message}`, plan.taskDir));
  }
}

export async function sha256File(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}
