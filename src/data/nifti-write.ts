// Writing a predicted mask as NIfTI with exactly the input's geometry: we keep the input's own
// header bytes and patch only the data-describing fields, because re-serialising a parsed header
// (as nifti-reader-js would) can silently change the sform.
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { writeFileAtomic } from './atomic.js';
import { DataError } from './errors.js';
import { PATCH_OFFSETS, type NiftiHeader } from './nifti-header.js';
import type { Shape3 } from './nifti.js';

const gzip = promisify(zlib.gzip);

/** The parts of a read volume a mask needs: its header (parsed and raw) and spatial shape. */
export interface MaskReference {
  header: NiftiHeader;
  headerBytes: Uint8Array;
  shape: Shape3;
}

/**
 * Encode `mask` (D, H, W) in tensor order (z fastest) as an uncompressed single-file NIfTI that
 * reuses `ref`'s header. The voxel type is the smallest of uint8 / int16 / int32 that holds the
 * values. A 4-D reference yields a 3-D mask (dim[0] = 3, dims 4..7 = 1); all else is unchanged.
 */
export function encodeMask(ref: MaskReference, mask: ArrayLike<number>): Uint8Array {
  const [nx, ny, nz] = ref.shape;
  const n = nx * ny * nz;
  if (mask.length !== n) {
    throw new DataError('VNET_E_SHAPE_MISMATCH', `mask has ${mask.length} voxels, reference shape ${ref.shape.join('x')} has ${n}`);
  }
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < n; i++) {
    const v = mask[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const [datatype, bytes] = lo >= 0 && hi <= 255 ? [2, 1] : lo >= -32768 && hi <= 32767 ? [4, 2] : [8, 4];
  const { out, dv, start } = withHeader(ref, datatype, bytes, 1, lo, hi);
  const le = ref.header.littleEndian;
  const stride = ny * nz;
  let p = start;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      let s = y * nz + z;
      for (let x = 0; x < nx; x++, s += stride, p += bytes) {
        if (bytes === 1) out[p] = mask[s];
        else if (bytes === 2) dv.setInt16(p, mask[s], le);
        else dv.setInt32(p, mask[s], le);
      }
    }
  }
  return out;
}

/**
 * Encode class probabilities (D, H, W, C) in tensor order (class fastest) as an uncompressed
 * 4-D float32 NIfTI with `ref`'s geometry: volume c of the file (dim[4] = C) is class c.
 */
export function encodeProbabilities(ref: MaskReference, probs: Float32Array, channels: number): Uint8Array {
  const [nx, ny, nz] = ref.shape;
  const n = nx * ny * nz;
  if (probs.length !== n * channels) {
    throw new DataError('VNET_E_SHAPE_MISMATCH', `probabilities have ${probs.length} values, reference shape ${ref.shape.join('x')} with ${channels} classes needs ${n * channels}`);
  }
  const { out, dv, start } = withHeader(ref, 16, 4, channels, 0, 1);
  const le = ref.header.littleEndian;
  let p = start;
  for (let c = 0; c < channels; c++) {
    for (let z = 0; z < nz; z++) {
      for (let y = 0; y < ny; y++) {
        for (let x = 0, s = (y * nz + z) * channels + c; x < nx; x++, s += ny * nz * channels, p += 4) dv.setFloat32(p, probs[s], le);
      }
    }
  }
  return out;
}

/**
 * A new file buffer: `ref`'s header bytes with the data-describing fields set (type, size, offset,
 * no scaling, display range) and the shape made x, y, z, then `volumes` (1: a 3-D image).
 */
function withHeader(ref: MaskReference, datatype: number, bytes: number, volumes: number, lo: number, hi: number): { out: Uint8Array; dv: DataView; start: number } {
  const [nx, ny, nz] = ref.shape;
  const h = ref.header;
  const le = h.littleEndian;
  const start = h.headerSize + 4;
  const out = new Uint8Array(start + nx * ny * nz * volumes * bytes);
  out.set(ref.headerBytes.subarray(0, h.headerSize), 0);
  const dv = new DataView(out.buffer);
  const o = PATCH_OFFSETS[h.version];
  dv.setInt16(o.datatype, datatype, le);
  dv.setInt16(o.bitpix, bytes * 8, le);
  if (o.wide) {
    dv.setBigInt64(o.voxOffset, BigInt(start), le);
    dv.setFloat64(o.sclSlope, 1, le);
    dv.setFloat64(o.sclInter, 0, le);
    dv.setFloat64(o.calMax, hi, le);
    dv.setFloat64(o.calMin, lo, le);
  } else {
    dv.setFloat32(o.voxOffset, start, le);
    dv.setFloat32(o.sclSlope, 1, le);
    dv.setFloat32(o.sclInter, 0, le);
    dv.setFloat32(o.calMax, hi, le);
    dv.setFloat32(o.calMin, lo, le);
  }
  if (h.dim[0] > 3 || volumes > 1) {
    const set = (i: number, v: number) => (o.wide ? dv.setBigInt64(o.dim + 8 * i, BigInt(v), le) : dv.setInt16(o.dim + 2 * i, v, le));
    set(0, volumes > 1 ? 4 : 3);
    set(4, volumes);
    for (let i = 5; i < 8; i++) set(i, 1);
  }
  // Bytes [headerSize, headerSize+4) stay zero: "no extensions follow".
  return { out, dv, start };
}

/**
 * Write a mask next to nothing half-done: encode, gzip when `file` ends in `.gz` (or when
 * `opts.gzip` says so), write a temporary file and rename it over `file`.
 */
export async function writeMask(file: string, ref: MaskReference, mask: ArrayLike<number>, opts: { gzip?: boolean } = {}): Promise<void> {
  const raw = encodeMask(ref, mask);
  const compress = opts.gzip ?? file.endsWith('.gz');
  await writeFileAtomic(file, compress ? await gzip(raw, { level: 6 }) : raw);
}
