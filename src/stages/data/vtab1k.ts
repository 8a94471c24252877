/**
 * `data.vtab1k`: the common on-disk VTAB-1k release (per task `images/...` plus list files
 * train800.txt, val200.txt, train800val200.txt, test.txt of `relative/path label` lines) to task shards.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defineKind, type StageContext, type StageProblem, type StageRunResult } from '../kind.js';
import { readTaskMeta, type PixelFormat } from '../../io/shards.js';
import { err, ok, type Result } from '../../util/result.js';
import type { DecodePool, ResizeKernel } from './decode.js';
import { dataError, DataStageError, type DataError } from './errors.js';
import { readListFile, type ListEntry } from './listfile.js';
import { checkSizes, planVariants } from './splits.js';
import { IMAGENET_NORMALIZATION, findVtabTask, VTAB_LIST_FILES, type VtabTask } from './tasks.js';
import { sha256File, writeFileTask, type FileItem } from './write-task.js';
import { pixelFormatSchema, resolvePath, sizesSchema } from './params.js';

export interface Vtab1kParams {
  /** Folder holding one folder per task (workspace-relative or absolute). */
  readonly root: string;
  /** Task names or aliases; default: every folder under `root` that names a VTAB task. */
  readonly tasks?: readonly string[];
  readonly imageSize?: number;
  readonly pixels?: PixelFormat;
  readonly sizes?: readonly number[];
  readonly oneShot?: boolean;
  readonly workers?: number;
  readonly kernel?: ResizeKernel;
  readonly seed?: number;
}

export interface VtabFolder {
  readonly task: VtabTask;
  readonly dir: string;
}

/** The folders under root that name a VTAB task, by canonical task name (first folder wins). */
async function taskFoldersUnder(root: string): Promise<Result<{ byTask: Map<string, VtabFolder>; notes: string[] }, DataError>> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (e) {
    return err(dataError('bad-layout', `cannot list the VTAB-1k root: ${(e as Error).message}`, root));
  }
  const notes: string[] = [];
  const byTask = new Map<string, VtabFolder>();
  for (const entry of entries.filter((e) => e.isDirectory()).map((e) => e.name).sort()) {
    const task = findVtabTask(entry);
    if (!task) continue;
    const seen = byTask.get(task.name);
    if (seen) { notes.push(`${task.name}: folders ${seen.dir} and ${entry} both name it; using the first`); continue; }
    byTask.set(task.name, { task, dir: join(root, entry) });
  }
  return ok({ byTask, notes });
}

/** Maps the requested tasks (or all recognisable folders) to folders under root. */
export async function findVtabFolders(root: string, requested?: readonly string[]): Promise<Result<{ folders: VtabFolder[]; notes: string[] }, DataError>> {
  const under = await taskFoldersUnder(root);
  if (!under.ok) return under;
  const { byTask, notes } = under.value;
  if (!requested) {
    if (byTask.size === 0) return err(dataError('bad-layout', 'no folder here names a VTAB-1k task (e.g. cifar100, dtd, svhn, clevr_count)', root));
    return ok({ folders: [...byTask.values()], notes });
  }
  const folders: VtabFolder[] = [];
  for (const name of requested) {
    const task = findVtabTask(name);
    if (!task) return err(dataError('unknown-task', `"${name}" is not one of the 19 VTAB-1k tasks or their aliases`, root));
    const folder = byTask.get(task.name);
    if (!folder) return err(dataError('bad-layout', `no folder for task ${task.name} (accepted names: ${[task.name, ...task.aliases].join(', ')})`, root));
    folders.push(folder);
  }
  return ok({ folders, notes });
}

/**
 * The dry check of a data root, before anything runs: every requested task without a folder, and
 * every task folder without images/ or one of the list files, each task on one line.
 */
