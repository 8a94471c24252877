/**
 * The float64 wasm SIMD kernels (f64-kernels.wat), the shared memory they work in, and helper
 * threads that take bands of rows. A caller reserves the room one operation needs, copies its
 * operands into slabs and calls a kernel; the call returns when every band is done, so the API
 * stays synchronous. Undefined where wasm SIMD or shared memory is missing: callers then run the
 * same algorithms in TypeScript.
 *
 * Results never depend on the thread count: a product's bands split whole rows (each entry is
 * summed in the same order by whichever thread owns it), and a tridiagonal pass always splits
 * into the same two bands, summed in the same order, with or without a helper.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { F64_KERNELS_WASM_BASE64 } from './f64-kernels.generated.js';

interface WasmMemory { readonly buffer: ArrayBufferLike; grow(pages: number): number }
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  validate(bytes: Uint8Array): boolean;
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WebAssemblyApi }).WebAssembly;

interface Exports {
  gemm_packed(ap: number, bp: number, c: number, ldc: number, m: number, n: number, k: number, alpha: number, flags: number, i0: number): void;
  tri_pass(a: number, n: number, from: number, lo: number, hi: number, v: number, q: number, w: number, p: number): void;
}

export const GEMM_LOWER = 1;
export const GEMM_A_UPPER = 2;

/** A run of doubles inside the kernels' memory: `view` to read and write it, `ptr` for a kernel. */
export interface Slab {
  readonly ptr: number;
  readonly length: number;
  view(): Float64Array;
}

/** Operands packed as gemm_packed wants them: m even, n a multiple of 4, k even (zero padded). */
export interface PackedGemmCall {
  readonly ap: number; readonly bp: number;
  readonly c: number; readonly ldc: number;
  readonly m: number; readonly n: number; readonly k: number;
  readonly alpha: number; readonly flags: number;
}

export interface F64Kernels {
  /** Threads a product may use (this one included). */
  readonly threads: number;
  /** Makes room for `doubles` doubles of slabs and forgets the earlier slabs. */
  reserve(doubles: number): void;
  /** The next `length` doubles of the reserved room, 16-byte aligned. */
  slab(length: number): Slab;
  /** C += alpha·A Bᵀ on packed operands (see gemm_packed in the .wat), rows shared among the threads. */
  gemmPacked(call: PackedGemmCall): void;
  /** One tridiagonalisation pass over rows [from, n): band sums go to p0 and p1, for the caller to add. */
  triPass(a: number, n: number, from: number, v: number, q: number, w: number, p0: number, p1: number): void;
  /** Stops the helper threads. */
  close(): void;
}

const PAGE = 65536;
const MAX_PAGES = 32768; // as declared in the .wat: 2 GiB, so byte offsets stay positive i32
const CTRL_INTS = 32; // per helper: seq, done, op, up to 10 arguments, alpha (as a float64 at int 16)
const MAX_HELPERS = 3;
/** What analysis.fid declares (`resources: { cpu: 2 }`); more by setF64Threads. */
const DEFAULT_THREADS = 2;
const SLAB_START = CTRL_INTS * 4 * MAX_HELPERS;
/** Below this many multiply-adds a product runs on one thread (handing over costs ~0.1 ms). */
const MIN_SHARED_WORK = 1 << 21;
const HELPER_TIMEOUT_MS = 10 * 60 * 1000;

let cached: F64Kernels | null | undefined;
let enabled = true;
let requestedThreads: number | undefined;

/** The kernels, set up once; undefined without wasm SIMD and shared memory (or when switched off). */
export function f64Kernels(): F64Kernels | undefined {
  if (!enabled) return undefined;
  if (cached === undefined) cached = instantiate(requestedThreads ?? Math.min(availableParallelism(), DEFAULT_THREADS));
  return cached ?? undefined;
}

/** Tests and benchmarks compare the TypeScript path with the kernels; returns the previous setting. */
export function useF64Kernels(on: boolean): boolean {
  const before = enabled;
  enabled = on;
  return before;
}

/** Threads for later products (1 = no helper); helpers already running are stopped. */
export function setF64Threads(threads: number): void {
  requestedThreads = Math.max(1, Math.min(MAX_HELPERS + 1, Math.floor(threads)));
  if (cached) cached.close();
  cached = undefined;
}

