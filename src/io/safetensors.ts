/**
 * safetensors: an 8-byte little-endian header length, a JSON header
 * (`{name: {dtype, shape, data_offsets}}` plus optional `__metadata__` of string values),
 * then the raw little-endian tensor bytes. Readable by the Python `safetensors` package.
 */
import { open, readFile, rename, writeFile, rm } from 'node:fs/promises';
import { err, ok, type Result } from '../util/result.js';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export type TypedArrayFor = Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface NamedTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** F16 is carried as raw Uint16Array bits; BOOL as Uint8Array. */
  readonly data: TypedArrayFor;
}

export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, NamedTensor>;
  /** `__metadata__`: string to string, as the format requires. Put JSON in a value for structure. */
  readonly metadata: Readonly<Record<string, string>>;
}

const BYTES: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export function encodeSafetensors(tensors: Readonly<Record<string, NamedTensor>>, metadata: Readonly<Record<string, string>> = {}): Buffer {
  // Sorted names so the same tensors always give the same bytes.
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    header['__metadata__'] = Object.fromEntries(Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  let offset = 0;
  for (const name of names) {
    const t = tensors[name] as NamedTensor;
    const expected = t.shape.reduce((a, b) => a * b, 1) * BYTES[t.dtype];
    if (t.data.byteLength !== expected) {
      throw new RangeError(`safetensors: tensor ${name} has ${t.data.byteLength} bytes, shape ${JSON.stringify(t.shape)} ${t.dtype} needs ${expected}`);
    }
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + expected] };
    offset += expected;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  const pad = (8 - ((8 + Buffer.byteLength(json)) % 8)) % 8;
  json += ' '.repeat(pad);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.allocUnsafe(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const t = tensors[name] as NamedTensor;
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, at);
    at += t.data.byteLength;
  }
  return out;
}

export type SafetensorsError = { readonly reason: 'truncated' | 'bad-header' | 'bad-tensor'; readonly message: string };

export function decodeSafetensors(bytes: Uint8Array): Result<SafetensorsFile, SafetensorsError> {
  if (bytes.byteLength < 8) return err({ reason: 'truncated', message: 'file shorter than the 8-byte header length' });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.byteLength) return err({ reason: 'truncated', message: `header of ${headerLength} bytes runs past the end of the file` });
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLength).toString('utf8'));
  } catch (e) {
    return err({ reason: 'bad-header', message: `header is not JSON: ${(e as Error).message}` });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return err({ reason: 'bad-header', message: 'header is not a JSON object' });
  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  const tensors = new Map<string, NamedTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== 'string' || !(e.dtype in BYTES) || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
      return err({ reason: 'bad-tensor', message: `tensor ${name}: missing or unsupported dtype/shape/data_offsets` });
    }
    const dtype = e.dtype as SafetensorsDtype;
    const shape = e.shape as number[];
    const [begin, end] = e.data_offsets as [number, number];
    const expected = shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
    if (end - begin !== expected || end > dataLength || begin < 0) {
      return err({ reason: 'bad-tensor', message: `tensor ${name}: data_offsets [${begin}, ${end}] do not fit shape ${JSON.stringify(shape)} ${dtype} in ${dataLength} data bytes` });
    }
    // Copy so the typed array is aligned whatever the header length was.
    const slice = new Uint8Array(expected);
    slice.set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, { dtype, shape, data: typedView(dtype, slice.buffer) });
  }
  return ok({ tensors, metadata });
}

function typedView(dtype: SafetensorsDtype, buffer: ArrayBuffer): TypedArrayFor {
  switch (dtype) {
    case 'F64': return new Float64Array(buffer);
    case 'F32': return new Float32Array(buffer);
    case 'F16': return new Uint16Array(buffer);
    case 'I64': return new BigInt64Array(buffer);
    case 'I32': return new Int32Array(buffer);
    case 'I16': return new Int16Array(buffer);
    case 'I8': return new Int8Array(buffer);
    case 'U8': case 'BOOL': return new Uint8Array(buffer);
  }
}

/** Reads only the JSON header (cheap for large shards). */
export async function readSafetensorsHeader(path: string): Promise<Result<{ header: Record<string, unknown>; metadata: Record<string, string>; dataStart: number }, SafetensorsError>> {
  const fh = await open(path, 'r');
  try {
    const lenBuf = Buffer.alloc(8);
    const { bytesRead } = await fh.read(lenBuf, 0, 8, 0);
    if (bytesRead < 8) return err({ reason: 'truncated', message: `${path}: shorter than 8 bytes` });
    const headerLength = Number(lenBuf.readBigUInt64LE(0));
    const { size } = await fh.stat();
    if (8 + headerLength > size) return err({ reason: 'truncated', message: `${path}: header runs past the end of the file` });
    const headerBuf = Buffer.alloc(headerLength);
    await fh.read(headerBuf, 0, headerLength, 8);
    const header = JSON.parse(headerBuf.toString('utf8')) as Record<string, unknown>;
    const metadata = (header['__metadata__'] ?? {}) as Record<string, string>;
    return ok({ header, metadata, dataStart: 8 + headerLength });
  } catch (e) {
    return err({ reason: 'bad-header', message: `${path}: ${(e as Error).message}` });
  } finally {
    await fh.close();
  }
}

export async function readSafetensors(path: string): Promise<Result<SafetensorsFile, SafetensorsError>> {
  const decoded = decodeSafetensors(await readFile(path));
  if (!decoded.ok) return err({ ...decoded.error, message: `${path}: ${decoded.error.message}` });
  return decoded;
}

/** Writes atomically: to a temporary sibling, then renamed into place. */
export async function writeSafetensors(path: string, tensors: Readonly<Record<string, NamedTensor>>, metadata: Readonly<Record<string, string>> = {}): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, encodeSafetensors(tensors, metadata));
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** float32 <-> float16 bits, round-to-nearest-even. */
export function float32ToFloat16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i] as number;
    const x = u[0] as number;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) { out[i] = sign | 0x7c00 | (mant ? 0x200 : 0); continue; }
    let e = exp - 127 + 15;
    if (e >= 0x1f) { out[i] = sign | 0x7c00; continue; }
    if (e <= 0) {
      if (e < -10) { out[i] = sign; continue; }
      mant |= 0x800000;
      const shift = 14 - e;
      let half = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      if (rem > halfway || (rem === halfway && (half & 1))) half++;
      out[i] = sign | half;
      continue;
    }
    let half = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
    out[i] = sign | half;
    void e;
  }
  return out;
}

export function float16BitsToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i] as number;
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) out[i] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) out[i] = mant ? NaN : sign * Infinity;
    else out[i] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return out;
}
