/**
 * Image decoding + resizing with sharp on a small pool of worker threads. Each worker reads the file
 * itself, hashes the bytes (sha256, for provenance) and decodes, so the main thread only moves pixels.
 *
 * The worker is an eval'd CommonJS snippet that requires sharp from a path resolved here: it then runs
 * the same under tsx, vitest and the compiled dist/, with no separate worker file to ship. sharp is
 * required lazily (only when a pool is created), so planning never loads it.
 */
import { createRequire } from 'node:module';
import type { Worker as WorkerType } from 'node:worker_threads';
import { err, ok, type Result } from '../../util/result.js';
import { dataError, type DataError } from './errors.js';

export interface DecodeRequest {
  readonly file: string;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
}

export interface DecodedImage {
  /** HWC uint8. */
  readonly pixels: Uint8Array;
  /** sha256 of the file's bytes, hex. */
  readonly sha256: string;
}

export interface DecodePool {
  readonly workers: number;
  decode(request: DecodeRequest): Promise<Result<DecodedImage, DataError>>;
  /**
   * Decodes every request, calling `onImage` in request order (so shards are written deterministically
   * whatever order the workers finish in). Stops at the first error.
   */
  decodeEach(
    requests: readonly DecodeRequest[],
    onImage: (index: number, image: DecodedImage) => Promise<void> | void,
    options?: { readonly signal?: AbortSignal; readonly window?: number },
  ): Promise<Result<number, DataError>>;
  close(): Promise<void>;
}

/** Resampling as in the VTAB-1k loaders of the common release (torchvision Resize((224,224)), bicubic). */
export type ResizeKernel = 'cubic' | 'lanczos3' | 'linear' | 'nearest';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { readFile } = require('node:fs/promises');
const { createHash } = require('node:crypto');
const sharp = require(workerData.sharpPath);
// One libvips thread per image, one image at a time per worker: sharp's work runs on the process-wide
// libuv pool, so without this a single worker would already keep every core busy and the worker count
// would not be the parallelism knob it claims to be.
sharp.concurrency(1);
sharp.cache(false);
let chain = Promise.resolve();
parentPort.on('message', (m) => { chain = chain.then(() => handle(m)); });
async function handle(m) {
  let bytes;
  try {
    bytes = await readFile(m.file);
  } catch (e) {
    parentPort.postMessage({ id: m.id, ok: false, reason: 'missing-file', message: e.code === 'ENOENT' ? 'image file is missing' : 'cannot read image: ' + e.message });
    return;
  }
  try {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const { data, info } = await sharp(bytes, { failOn: 'warning' })
      .removeAlpha()
      .resize(m.width, m.height, { fit: 'fill', kernel: workerData.kernel })
      .toColourspace(m.channels === 1 ? 'b-w' : 'srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== m.channels || info.width !== m.width || info.height !== m.height) {
      throw new Error('decoded to ' + info.width + 'x' + info.height + 'x' + info.channels + ', wanted ' + m.width + 'x' + m.height + 'x' + m.channels);
    }
    const pixels = new Uint8Array(data.length);
    pixels.set(data);
    parentPort.postMessage({ id: m.id, ok: true, pixels, sha256 }, [pixels.buffer]);
  } catch (e) {
    parentPort.postMessage({ id: m.id, ok: false, reason: 'bad-image', message: 'cannot decode image (missing, truncated or corrupt?): ' + String(e && e.message || e).split('\\n')[0] });
  }
}
`;

type Reply =
  | { readonly id: number; readonly ok: true; readonly pixels: Uint8Array; readonly sha256: string }
  | { readonly id: number; readonly ok: false; readonly reason: 'missing-file' | 'bad-image'; readonly message: string };

export async function createDecodePool(workers = 2, options: { readonly kernel?: ResizeKernel } = {}): Promise<DecodePool> {
  const { Worker } = await import('node:worker_threads');
  const sharpPath = createRequire(import.meta.url).resolve('sharp');
  const pool: WorkerType[] = [];
  const pending = new Map<number, { resolve: (r: Reply) => void; file: string }>();
  const load: number[] = [];
  let nextId = 0;
  let crashed: Error | undefined;
  for (let i = 0; i < Math.max(1, workers); i++) {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { sharpPath, kernel: options.kernel ?? 'cubic' } });
    w.on('message', (reply: Reply) => {
      const entry = pending.get(reply.id);
      if (!entry) return;
      pending.delete(reply.id);
      load[i] = (load[i] ?? 1) - 1;
      entry.resolve(reply);
    });
    w.on('error', (e) => {
      crashed = e;
      for (const [id, entry] of pending) {
        pending.delete(id);
        entry.resolve({ id, ok: false, reason: 'bad-image', message: `decode worker crashed: ${e.message}` });
      }
    });
    pool.push(w);
    load.push(0);
  }

  const decode = (request: DecodeRequest): Promise<Result<DecodedImage, DataError>> => {
    if (crashed) return Promise.resolve(err(dataError('bad-image', `decode worker crashed: ${crashed.message}`, request.file)));
    // Least-loaded worker.
    let best = 0;
    for (let i = 1; i < pool.length; i++) if ((load[i] as number) < (load[best] as number)) best = i;
    load[best] = (load[best] as number) + 1;
    const id = nextId++;
    return new Promise((resolve) => {
      pending.set(id, {
        file: request.file,
        resolve: (reply) => resolve(reply.ok ? ok({ pixels: reply.pixels, sha256: reply.sha256 }) : err(dataError(reply.reason, reply.message, request.file))),
      });
      (pool[best] as WorkerType).postMessage({ id, ...request });
    });
  };

  return {
    workers: pool.length,
    decode,
    async decodeEach(requests, onImage, opts = {}) {
      // A window of in-flight decodes keeps both workers busy without buffering a whole split.
      const window = opts.window ?? pool.length * 8;
      const inFlight: Promise<Result<DecodedImage, DataError>>[] = [];
      let issued = 0;
      for (let done = 0; done < requests.length; done++) {
        while (issued < requests.length && issued - done < window) inFlight.push(decode(requests[issued++] as DecodeRequest));
        if (opts.signal?.aborted) return err(dataError('bad-image', 'aborted', requests[done]?.file));
        const r = await (inFlight.shift() as Promise<Result<DecodedImage, DataError>>);
        if (!r.ok) {
          await Promise.allSettled(inFlight);
          return r;
        }
        await onImage(done, r.value);
      }
      return ok(requests.length);
    },
    async close() {
      await Promise.all(pool.map((w) => w.terminate()));
    },
  };
}
