// NIfTI reading: .nii / .nii.gz, NIfTI-1/2, either byte order, every common datatype, with
// scl_slope/scl_inter applied. Voxels come out in the engine's tensor order (x slowest, z
// fastest: D = x, H = y, W = z), i.e. transposed from the file's x-fastest order.
import fs from 'node:fs';
import zlib from 'node:zlib';
import { DataError } from './errors.js';
import { DATATYPES, dataOffset, niftiShape, parseNiftiHeader, type NiftiHeader } from './nifti-header.js';

/** (D, H, W) = NIfTI (x, y, z) sizes. */
export type Shape3 = [number, number, number];

/** A decoded 3-D volume. 4-D files keep their LAST volume (as the reference does). */
export interface NiftiVolume<T extends Float32Array | Int32Array = Float32Array> {
  file?: string;
  header: NiftiHeader;
  /** A copy of the raw header bytes (348 or 540), kept so a mask can reuse the exact geometry. */
  headerBytes: Uint8Array;
  /** (nx, ny, nz): tensor axes (D, H, W). */
  shape: Shape3;
  /** How many 3-D volumes the file held; only the last one is in `data`. */
  volumes: number;
  /** (D, H, W) row-major, scaled by scl_slope/scl_inter. */
  data: T;
}

const GZIP_MAGIC0 = 0x1f;
const GZIP_MAGIC1 = 0x8b;

function isGzip(b: Uint8Array): boolean {
  return b.byteLength >= 2 && b[0] === GZIP_MAGIC0 && b[1] === GZIP_MAGIC1;
}

/** Read a file and gunzip it when it is gzip data (decided by content, not by extension). */
export function readNiftiBytes(file: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(code === 'ENOENT' ? 'E_MISSING_FILE' : 'E_CORRUPT_FILE', (e as Error).message, file);
  }
  return maybeGunzip(raw, file);
}

function maybeGunzip(raw: Uint8Array, file?: string): Uint8Array {
  if (!isGzip(raw)) return raw;
  try {
    return zlib.gunzipSync(raw);
  } catch (e) {
    throw new DataError('E_CORRUPT_FILE', `gzip: ${(e as Error).message}`, file);
  }
}

/** Header, raw header bytes and shape only; decompresses just the start of a .gz file. */
export function readNiftiHeader(file: string): Omit<NiftiVolume, 'data'> {
  let b: Uint8Array;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const head = Buffer.alloc(65536);
      const n = fs.readSync(fd, head, 0, head.length, 0);
      b = head.subarray(0, n);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(code === 'ENOENT' ? 'E_MISSING_FILE' : 'E_CORRUPT_FILE', (e as Error).message, file);
  }
  if (isGzip(b)) {
    try {
      // Z_SYNC_FLUSH lets a prefix of the stream decompress without an "unexpected end" error.
      b = zlib.gunzipSync(b, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    } catch (e) {
      throw new DataError('E_CORRUPT_FILE', `gzip: ${(e as Error).message}`, file);
    }
  }
  const header = parseNiftiHeader(b, file);
  const { shape, volumes } = niftiShape(header);
  return { file, header, headerBytes: copyBytes(b, 0, header.headerSize), shape, volumes };
}

/** Read an image volume as float32 (scaled). `src` is a path or the file's bytes. */
export function readNifti(src: string | Uint8Array, file?: string): NiftiVolume<Float32Array> {
  const name = typeof src === 'string' ? src : file;
  const bytes = typeof src === 'string' ? readNiftiBytes(src) : maybeGunzip(src, name);
  return decode(bytes, false, name) as NiftiVolume<Float32Array>;
}

/** Read a label volume as int32, rounding whatever is stored (float labels exist in the wild). */
export function readNiftiLabels(src: string | Uint8Array, file?: string): NiftiVolume<Int32Array> {
  const name = typeof src === 'string' ? src : file;
  const bytes = typeof src === 'string' ? readNiftiBytes(src) : maybeGunzip(src, name);
  return decode(bytes, true, name) as NiftiVolume<Int32Array>;
}

