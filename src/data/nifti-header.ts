// NIfTI-1 / NIfTI-2 header parsing in either byte order. We parse headers ourselves (rather than
// through nifti-reader-js) so the raw bytes, the byte order and every failure stay under our
// control: the mask writer patches the original bytes, and validation needs precise error codes.
import { DataError } from './errors.js';

/** The parsed header fields the data layer uses. Arrays keep the file's units (mm, s). */
export interface NiftiHeader {
  version: 1 | 2;
  littleEndian: boolean;
  /** 348 (NIfTI-1) or 540 (NIfTI-2). */
  headerSize: number;
  magic: string;
  /** dim[0..7] as stored: dim[0] is the rank. */
  dim: number[];
  /** pixdim[0..7]: pixdim[0] is qfac, pixdim[1..3] the voxel spacing. */
  pixdim: number[];
  datatype: number;
  bitpix: number;
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  calMax: number;
  calMin: number;
  qformCode: number;
  sformCode: number;
  /** quatern_b, quatern_c, quatern_d. */
  quatern: [number, number, number];
  /** qoffset_x, qoffset_y, qoffset_z. */
  qoffset: [number, number, number];
  /** srow_x, srow_y, srow_z: the sform affine rows. */
  srow: [number[], number[], number[]];
  xyztUnits: number;
  intentCode: number;
  descrip: string;
}

/** Supported voxel types: NIfTI datatype code -> (name, bytes per voxel). */
export const DATATYPES: Readonly<Record<number, { name: string; bytes: number }>> = {
  2: { name: 'uint8', bytes: 1 },
  4: { name: 'int16', bytes: 2 },
  8: { name: 'int32', bytes: 4 },
  16: { name: 'float32', bytes: 4 },
  64: { name: 'float64', bytes: 8 },
  256: { name: 'int8', bytes: 1 },
  512: { name: 'uint16', bytes: 2 },
  768: { name: 'uint32', bytes: 4 },
  1024: { name: 'int64', bytes: 8 },
  1280: { name: 'uint64', bytes: 8 },
};

/** Byte offsets of the fields the mask writer patches, per NIfTI version; `wide` = 8-byte fields. */
export const PATCH_OFFSETS = {
  1: { datatype: 70, bitpix: 72, dim: 40, voxOffset: 108, sclSlope: 112, sclInter: 116, calMax: 124, calMin: 128, wide: false },
  2: { datatype: 12, bitpix: 14, dim: 16, voxOffset: 168, sclSlope: 176, sclInter: 184, calMax: 192, calMin: 200, wide: true },
} as const;

function str(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + off, end - off).toString('latin1');
}

/** Parse the header at the start of `b` (an uncompressed file). Throws VNET_E_CORRUPT_FILE / VNET_E_UNSUPPORTED. */
export function parseNiftiHeader(b: Uint8Array, file?: string): NiftiHeader {
  if (b.byteLength < 348) throw new DataError('VNET_E_CORRUPT_FILE', `too short for a NIfTI header (${b.byteLength} bytes)`, file);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = dv.getInt32(0, true);
  const be = dv.getInt32(0, false);
  let littleEndian: boolean;
  let size: number;
  if (le === 348 || le === 540) { littleEndian = true; size = le; } else if (be === 348 || be === 540) { littleEndian = false; size = be; } else {
    throw new DataError('VNET_E_CORRUPT_FILE', `bad header: sizeof_hdr is ${le}, expected 348 or 540`, file);
  }
  if (b.byteLength < size) throw new DataError('VNET_E_CORRUPT_FILE', `header truncated (${b.byteLength} < ${size} bytes)`, file);
  const h = size === 348 ? parseV1(b, dv, littleEndian) : parseV2(b, dv, littleEndian);
  checkHeader(h, file);
  return h;
}

function parseV1(b: Uint8Array, dv: DataView, le: boolean): NiftiHeader {
  const i16 = (o: number) => dv.getInt16(o, le);
  const f32 = (o: number) => dv.getFloat32(o, le);
  const row = (o: number) => [f32(o), f32(o + 4), f32(o + 8), f32(o + 12)];
  return {
    version: 1, littleEndian: le, headerSize: 348, magic: str(b, 344, 4),
    dim: Array.from({ length: 8 }, (_, i) => i16(40 + 2 * i)),
    pixdim: Array.from({ length: 8 }, (_, i) => f32(76 + 4 * i)),
    datatype: i16(70), bitpix: i16(72), voxOffset: f32(108), sclSlope: f32(112), sclInter: f32(116),
    calMax: f32(124), calMin: f32(128), qformCode: i16(252), sformCode: i16(254),
    quatern: [f32(256), f32(260), f32(264)], qoffset: [f32(268), f32(272), f32(276)],
    srow: [row(280), row(296), row(312)], xyztUnits: b[123], intentCode: i16(68), descrip: str(b, 148, 80),
  };
}

