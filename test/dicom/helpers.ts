// DICOM test series written by pydicom (make_series.py) from the real MSD cases into temp
// folders, and what the external tools (pydicom, dcm2niix, dciodvfy) need to be present.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HAVE_DATA, real, tmpDir } from '../data/helpers.js';

export const PY = '/usr/bin/python3';
const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'make_series.py');

const has = (cmd: string, args: string[]) => !spawnSync(cmd, args, { stdio: 'ignore' }).error;
/** pydicom and nibabel (Debian's python3-pydicom, python3-nibabel) and the real data. */
export const HAVE_PYDICOM = HAVE_DATA && fs.existsSync(PY) && spawnSync(PY, ['-c', 'import pydicom, nibabel'], { stdio: 'ignore' }).status === 0;
export const NO_PYDICOM = HAVE_DATA ? `${PY} lacks pydicom or nibabel (apt-get install python3-pydicom python3-nibabel)` : 'no Task04 data (set VNET_DATA_DIR)';
export const HAVE_DCM2NIIX = has('dcm2niix', ['-v']);
export const HAVE_DCIODVFY = has('dciodvfy', ['-version']);

/** The geometry make_series.py wrote (and, for hostile variants, the files at fault). */
export interface SeriesInfo {
  dir: string;
  files: string[];
  row: number[];
  col: number[];
  origin: number[];
  /** Between columns, rows, slices (mm). */
  spacing: number[];
  shape: number[];
  slope: number;
  inter: number;
  series: string;
}

/** Writes the `variant` series of case `n` (and `other` for the mixed one) into a fresh folder. */
export function makeSeries(variant: string, n = '001', other = '003'): SeriesInfo {
  const dir = path.join(tmpDir('dicom'), variant);
  const r = spawnSync(PY, [SCRIPT, real(n), dir, variant, real(other)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`make_series.py ${variant} failed: ${r.stderr}`);
  return { dir, ...(JSON.parse(r.stdout) as Omit<SeriesInfo, 'dir'>) };
}

/** Runs python code with argv; returns stdout (throws with stderr on failure). */
export function python(code: string, args: string[]): string {
  const r = spawnSync(PY, ['-c', code, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout;
}

/** The (x, y, z) voxel of a NIfTI-ordered volume moved to the DICOM layout (y counted from the last row). */
export function flipY(data: ArrayLike<number>, shape: readonly number[]): Int32Array {
  const [nx, ny, nz] = shape;
  const out = new Int32Array(nx * ny * nz);
  for (let x = 0; x < nx; x++) for (let y = 0; y < ny; y++) for (let z = 0; z < nz; z++) out[(x * ny + (ny - 1 - y)) * nz + z] = data[(x * ny + y) * nz + z];
  return out;
}

/** How many elements differ (a count fails fast and prints small, unlike a diff of whole volumes). */
export function mismatches(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}
