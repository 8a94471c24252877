/**
 * SHA-256 helpers tuned for throughput: big reused buffers, double-buffered reads so the
 * next chunk is read (libuv thread pool) while the current one is hashed (OpenSSL, main thread).
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

/** 64 lowercase hex digits. */
export type Sha256 = string & { readonly __brand: 'Sha256' };

const SHA256_RE = /^[0-9a-f]{64}$/;

export function isSha256(value: unknown): value is Sha256 {
  return typeof value === 'string' && SHA256_RE.test(value);
}

export function sha256(data: string | Uint8Array): Sha256 {
  return createHash('sha256').update(data).digest('hex') as Sha256;
}

/** 8 MiB: large enough to amortise syscalls and thread-pool hops, small enough to pool. */
export const CHUNK_BYTES = 8 * 1024 * 1024;

/** Pairs of chunk buffers reused across calls, so hashing many small files does not churn 16 MiB each. */
const pool: [Buffer, Buffer][] = [];
const POOL_MAX = 2;

function takeBuffers(): [Buffer, Buffer] {
  return pool.pop() ?? [Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES)];
}
function giveBuffers(b: [Buffer, Buffer]): void {
  if (pool.length < POOL_MAX) pool.push(b);
}

export interface HashResult {
  readonly hash: Sha256;
  readonly bytes: number;
}

/**
 * Hash an open file from offset 0 to EOF. When `sink` is given every chunk is also written to it
 * (hash-while-copying: the bytes hashed are exactly the bytes written, in one pass).
 */
export async function hashHandle(src: FileHandle, sink?: FileHandle, sizeHint?: number): Promise<HashResult> {
  if (sizeHint !== undefined && sizeHint < SMALL_BYTES) return hashSmall(src, sink, sizeHint);
  const h = createHash('sha256');
  const bufs = takeBuffers();
  let [cur, spare] = bufs;
  let bytes = 0;
  let clean = false;
  try {
    let pending = src.read(cur, 0, CHUNK_BYTES, 0);
    let pendingWrite: Promise<unknown> | undefined;
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      const chunk = cur.subarray(0, bytesRead);
      bytes += bytesRead;
      // The previous write used `spare`; it must finish before `spare` is refilled.
      if (pendingWrite !== undefined) await pendingWrite;
      pending = src.read(spare, 0, CHUNK_BYTES, bytes);
      h.update(chunk);
      if (sink !== undefined) pendingWrite = writeAll(sink, chunk);
      [cur, spare] = [spare, cur];
    }
    if (pendingWrite !== undefined) await pendingWrite;
    clean = true;
  } finally {
    // After a failure a read may still be in flight into one of the buffers: never reuse them.
    if (clean) giveBuffers(bufs);
  }
  return { hash: h.digest('hex') as Sha256, bytes };
}

/** Below this, one right-sized buffer beats the pooled 2 x 8 MiB pair (folders of many small files). */
const SMALL_BYTES = 1024 * 1024;

async function hashSmall(src: FileHandle, sink: FileHandle | undefined, sizeHint: number): Promise<HashResult> {
  const h = createHash('sha256');
  // +1 so a file that grew since it was stat'ed is still read to its end (the loop continues anyway).
  const buf = Buffer.allocUnsafe(Math.max(sizeHint + 1, 4096));
  let bytes = 0;
  for (;;) {
    const { bytesRead } = await src.read(buf, 0, buf.length, bytes);
    if (bytesRead === 0) break;
    const chunk = buf.subarray(0, bytesRead);
    h.update(chunk);
    if (sink !== undefined) await writeAll(sink, chunk);
    bytes += bytesRead;
  }
  return { hash: h.digest('hex') as Sha256, bytes };
}

async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
    off += bytesWritten;
  }
}