export async function checkVtabRoot(root: string, requested?: readonly string[]): Promise<StageProblem[]> {
  const under = await taskFoldersUnder(root);
  if (!under.ok) {
    const absent = !(await stat(root).then(() => true, () => false));
    const detail = absent ? 'does not exist' : `cannot be read (${under.error.message.replace(/^cannot list the VTAB-1k root: /, '')})`;
    return [{ message: `the VTAB-1k root ${root} ${detail}`, path: root, hint: 'docs/vtab-full.md says where the release comes from and how to point the pipeline at it' }];
  }
  const { byTask } = under.value;
  const problems: StageProblem[] = [];
  const folders: VtabFolder[] = [];
  for (const name of requested ?? [...byTask.keys()]) {
    const task = findVtabTask(name);
    if (!task) {
      problems.push({ message: `"${name}" is not one of the 19 VTAB-1k tasks or their aliases` });
      continue;
    }
    const folder = byTask.get(task.name);
    if (folder) folders.push(folder);
    else problems.push({ message: `${task.name}: no folder under ${root} (accepted names: ${[task.name, ...task.aliases].join(', ')})` });
  }
  if (requested === undefined && byTask.size === 0) {
    problems.push({ message: `no folder under ${root} names a VTAB-1k task (e.g. cifar100, dtd, svhn, clevr_count)`, hint: 'see docs/vtab-full.md for the layout' });
  }
  const isFile = (p: string): Promise<boolean> => stat(p).then((st) => st.isFile(), () => false);
  for (const folder of folders) {
    const missing: string[] = [];
    if (!(await stat(join(folder.dir, 'images')).then((st) => st.isDirectory(), () => false))) missing.push('images/');
    for (const list of VTAB_LIST_FILES) if (!(await isFile(join(folder.dir, `${list}.txt`)))) missing.push(`${list}.txt`);
    if (missing.length > 0) problems.push({ message: `${folder.task.name} (${folder.dir}): missing ${missing.join(', ')}` });
  }
  return problems;
}

export interface VtabTaskInput {
  readonly pool: FileItem[];
  readonly splits: Map<string, number[]>;
  readonly test: FileItem[];
  readonly listDigests: Record<string, string>;
}

/** Checks a task folder's layout and reads its list files into a pool (train800val200 first) and a test list. */
export async function readVtabTaskFolder(folder: VtabFolder): Promise<Result<VtabTaskInput, DataError>> {
  const imagesDir = join(folder.dir, 'images');
  const isDir = await stat(imagesDir).then((s) => s.isDirectory(), () => false);
  if (!isDir) {
    return err(dataError('bad-layout', `task folder must hold images/ and ${VTAB_LIST_FILES.map((n) => `${n}.txt`).join(', ')}; images/ is missing`, folder.dir));
  }
  const lists = new Map<string, ListEntry[]>();
  const listDigests: Record<string, string> = {};
  for (const name of VTAB_LIST_FILES) {
    const file = join(folder.dir, `${name}.txt`);
    const parsed = await readListFile(file, folder.task.numClasses);
    if (!parsed.ok) return parsed;
    lists.set(name, parsed.value);
    listDigests[`${name}.txt`] = await sha256File(file);
  }
  // Releases differ on whether list paths include the `images/` prefix: probe the first entry once.
  const first = (lists.get('train800val200') as ListEntry[])[0] as ListEntry;
  const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);
  const base = !(await exists(join(folder.dir, first.path))) && (await exists(join(imagesDir, first.path))) ? imagesDir : folder.dir;
  const pool: FileItem[] = [];
  const where = new Map<string, { index: number; file: string; line: number }>();
  const indicesOf = (name: string): Result<number[], DataError> => {
    const file = join(folder.dir, `${name}.txt`);
    const out: number[] = [];
    for (const e of lists.get(name) as ListEntry[]) {
      const seen = where.get(e.path);
      if (seen) {
        if ((pool[seen.index] as FileItem).label !== e.label) {
          return err(dataError('bad-list-line', `${e.path} has label ${e.label} here but ${(pool[seen.index] as FileItem).label} at ${seen.file}:${seen.line}`, file, e.line));
        }
        out.push(seen.index);
        continue;
      }
      where.set(e.path, { index: pool.length, file, line: e.line });
      out.push(pool.length);
      pool.push({ file: join(base, e.path), label: e.label, ref: `${file}:${e.line}` });
    }
    return ok(out);
  };
  const splits = new Map<string, number[]>();
  // train800val200 first, so the pool (and data-size variants drawn from it) does not depend on the others.
  for (const name of ['train800val200', 'train800', 'val200'] as const) {
    const idx = indicesOf(name);
    if (!idx.ok) return idx;
    splits.set(name, idx.value);
  }
  const testFile = join(folder.dir, 'test.txt');
  const test = (lists.get('test') as ListEntry[]).map((e) => ({ file: join(base, e.path), label: e.label, ref: `${testFile}:${e.line}` }));
  return ok({ pool, splits: new Map([['train800', splits.get('train800') as number[]], ['val200', splits.get('val200') as number[]], ['train800val200', splits.get('train800val200') as number[]]]), test, listDigests });
}

