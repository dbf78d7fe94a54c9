// NIfTI reading: .nii / .nii.gz, NIfTI-1/2, either byte order, every common datatype, with
// scl_slope/scl_inter applied. Voxels come out in the engine's tensor order (x slowest, z
// fastest: D = x, H = y, W = z), i.e. transposed from the file's x-fastest order.
import fs from 'node:fs';
import zlib from 'node:zlib';
import { DataError } from './errors.js';
import { LIMITS, openRegular, readRegularFile } from './reader.js';
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

/** Read a file (regular, under the file limit) and gunzip it when it is gzip data (decided by content). */
export function readNiftiBytes(file: string): Uint8Array {
  return maybeGunzip(readRegularFile(file), file);
}

const MiB = 1 << 20;
/** What a prefix inflation may produce while looking for the header. */
const PREFIX_CAP = 16 * MiB;
/** Bytes a .gz may hold past what its header declares (padding some writers add). */
const TRAILING_SLACK = MiB;

/**
 * Inflates the whole stream, but never more than the header (read from a bounded prefix)
 * declares: a small file that inflates to gigabytes is refused before it fills memory.
 */
function maybeGunzip(raw: Uint8Array, file?: string): Uint8Array {
  if (!isGzip(raw)) return raw;
  const head = inflatePrefix((n) => raw.subarray(0, n), raw.byteLength, file);
  const need = declaredBytes(parseNiftiHeader(head, file), file);
  try {
    return zlib.gunzipSync(raw, { maxOutputLength: need + TRAILING_SLACK });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DataError('VNET_E_CORRUPT_FILE', `gzip data inflates to more than the ${need} bytes its header declares`, file);
    }
    throw new DataError('VNET_E_CORRUPT_FILE', `gzip: ${(e as Error).message}`, file);
  }
}

/** Bytes the header says the file holds (offset + every volume); refuses more than the volume limit. */
function declaredBytes(h: NiftiHeader, file?: string): number {
  const { shape, volumes } = niftiShape(h);
  const need = dataOffset(h) + volumes * shape[0] * shape[1] * shape[2] * DATATYPES[h.datatype].bytes;
  const limit = LIMITS.volume();
  if (need > limit) {
    throw new DataError('VNET_E_TOO_LARGE', `the header declares ${need} bytes of data (${shape.join('x')} x ${volumes} volume(s)), over the ${Math.round(limit / MiB)} MiB limit (VNET_MAX_VOLUME_MB)`, file);
  }
  return need;
}

/**
 * At least the first `want` decompressed bytes (or all there are) of a gzip stream whose first
 * `n` bytes `prefix(n)` returns. Longer prefixes are tried until the header is out, wherever in
 * the stream it starts (long gzip name fields, empty blocks); a prefix that would inflate past
 * PREFIX_CAP is narrowed down by bisection instead, so memory stays bounded.
 */
function inflatePrefix(prefix: (n: number) => Uint8Array, total: number, file?: string, want = 540): Uint8Array {
  const attempt = (n: number): Uint8Array | null => {
    try {
      // Z_SYNC_FLUSH lets a prefix of the stream decompress without an "unexpected end" error.
      return zlib.gunzipSync(prefix(n), { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: PREFIX_CAP });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return null;
      throw new DataError('VNET_E_CORRUPT_FILE', `gzip: ${(e as Error).message}`, file);
    }
  };
  let lo = 0;
  let hi = 0;
  for (let n = Math.min(total, 4096); ; n = Math.min(total, n * 4)) {
    const out = attempt(n);
    if (out === null) { hi = n; break; }
    if (out.byteLength >= want || n === total) return out;
    lo = n;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    const out = attempt(mid);
    if (out === null) hi = mid;
    else if (out.byteLength >= want) return out;
    else lo = mid;
  }
  throw new DataError('VNET_E_CORRUPT_FILE', 'gzip: the NIfTI header could not be decompressed within bounded memory', file);
}

/**
 * Header, raw header bytes and shape only; reads and decompresses just what the header needs.
 * `src` is a path or the file's bytes (`file` then names them in errors).
 */
export function readNiftiHeader(src: string | Uint8Array, name?: string): Omit<NiftiVolume, 'data'> {
  if (typeof src !== 'string') return headerOf(isGzip(src) ? inflatePrefix((n) => src.subarray(0, n), src.byteLength, name) : src, name);
  const file = src;
  const { fd, size } = openRegular(file, LIMITS.file());
  let b: Uint8Array;
  try {
    let cache = Buffer.alloc(0);
    const prefix = (n: number): Uint8Array => {
      if (n > cache.length) {
        const grown = Buffer.alloc(n);
        cache = grown.subarray(0, fs.readSync(fd, grown, 0, n, 0));
      }
      return cache.subarray(0, n);
    };
    b = prefix(Math.min(size, 1024));
    if (isGzip(b)) b = inflatePrefix(prefix, size, file);
  } finally {
    fs.closeSync(fd);
  }
  return headerOf(b, file);
}

function headerOf(b: Uint8Array, file?: string): Omit<NiftiVolume, 'data'> {
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

/**
 * Read every volume of an image as channels: `data` is (C, D, H, W), channel-first, one
 * z-fastest volume per channel (C = the file's 4th dimension; 1 for a 3-D file).
 */
export function readNiftiChannels(src: string | Uint8Array, file?: string): NiftiVolume<Float32Array> {
  const name = typeof src === 'string' ? src : file;
  const bytes = typeof src === 'string' ? readNiftiBytes(src) : maybeGunzip(src, name);
  return decode(bytes, false, name, true) as NiftiVolume<Float32Array>;
}

function decode(bytes: Uint8Array, labels: boolean, file?: string, all = false): NiftiVolume<Float32Array | Int32Array> {
  const header = parseNiftiHeader(bytes, file);
  const { shape, volumes } = niftiShape(header);
  const n = shape[0] * shape[1] * shape[2];
  const size = DATATYPES[header.datatype].bytes;
  const start = dataOffset(header);
  const need = start + volumes * n * size;
  if (bytes.byteLength < need) {
    throw new DataError('VNET_E_CORRUPT_FILE', `data shorter than the header says (${bytes.byteLength} < ${need} bytes)`, file);
  }
  let slope = header.sclSlope;
  let inter = header.sclInter;
  // NIfTI: slope 0 (or garbage) means "no scaling".
  if (!(slope !== 0 && Number.isFinite(slope))) { slope = 1; inter = 0; }
  if (!Number.isFinite(inter)) inter = 0;
  const first = all ? 0 : volumes - 1;
  const data = labels ? new Int32Array(n * (volumes - first)) : new Float32Array(n * (volumes - first));
  for (let v = first; v < volumes; v++) {
    const src = typedView(bytes, start + v * n * size, n, header.datatype, header.littleEndian);
    transposeScale(src, shape, slope, inter, data.subarray((v - first) * n, (v - first + 1) * n), labels);
  }
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
    default: throw new DataError('VNET_E_UNSUPPORTED', `datatype ${datatype} is not supported`);
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