function parseV2(b: Uint8Array, dv: DataView, le: boolean): NiftiHeader {
  const i64 = (o: number) => Number(dv.getBigInt64(o, le));
  const f64 = (o: number) => dv.getFloat64(o, le);
  const row = (o: number) => [f64(o), f64(o + 8), f64(o + 16), f64(o + 24)];
  return {
    version: 2, littleEndian: le, headerSize: 540, magic: str(b, 4, 4),
    dim: Array.from({ length: 8 }, (_, i) => i64(16 + 8 * i)),
    pixdim: Array.from({ length: 8 }, (_, i) => f64(104 + 8 * i)),
    datatype: dv.getInt16(12, le), bitpix: dv.getInt16(14, le), voxOffset: i64(168), sclSlope: f64(176), sclInter: f64(184),
    calMax: f64(192), calMin: f64(200), qformCode: dv.getInt32(344, le), sformCode: dv.getInt32(348, le),
    quatern: [f64(352), f64(360), f64(368)], qoffset: [f64(376), f64(384), f64(392)],
    srow: [row(400), row(432), row(464)], xyztUnits: dv.getInt32(500, le), intentCode: dv.getInt32(504, le), descrip: str(b, 240, 80),
  };
}

function checkHeader(h: NiftiHeader, file?: string): void {
  const okMagic = h.version === 1 ? h.magic === 'n+1' || h.magic === 'ni1' : h.magic === 'n+2' || h.magic === 'ni2';
  if (!okMagic) throw new DataError('VNET_E_CORRUPT_FILE', `bad header: magic ${JSON.stringify(h.magic)}`, file);
  if (h.magic.startsWith('ni')) throw new DataError('VNET_E_UNSUPPORTED', 'separate .hdr/.img pairs are not supported; use a single .nii or .nii.gz', file);
  const rank = h.dim[0];
  if (!(rank >= 1 && rank <= 7)) throw new DataError('VNET_E_CORRUPT_FILE', `bad header: dim[0] = ${rank}`, file);
  for (let i = 1; i <= rank; i++) {
    if (!(h.dim[i] >= 1)) throw new DataError('VNET_E_CORRUPT_FILE', `bad header: dim[${i}] = ${h.dim[i]}`, file);
  }
  if (!DATATYPES[h.datatype]) throw new DataError('VNET_E_UNSUPPORTED', `datatype ${h.datatype} is not supported`, file);
}

/** Spatial size (nx, ny, nz) and the number of 3-D volumes (product of dims 4..rank). */
export function niftiShape(h: NiftiHeader): { shape: [number, number, number]; volumes: number } {
  const d = (i: number) => (i <= h.dim[0] ? h.dim[i] : 1);
  let volumes = 1;
  for (let i = 4; i <= h.dim[0]; i++) volumes *= h.dim[i];
  return { shape: [d(1), d(2), d(3)], volumes };
}

/** Where voxel data starts: vox_offset, or just past header + extension flag when it is 0. */
export function dataOffset(h: NiftiHeader): number {
  return h.voxOffset >= h.headerSize ? Math.floor(h.voxOffset) : h.headerSize + 4;
}

/** The 4x4 voxel-to-world affine: sform when sform_code > 0, else qform, else spacing only. */
export function niftiAffine(h: NiftiHeader): number[][] {
  if (h.sformCode > 0) return [...h.srow.map((r) => [...r]), [0, 0, 0, 1]];
  const [dx, dy, dz] = [h.pixdim[1], h.pixdim[2], h.pixdim[3]];
  if (h.qformCode <= 0) return [[dx, 0, 0, 0], [0, dy, 0, 0], [0, 0, dz, 0], [0, 0, 0, 1]];
  const [b, c, d] = h.quatern;
  const a = Math.sqrt(Math.max(0, 1 - (b * b + c * c + d * d)));
  const qfac = h.pixdim[0] < 0 ? -1 : 1;
  const R = [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
  ];
  const s = [dx, dy, dz * qfac];
  return [0, 1, 2].map((i) => [R[i][0] * s[0], R[i][1] * s[1], R[i][2] * s[2], h.qoffset[i]]).concat([[0, 0, 0, 1]]);
}