/** Reads, decodes and writes one task; notes record skipped variants. */
export async function buildVtabTask(
  folder: VtabFolder,
  outDir: string,
  params: Vtab1kParams,
  seed: number,
  decoder: DecodePool,
  hooks: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<Result<{ notes: string[]; images: number }, DataError>> {
  const input = await readVtabTaskFolder(folder);
  if (!input.ok) return input;
  const size = params.imageSize ?? 224;
  const pixels = params.pixels ?? 'uint8';
  const trainval = input.value.splits.get('train800val200') as number[];
  const poolLabels = trainval.map((i) => (input.value.pool[i] as FileItem).label);
  // Variants are drawn from train800val200 only (VTAB-1k has no other non-test images).
  const plan = planVariants(poolLabels, folder.task.numClasses, { sizes: params.sizes ?? [], oneShot: params.oneShot ?? false, seed });
  const splits = new Map(input.value.splits);
  for (const [name, idx] of plan.splits) splits.set(name, idx.map((k) => trainval[k] as number));
  const notes = plan.notes.map((n) => `${folder.task.name}: ${n}`);
  const written = await writeFileTask({
    taskDir: join(outDir, folder.task.name),
    base: {
      name: folder.task.name,
      group: folder.task.group,
      disparity: folder.task.group === 'structured' ? 'high' : 'low',
      numClasses: folder.task.numClasses,
      imageShape: [size, size, 3],
      normalization: { mean: [...IMAGENET_NORMALIZATION.mean], std: [...IMAGENET_NORMALIZATION.std] },
      source: {
        format: 'vtab-1k',
        folder: folder.dir,
        listFiles: input.value.listDigests,
        preprocessing: { decoder: 'sharp', resize: `${size}x${size} fill`, kernel: params.kernel ?? 'cubic', colour: 'srgb', scale: '1/255', normalization: 'imagenet', pixels },
        seed,
      },
      ...(plan.notes.length > 0 ? { notes: plan.notes } : {}),
      ...(Object.keys(plan.variants).length > 0 ? { variants: plan.variants } : {}),
    },
    pool: input.value.pool,
    splits,
    test: input.value.test,
    image: { width: size, height: size, channels: 3 },
    pixels,
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
  }, decoder);
  if (!written.ok) return written;
  return ok({ notes, images: Object.values(written.value.splits).reduce((a, b) => a + b, 0) });
}

/** What a finished task in the checkpoint folder was built from: params, seed and the list files' bytes. */
async function resumeKey(folder: VtabFolder, p: Vtab1kParams, seed: number): Promise<string | undefined> {
  const h = createHash('sha256');
  h.update(JSON.stringify({ v: VTAB1K_VERSION, dir: folder.dir, imageSize: p.imageSize ?? 224, pixels: p.pixels ?? 'uint8', sizes: p.sizes ?? [], oneShot: p.oneShot ?? false, kernel: p.kernel ?? 'cubic', seed }));
  for (const name of VTAB_LIST_FILES) {
    const bytes = await readFile(join(folder.dir, `${name}.txt`)).catch(() => undefined);
    if (!bytes) return undefined; // the build reports the missing list file
    h.update(bytes);
  }
  return h.digest('hex');
}

async function moveDir(from: string, to: string): Promise<void> {
  await rm(to, { recursive: true, force: true });
  try {
    await rename(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    await cp(from, to, { recursive: true });
    await rm(from, { recursive: true, force: true });
  }
}

const VTAB1K_VERSION = 1;

export const vtab1kKind = defineKind<Vtab1kParams>({
  name: 'data.vtab1k',
  module: import.meta.url,
  version: VTAB1K_VERSION,
  description: 'VTAB-1k release (images/ + train800/val200/train800val200/test list files) to task shards, decoded with sharp on 2 workers',
  paramsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['root'],
    properties: {
      root: { type: 'string', minLength: 1 },
      tasks: { type: 'array', items: { type: 'string' }, minItems: 1 },
      imageSize: { type: 'integer', minimum: 8, maximum: 1024, default: 224 },
      pixels: pixelFormatSchema,
      sizes: sizesSchema,
      oneShot: { type: 'boolean', default: false },
      workers: { type: 'integer', minimum: 1, maximum: 16, default: 2 },
      kernel: { enum: ['cubic', 'lanczos3', 'linear', 'nearest'], default: 'cubic' },
      seed: { type: 'integer' },
    },
  },
  outputs: () => ['tasks'],
  resources: { cpu: 2, memoryMiB: 2048 },
  check: (p, env) => checkVtabRoot(resolvePath(env, p.root), p.tasks),
  async run(ctx: StageContext<Vtab1kParams>): Promise<StageRunResult> {
    const fail = (e: DataError): never => { throw new DataStageError(e); };
    const bad = checkSizes(ctx.params.sizes ?? []);
    if (bad) fail(dataError('bad-params', bad));
    const root = resolvePath(ctx, ctx.params.root);
    const found = await findVtabFolders(root, ctx.params.tasks);
    if (!found.ok) return fail(found.error);
    const { createDecodePool } = await import('./decode.js');
    const decoder = await createDecodePool(ctx.params.workers ?? 2, { kernel: ctx.params.kernel ?? 'cubic' });
    const notes = [...found.value.notes];
    let images = 0;
    let resumed = 0;
    const started = Date.now();
    // Finished tasks are kept in the checkpoint folder until the whole stage succeeds, so a crash or
    // Ctrl-C half-way through the 19 tasks (hours of decoding at full scale) resumes task by task.
    const resumeRoot = join(ctx.checkpointDir, 'vtab1k-tasks');
    await mkdir(resumeRoot, { recursive: true });
    const out = ctx.outputs['tasks'] as string;
    await mkdir(out, { recursive: true });
    try {
      for (const [i, folder] of found.value.folders.entries()) {
        const key = await resumeKey(folder, ctx.params, ctx.seed);
        const taskDir = join(resumeRoot, folder.task.name);
        const keyFile = join(resumeRoot, `${folder.task.name}.key`);
        const previous = await readFile(keyFile, 'utf8').catch(() => undefined);
        const meta = previous === key ? await readTaskMeta(taskDir) : undefined;
        if (meta?.ok) {
          ctx.log(`${folder.task.name}: resumed from ${taskDir}`);
          images += Object.values(meta.value.splits).reduce((a, b) => a + b, 0);
          notes.push(...(meta.value.notes ?? []).map((n) => `${folder.task.name}: ${n}`));
          resumed++;
          continue;
        }
        await rm(keyFile, { force: true });
        await rm(taskDir, { recursive: true, force: true });
        ctx.log(`${folder.task.name}: reading ${folder.dir}`);
        const built = await buildVtabTask(folder, resumeRoot, ctx.params, ctx.seed, decoder, {
          signal: ctx.signal,
          onProgress: (done, total) => ctx.progress({ phase: `decode ${folder.task.name} (${i + 1}/${found.value.folders.length})`, current: done, total, unit: 'img', rate: (images + done) / Math.max(1e-3, (Date.now() - started) / 1000), rateUnit: 'img/s' }),
        });
        if (!built.ok) return fail(built.error);
        if (key !== undefined) await writeFile(keyFile, key);
        images += built.value.images;
        notes.push(...built.value.notes);
      }
    } finally {
      await decoder.close();
    }
    // Every task built: move them into the staging output (the engine moves that into place).
    for (const folder of found.value.folders) await moveDir(join(resumeRoot, folder.task.name), join(out, folder.task.name));
    await rm(resumeRoot, { recursive: true, force: true });
    const seconds = (Date.now() - started) / 1000;
    return {
      metrics: { tasks: found.value.folders.length, images },
      // Speed and resumption are circumstances of this run: the run record, not the lock's metrics.
      environment: { decoder: 'sharp', workers: decoder.workers, resumed_tasks: resumed, images_per_second: images / Math.max(seconds, 1e-3) },
      ...(notes.length > 0 ? { notes } : {}),
    };
  },
});
