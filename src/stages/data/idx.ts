/**
 * IDX files (the MNIST / Fashion-MNIST format), optionally gzipped: magic 0x0000 <type> <ndim>, then ndim
 * big-endian uint32 sizes, then the data. Only unsigned bytes (type 0x08) are needed here.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { err, ok, type Result } from '../../util/result.js';
import { dataError, type DataError } from './errors.js';

export interface IdxArray {
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

export function parseIdx(bytes: Uint8Array, file: string): Result<IdxArray, DataError> {
  let buf = bytes;
  // gzip magic 1f 8b
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      return err(dataError('bad-idx', `not a valid gzip stream: ${(e as Error).message}`, file));
    }
  }
  if (buf.length < 4) return err(dataError('bad-idx', 'shorter than the 4-byte IDX magic', file));
  if (buf[0] !== 0 || buf[1] !== 0) return err(dataError('bad-idx', 'bad IDX magic (first two bytes must be 0)', file));
  const type = buf[2] as number;
  const ndim = buf[3] as number;
  if (type !== 0x08) return err(dataError('bad-idx', `IDX element type 0x${type.toString(16)} is not unsigned byte (0x08)`, file));
  if (ndim < 1 || buf.length < 4 + 4 * ndim) return err(dataError('bad-idx', `IDX header with ${ndim} dimensions is truncated`, file));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape: number[] = [];
  for (let d = 0; d < ndim; d++) shape.push(view.getUint32(4 + 4 * d, false));
  const size = shape.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * ndim;
  if (buf.length < start + size) return err(dataError('bad-idx', `IDX data truncated: shape ${shape.join('x')} needs ${size} bytes, file has ${buf.length - start}`, file));
  return ok({ shape, data: buf.subarray(start, start + size) });
}

export async function readIdx(file: string): Promise<Result<IdxArray, DataError>> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    return err(dataError('missing-file', `cannot read IDX file: ${(e as Error).message}`, file));
  }
  return parseIdx(bytes, file);
}

/** Images [N, H, W] (or [N, H, W, C]) and labels [N] from an IDX pair. */
export interface IdxDataset {
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
}

export async function readIdxPair(imagesFile: string, labelsFile: string): Promise<Result<IdxDataset, DataError>> {
  const images = await readIdx(imagesFile);
  if (!images.ok) return images;
  const labels = await readIdx(labelsFile);
  if (!labels.ok) return labels;
  const [n, h, w, c = 1] = images.value.shape;
  if (n === undefined || h === undefined || w === undefined || images.value.shape.length < 3) {
    return err(dataError('bad-idx', `images must be [N, H, W] or [N, H, W, C], got [${images.value.shape.join(', ')}]`, imagesFile));
  }
  if (labels.value.shape.length !== 1 || labels.value.shape[0] !== n) {
    return err(dataError('bad-idx', `labels shape [${labels.value.shape.join(', ')}] does not match ${n} images`, labelsFile));
  }
  return ok({ count: n, height: h, width: w, channels: c, images: images.value.data, labels: labels.value.data });
}
