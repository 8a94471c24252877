/**
 * A minimal reader/writer for NumPy `.npz` files: a zip archive (stored or deflate entries, zip64
 * sizes/offsets understood) of `.npy` arrays. Little-endian float32/float64/float16/int32/int64/
 * uint8 arrays in C order are supported; anything else is reported, not guessed.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { err, ok, type Result } from '../util/result.js';

export type NpyDtype = 'f4' | 'f8' | 'f2' | 'i4' | 'i8' | 'u1';

export interface NpyArray {
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  /** f2 arrays are carried as raw Uint16 bits; i8 as BigInt64Array. */
  readonly data: Float32Array | Float64Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;
}

export type NpzError = { readonly reason: 'bad-zip' | 'bad-npy' | 'unsupported'; readonly message: string; readonly entry?: string };

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

/** Parses a whole `.npz` (zip) held in memory. Entry names lose their `.npy` suffix. */
export function readNpz(bytes: Uint8Array): Result<Map<string, NpyArray>, NpzError> {
  const entries = readZip(bytes);
  if (!entries.ok) return entries;
  const out = new Map<string, NpyArray>();
  for (const [name, data] of entries.value) {
    const arr = parseNpy(data);
    if (!arr.ok) return err({ ...arr.error, entry: name, message: `${name}: ${arr.error.message}` });
    out.set(name.endsWith('.npy') ? name.slice(0, -4) : name, arr.value);
  }
  return ok(out);
}

/** The entries of a zip archive, decompressed. */
export function readZip(bytes: Uint8Array): Result<Map<string, Uint8Array>, NpzError> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (message: string): Result<never, NpzError> => err({ reason: 'bad-zip', message });
  // The end-of-central-directory record sits in the last 22 + 65535 (max comment) bytes.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === SIG_EOCD) { eocd = i; break; }
  }
  if (eocd < 0) return bad('no end-of-central-directory record (not a zip file)');
  let count = buf.readUInt16LE(eocd + 10);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (cdOffset === 0xffffffff || count === 0xffff) {
    // zip64: the locator sits just before the EOCD and points at the zip64 EOCD.
    const loc = eocd - 20;
    if (loc < 0 || buf.readUInt32LE(loc) !== 0x07064b50) return bad('zip64 locator missing');
    const eocd64 = Number(buf.readBigUInt64LE(loc + 8));
    if (buf.readUInt32LE(eocd64) !== SIG_EOCD64) return bad('zip64 end-of-central-directory record missing');
    count = Number(buf.readBigUInt64LE(eocd64 + 32));
    cdOffset = Number(buf.readBigUInt64LE(eocd64 + 48));
  }
  const out = new Map<string, Uint8Array>();
  let at = cdOffset;
  for (let n = 0; n < count; n++) {
    if (at + 46 > buf.length || buf.readUInt32LE(at) !== SIG_CENTRAL) return bad(`central directory entry ${n} is corrupt`);
    const method = buf.readUInt16LE(at + 10);
    let csize = buf.readUInt32LE(at + 20);
    let usize = buf.readUInt32LE(at + 24);
    const nameLen = buf.readUInt16LE(at + 28);
    const extraLen = buf.readUInt16LE(at + 30);
    const commentLen = buf.readUInt16LE(at + 32);
    let localOffset = buf.readUInt32LE(at + 42);
    const name = buf.toString('utf8', at + 46, at + 46 + nameLen);
    // zip64 extra field (id 1): the 0xFFFFFFFF fields, in order usize, csize, offset.
    let e = at + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = buf.readUInt16LE(e);
      const size = buf.readUInt16LE(e + 2);
      if (id === 1) {
        let f = e + 4;
        if (usize === 0xffffffff) { usize = Number(buf.readBigUInt64LE(f)); f += 8; }
        if (csize === 0xffffffff) { csize = Number(buf.readBigUInt64LE(f)); f += 8; }
        if (localOffset === 0xffffffff) { localOffset = Number(buf.readBigUInt64LE(f)); f += 8; }
      }
      e += 4 + size;
    }
    if (buf.readUInt32LE(localOffset) !== SIG_LOCAL) return bad(`local header of ${name} is corrupt`);
    const dataStart = localOffset + 30 + buf.readUInt16LE(localOffset + 26) + buf.readUInt16LE(localOffset + 28);
    if (dataStart + csize > buf.length) return bad(`entry ${name} runs past the end of the file`);
    const raw = buf.subarray(dataStart, dataStart + csize);
    let data: Uint8Array;
    if (method === 0) data = raw;
    else if (method === 8) {
      try {
        data = inflateRawSync(raw);
      } catch (x) {
        return bad(`entry ${name}: deflate stream is corrupt (${(x as Error).message})`);
      }
    } else return err({ reason: 'unsupported', message: `entry ${name}: compression method ${method} (only stored and deflate)`, entry: name });
    if (data.length !== usize) return bad(`entry ${name}: ${data.length} bytes after decompression, header says ${usize}`);
    out.set(name, data);
    at = extraEnd + commentLen;
  }
  return ok(out);
}