function decode(bytes: Uint8Array, labels: boolean, file?: string): NiftiVolume<Float32Array | Int32Array> {
  const header = parseNiftiHeader(bytes, file);
  const { shape, volumes } = niftiShape(header);
  const n = shape[0] * shape[1] * shape[2];
  const size = DATATYPES[header.datatype].bytes;
  const start = dataOffset(header);
  const need = start + volumes * n * size;
  if (bytes.byteLength < need) {
    throw new DataError('E_CORRUPT_FILE', `data shorter than the header says (${bytes.byteLength} < ${need} bytes)`, file);
  }
  const src = typedView(bytes, start + (volumes - 1) * n * size, n, header.datatype, header.littleEndian);
  let slope = header.sclSlope;
  let inter = header.sclInter;
  // NIfTI: slope 0 (or garbage) means "no scaling".
  if (!(slope !== 0 && Number.isFinite(slope))) { slope = 1; inter = 0; }
  if (!Number.isFinite(inter)) inter = 0;
  const data = labels ? new Int32Array(n) : new Float32Array(n);
  transposeScale(src, shape, slope, inter, data, labels);
  return { file, header, headerBytes: copyBytes(bytes, 0, header.headerSize), shape, volumes, data };
}

/** A typed array over `count` voxels at `offset`; copies only when misaligned or big-endian. */
function typedView(b: Uint8Array, offset: number, count: number, datatype: number, le: boolean): ArrayLike<number> {
  const size = DATATYPES[datatype].bytes;
  const abs = b.byteOffset + offset;
  let buf: ArrayBufferLike = b.buffer;
  let at = abs;
  if (!le || abs % size !== 0) {
    const copy = copyBytes(b, offset, offset + count * size);
    if (!le && size > 1) swapBytes(copy, size);
    buf = copy.buffer;
    at = 0;
  }
  switch (datatype) {
    case 2: return new Uint8Array(buf, at, count);
    case 4: return new Int16Array(buf, at, count);
    case 8: return new Int32Array(buf, at, count);
    case 16: return new Float32Array(buf, at, count);
    case 64: return new Float64Array(buf, at, count);
    case 256: return new Int8Array(buf, at, count);
    case 512: return new Uint16Array(buf, at, count);
    case 768: return new Uint32Array(buf, at, count);
    case 1024: return Float64Array.from(new BigInt64Array(buf, at, count), (v) => Number(v));
    case 1280: return Float64Array.from(new BigUint64Array(buf, at, count), (v) => Number(v));
    default: throw new DataError('E_UNSUPPORTED', `datatype ${datatype} is not supported`);
  }
}

/** A real copy (Buffer#slice would be a view into the whole decompressed file). */
function copyBytes(b: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(b.subarray(start, end));
}

function swapBytes(b: Uint8Array, size: number): void {
  for (let i = 0; i < b.length; i += size) {
    for (let lo = i, hi = i + size - 1; lo < hi; lo++, hi--) {
      const t = b[lo];
      b[lo] = b[hi];
      b[hi] = t;
    }
  }
}

/** File order (x fastest) -> tensor order (z fastest), value*slope+inter, rounded for labels. */
function transposeScale(src: ArrayLike<number>, shape: Shape3, slope: number, inter: number, out: Float32Array | Int32Array, round: boolean): void {
  const [nx, ny, nz] = shape;
  const stride = ny * nz;
  let s = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      let d = y * nz + z;
      if (round) {
        // Round half away from zero; the Int32Array store truncates (and maps NaN to 0). No
        // Math.round in the hot loop: builtins are not inlined under jest's vm contexts.
        for (let x = 0; x < nx; x++, s++, d += stride) {
          const v = src[s] * slope + inter;
          out[d] = v >= 0 ? v + 0.5 : v - 0.5;
        }
      } else {
        for (let x = 0; x < nx; x++, s++, d += stride) out[d] = src[s] * slope + inter;
      }
    }
  }
}
