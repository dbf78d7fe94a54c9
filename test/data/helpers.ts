// Shared test helpers: where the real data is, temp folders, a skip that says why, and a tiny
// independent NIfTI writer for synthetic fixtures (written apart from src/ on purpose, so the
// reader is not checked against its own mirror image).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultDataDir } from '../../src/data/paths.js';

export const DATA_DIR = defaultDataDir();
export const HAVE_DATA = fs.existsSync(path.join(DATA_DIR, 'dataset.json'));
const NO_DATA = `no dataset at ${DATA_DIR} (set VNET_DATA_DIR)`;

/** `it` when `cond`, else a skipped test with the reason printed. */
export function itIf(cond: boolean, reason: string): jest.It {
  if (cond) return it;
  return ((name: string, fn?: jest.ProvidesCallback, t?: number) => {
    console.warn(`skipped: ${name}: ${reason}`);
    it.skip(name, fn, t);
  }) as unknown as jest.It;
}

/** `it` for tests that need the real Task04 data. */
export const itData = itIf(HAVE_DATA, NO_DATA);

/** Absolute path of a real training image / label by case number, e.g. real('001'). */
export function real(n: string, kind: 'image' | 'label' = 'image'): string {
  return path.join(DATA_DIR, kind === 'image' ? 'imagesTr' : 'labelsTr', `hippocampus_${n}.nii.gz`);
}

/** A fresh temp folder, removed by `cleanupTmp`. */
const made: string[] = [];
export function tmpDir(tag = 'data'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `vnet-${tag}-`));
  made.push(d);
  return d;
}
export function cleanupTmp(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export interface FixtureSpec {
  version?: 1 | 2;
  littleEndian?: boolean;
  datatype: number;
  /** nx, ny, nz (, nt) */
  dims: number[];
  /** Voxel values in FILE order (x fastest), all volumes. */
  values: ArrayLike<number>;
  pixdim?: [number, number, number];
  slope?: number;
  inter?: number;
  qformCode?: number;
  sformCode?: number;
  quatern?: [number, number, number];
  qoffset?: [number, number, number];
  srow?: number[][];
}

const SIZES: Record<number, number> = { 2: 1, 4: 2, 8: 4, 16: 4, 64: 8, 256: 1, 512: 2, 768: 4, 1024: 8, 1280: 8 };

/** Build an uncompressed single-file NIfTI from scratch. */
export function buildNifti(s: FixtureSpec): Uint8Array {
  const v2 = s.version === 2;
  const le = s.littleEndian ?? true;
  const hs = v2 ? 540 : 348;
  const size = SIZES[s.datatype];
  const buf = new ArrayBuffer(hs + 4 + s.values.length * size);
  const dv = new DataView(buf);
  const u8 = new Uint8Array(buf);
  const pix = [1, ...(s.pixdim ?? [1, 1, 1]), 1, 0, 0, 0];
  const dim = [s.dims.length, ...s.dims, 1, 1, 1, 1, 1, 1, 1].slice(0, 8);
  const srow = s.srow ?? [[pix[1], 0, 0, 0], [0, pix[2], 0, 0], [0, 0, pix[3], 0]];
  dv.setInt32(0, hs, le);
  if (v2) {
    u8.set([0x6e, 0x2b, 0x32, 0, 0x0d, 0x0a, 0x1a, 0x0a], 4);
    dv.setInt16(12, s.datatype, le); dv.setInt16(14, size * 8, le);
    dim.forEach((d, i) => dv.setBigInt64(16 + 8 * i, BigInt(d), le));
    pix.forEach((p, i) => dv.setFloat64(104 + 8 * i, p, le));
    dv.setBigInt64(168, BigInt(hs + 4), le);
    dv.setFloat64(176, s.slope ?? 1, le); dv.setFloat64(184, s.inter ?? 0, le);
    dv.setInt32(344, s.qformCode ?? 1, le); dv.setInt32(348, s.sformCode ?? 1, le);
    (s.quatern ?? [0, 0, 0]).forEach((q, i) => dv.setFloat64(352 + 8 * i, q, le));
    (s.qoffset ?? [0, 0, 0]).forEach((q, i) => dv.setFloat64(376 + 8 * i, q, le));
    srow.forEach((r, i) => r.forEach((v, k) => dv.setFloat64(400 + 32 * i + 8 * k, v, le)));
    dv.setInt32(500, 10, le);
  } else {
    dim.forEach((d, i) => dv.setInt16(40 + 2 * i, d, le));
    dv.setInt16(70, s.datatype, le); dv.setInt16(72, size * 8, le);
    pix.forEach((p, i) => dv.setFloat32(76 + 4 * i, p, le));
    dv.setFloat32(108, hs + 4, le);
    dv.setFloat32(112, s.slope ?? 1, le); dv.setFloat32(116, s.inter ?? 0, le);
    u8[123] = 10;
    dv.setInt16(252, s.qformCode ?? 1, le); dv.setInt16(254, s.sformCode ?? 1, le);
    (s.quatern ?? [0, 0, 0]).forEach((q, i) => dv.setFloat32(256 + 4 * i, q, le));
    (s.qoffset ?? [0, 0, 0]).forEach((q, i) => dv.setFloat32(268 + 4 * i, q, le));
    srow.forEach((r, i) => r.forEach((v, k) => dv.setFloat32(280 + 16 * i + 4 * k, v, le)));
    u8.set([0x6e, 0x2b, 0x31, 0], 344);
  }
  let p = hs + 4;
  for (let i = 0; i < s.values.length; i++, p += size) {
    const v = s.values[i];
    switch (s.datatype) {
      case 2: dv.setUint8(p, v); break;
      case 4: dv.setInt16(p, v, le); break;
      case 8: dv.setInt32(p, v, le); break;
      case 16: dv.setFloat32(p, v, le); break;
      case 64: dv.setFloat64(p, v, le); break;
      case 256: dv.setInt8(p, v); break;
      case 512: dv.setUint16(p, v, le); break;
      case 768: dv.setUint32(p, v, le); break;
      case 1024: dv.setBigInt64(p, BigInt(v), le); break;
      case 1280: dv.setBigUint64(p, BigInt(v), le); break;
      default: throw new Error(`fixture: datatype ${s.datatype}`);
    }
  }
  return u8;
}

/** Value at (x, y, z) of a tensor-order (D, H, W) array. */
export function at(a: ArrayLike<number>, shape: number[], x: number, y: number, z: number): number {
  return a[(x * shape[1] + y) * shape[2] + z];
}

/** Dice of class `c` between two label arrays. */
export function dice(a: ArrayLike<number>, b: ArrayLike<number>, c: number): number {
  let inter = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] === c;
    const y = b[i] === c;
    if (x) na++;
    if (y) nb++;
    if (x && y) inter++;
  }
  return na + nb === 0 ? 1 : (2 * inter) / (na + nb);
}