const NPY_BYTES: Record<NpyDtype, number> = { f4: 4, f8: 8, f2: 2, i4: 4, i8: 8, u1: 1 };

/** Parses one `.npy` (format versions 1-3). */
export function parseNpy(bytes: Uint8Array): Result<NpyArray, NpzError> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 10 || buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') return err({ reason: 'bad-npy', message: 'missing \\x93NUMPY magic' });
  const major = buf[6] as number;
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', headerStart, headerStart + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) return err({ reason: 'bad-npy', message: `unreadable header ${header.trim()}` });
  if (fortran === 'True') return err({ reason: 'unsupported', message: 'Fortran-order arrays are not supported' });
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) return err({ reason: 'bad-npy', message: `bad shape (${shapeText})` });
  const m = /^([<|=])([fiu])(\d)$/.exec(descr);
  const dtype = m ? (`${m[2]}${m[3]}` as NpyDtype) : undefined;
  if (!m || !dtype || !(dtype in NPY_BYTES)) return err({ reason: 'unsupported', message: `dtype ${descr} (supported: little-endian f4 f8 f2 i4 i8 u1)` });
  const count = shape.reduce((a, b) => a * b, 1);
  const start = headerStart + headerLen;
  const nbytes = count * NPY_BYTES[dtype];
  if (start + nbytes > buf.length) return err({ reason: 'bad-npy', message: `data holds ${buf.length - start} bytes, shape (${shape.join(', ')}) ${descr} needs ${nbytes}` });
  // Copy into an aligned buffer (the data offset inside a zip need not be aligned).
  const copy = new Uint8Array(nbytes);
  copy.set(buf.subarray(start, start + nbytes));
  const ab = copy.buffer;
  const data = dtype === 'f4' ? new Float32Array(ab) : dtype === 'f8' ? new Float64Array(ab) : dtype === 'f2' ? new Uint16Array(ab)
    : dtype === 'i4' ? new Int32Array(ab) : dtype === 'i8' ? new BigInt64Array(ab) : copy;
  return ok({ dtype, shape, data });
}

/** Encodes one `.npy` (version 1.0). */
export function encodeNpy(arr: NpyArray): Uint8Array {
  const descr = arr.dtype === 'u1' ? '|u1' : `<${arr.dtype}`;
  const shape = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Pad with spaces so the data starts 64-byte aligned, ending in a newline, as numpy does.
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + arr.data.byteLength);
  out.set([0x93, ...Buffer.from('NUMPY', 'latin1'), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength), 10 + header.length);
  return out;
}

/** Writes an `.npz` (plain zip, no zip64). `compress` uses deflate, otherwise entries are stored. */
export function encodeNpz(arrays: ReadonlyMap<string, NpyArray>, compress = false): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [key, arr] of arrays) {
    const name = Buffer.from(`${key}.npy`, 'utf8');
    const raw = encodeNpy(arr);
    const body = compress ? deflateRawSync(raw) : Buffer.from(raw);
    const crc = crc32(raw);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(SIG_LOCAL, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(compress ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(raw.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(SIG_CENTRAL, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(compress ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(raw.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(SIG_EOCD, 0);
  eocd.writeUInt16LE(arrays.size, 8);
  eocd.writeUInt16LE(arrays.size, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

let crcTable: Uint32Array | undefined;
function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = (crcTable[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