/** Which implementation the numerics run on now. */
export const f64KernelName = (): string => {
  const k = f64Kernels();
  return k ? `wasm-simd (${k.threads} thread${k.threads === 1 ? '' : 's'})` : 'typescript';
};

/** Whether an operation of `doubles` doubles fits the kernels' address range. */
export const fitsKernels = (doubles: number): boolean => SLAB_START + doubles * 8 + 64 <= MAX_PAGES * PAGE;

// The helper's whole program: a string, so it needs no file next to the compiled JS and no
// TypeScript loader under tsx. It waits on its control block, runs the call, posts the status.
const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, bytes, ctrlOffset } = workerData;
const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
const ctrl = new Int32Array(memory.buffer, ctrlOffset, ${CTRL_INTS});
const alpha = new Float64Array(memory.buffer, ctrlOffset + 64, 1);
Atomics.store(ctrl, 1, -1);
Atomics.notify(ctrl, 1);
let seen = 0;
for (;;) {
  Atomics.wait(ctrl, 0, seen);
  seen = Atomics.load(ctrl, 0);
  const op = ctrl[2];
  if (op === 3) break;
  let status = seen;
  try {
    if (op === 1) ex.gemm_packed(ctrl[3], ctrl[4], ctrl[5], ctrl[6], ctrl[7], ctrl[8], ctrl[9], alpha[0], ctrl[10], ctrl[11]);
    else ex.tri_pass(ctrl[3], ctrl[4], ctrl[5], ctrl[6], ctrl[7], ctrl[8], ctrl[9], ctrl[10], ctrl[11]);
  } catch (e) { status = -2 - seen; }
  Atomics.store(ctrl, 1, status);
  Atomics.notify(ctrl, 1);
}
`;

class Helper {
  readonly #ctrl: Int32Array;
  readonly #alpha: Float64Array;
  #seq = 0;
  readonly worker: Worker;

  constructor(memory: WasmMemory, bytes: Uint8Array, index: number) {
    const ctrlOffset = index * CTRL_INTS * 4;
    this.#ctrl = new Int32Array(memory.buffer, ctrlOffset, CTRL_INTS);
    this.#alpha = new Float64Array(memory.buffer, ctrlOffset + 64, 1);
    this.#ctrl.fill(0);
    // execArgv: [] so that no --input-type=module (or loader) of the parent turns the CommonJS source into ESM.
    this.worker = new Worker(HELPER_SOURCE, { eval: true, execArgv: [], workerData: { memory, bytes, ctrlOffset } });
    this.worker.unref();
  }

  /** Waits (blocking) for the helper to come up; false if it does not within the time given. */
  ready(timeoutMs: number): boolean {
    Atomics.wait(this.#ctrl, 1, 0, timeoutMs);
    return Atomics.load(this.#ctrl, 1) === -1;
  }

  start(op: 1 | 2, ints: readonly number[], alpha = 0): void {
    this.#ctrl.set(ints, 3);
    this.#alpha[0] = alpha;
    Atomics.store(this.#ctrl, 2, op);
    Atomics.store(this.#ctrl, 0, ++this.#seq);
    Atomics.notify(this.#ctrl, 0);
  }

  stop(): void {
    Atomics.store(this.#ctrl, 2, 3);
    Atomics.store(this.#ctrl, 0, ++this.#seq);
    Atomics.notify(this.#ctrl, 0);
  }

  finish(): void {
    const deadline = Date.now() + HELPER_TIMEOUT_MS;
    for (;;) {
      const status = Atomics.load(this.#ctrl, 1);
      if (status === this.#seq) return;
      if (status === -2 - this.#seq) throw new Error('a FID kernel failed in its helper thread');
      if (Date.now() > deadline) throw new Error('the FID kernels\' helper thread stopped answering');
      Atomics.wait(this.#ctrl, 1, status, 1000);
    }
  }
}

function instantiate(threads: number): F64Kernels | null {
  if (!wasmApi || typeof SharedArrayBuffer === 'undefined') return null;
  const bytes = Buffer.from(F64_KERNELS_WASM_BASE64, 'base64');
  if (!wasmApi.validate(bytes)) return null;
  let memory: WasmMemory;
  try {
    memory = new wasmApi.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
  } catch {
    return null;
  }
  const ex = new wasmApi.Instance(new wasmApi.Module(bytes), { env: { memory } }).exports as Exports;
  const helpers: Helper[] = [];
  for (let h = 0; h < threads - 1; h++) {
    const helper = new Helper(memory, bytes, h);
    // A helper that cannot start costs its share of speed, never a result.
    if (!helper.ready(10_000)) {
      void helper.worker.terminate();
      break;
    }
    helpers.push(helper);
  }
  let next = SLAB_START / 8;
  return {
    get threads() {
      return helpers.length + 1;
    },
    reserve(doubles) {
      const bytesNeeded = SLAB_START + doubles * 8 + 64;
      if (bytesNeeded > MAX_PAGES * PAGE) throw new RangeError(`${doubles} doubles do not fit the wasm kernels' memory`);
      const have = memory.buffer.byteLength;
      if (bytesNeeded > have) memory.grow(Math.ceil((bytesNeeded - have) / PAGE));
      next = SLAB_START / 8;
    },
    slab(length) {
      const ptr = next * 8;
      if ((next + length) * 8 > memory.buffer.byteLength) throw new RangeError('slab beyond the reserved room');
      next += length + (length & 1);
      return { ptr, length, view: () => new Float64Array(memory.buffer, ptr, length) };
    },
    gemmPacked(call) {
      const bands = rowBands({ m: call.m, n: call.n, k: call.k, flags: call.flags }, helpers.length + 1);
      const run = (lo: number, hi: number): number[] => [call.ap + lo * call.k * 8, call.bp, call.c + lo * call.ldc * 8, call.ldc, hi - lo, call.n, call.k, call.flags, lo];
      bands.slice(1).forEach(([lo, hi], h) => (helpers[h] as Helper).start(1, run(lo, hi), call.alpha));
      const [lo, hi] = bands[0] as [number, number];
      const own = run(lo, hi) as [number, number, number, number, number, number, number, number, number];
      ex.gemm_packed(own[0], own[1], own[2], own[3], own[4], own[5], own[6], call.alpha, own[7], own[8]);
      for (let h = 0; h < bands.length - 1; h++) (helpers[h] as Helper).finish();
    },
    close() {
      for (const h of helpers) h.stop();
      helpers.length = 0;
    },
    triPass(a, n, from, v, q, w, p0, p1) {
      // Two fixed bands of equal work (row i costs i - from): the same split on any machine.
      const mid = Math.min(n, from + Math.ceil((n - from) / Math.SQRT2));
      const helper = helpers[0];
      if (helper && (n - from) ** 2 > MIN_SHARED_WORK / 4) {
        helper.start(2, [a, n, from, mid, n, v, q, w, p1]);
        ex.tri_pass(a, n, from, from, mid, v, q, w, p0);
        helper.finish();
      } else {
        ex.tri_pass(a, n, from, from, mid, v, q, w, p0);
        ex.tri_pass(a, n, from, mid, n, v, q, w, p1);
      }
    },
  };
}

/** Contiguous row bands of about equal work (a symmetric C's row i has i+1 entries; a triangular A's row i, k-i terms). */
function rowBands(call: Pick<PackedGemmCall, 'm' | 'n' | 'k' | 'flags'>, threads: number): Array<[number, number]> {
  const { m, n, k, flags } = call;
  const weight = (i: number): number => ((flags & GEMM_LOWER) ? Math.min(n, i + 1) : n) * ((flags & GEMM_A_UPPER) ? Math.max(1, k - i) : k);
  let total = 0;
  for (let i = 0; i < m; i++) total += weight(i);
  const parts = total < MIN_SHARED_WORK ? 1 : Math.min(threads, Math.max(1, Math.floor(m / 8)));
  if (parts === 1) return [[0, m]];
  const bands: Array<[number, number]> = [];
  let lo = 0, acc = 0;
  for (let i = 0; i < m && bands.length < parts - 1; i++) {
    acc += weight(i);
    // Even row counts per band keep the kernel's row pairs whole.
    if (acc >= (total * (bands.length + 1)) / parts && (i + 1 - lo) % 2 === 0) {
      bands.push([lo, i + 1]);
      lo = i + 1;
    }
  }
  bands.push([lo, m]);
  return bands;
}
