// The geometry of a DICOM series: frames sorted along the slice normal, the checks that make
// gantry tilt, duplicate positions, missing slices and mismatched frames clear errors, and the
// voxel-to-world affine (RAS, as NIfTI wants it). Slice spacing comes from the positions, never
// from SliceThickness (which is the slab width, not the distance between slices).
import { DataError } from '../errors.js';
import type { Shape3 } from '../nifti.js';
import type { DicomFrame } from './parse.js';

export interface SeriesGeometry {
  /** The frames in slice order (ascending along the normal = row cosine x column cosine). */
  frames: DicomFrame[];
  /** (x, y, z) = (columns, rows, slices): the layout dcm2niix writes. */
  shape: Shape3;
  /** Voxel size along x, y, z in mm: [between columns, between rows, between slices]. */
  spacing: [number, number, number];
  /**
   * 4x4 RAS affine from voxel (x, y, z) to mm, where x is the column, y counts rows from the LAST
   * row up (NIfTI's bottom-up row order, as dcm2niix stores it) and z the sorted slice.
   */
  affine: number[][];
}

type V3 = [number, number, number];
const dot = (a: readonly number[], b: readonly number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const sub = (a: readonly number[], b: readonly number[]): V3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const norm = (a: readonly number[]) => Math.sqrt(dot(a, a));
const cross = (a: readonly number[], b: readonly number[]): V3 => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const name = (f: DicomFrame) => (f.frameNumber === undefined ? f.file : `${f.file} (frame ${f.frameNumber})`);

/** Sorts and checks `frames` (one series, at least one frame) and derives the affine. */
export function seriesGeometry(frames: DicomFrame[]): SeriesGeometry {
  const first = frames[0];
  checkSameImage(frames);
  const r = first.orientation.slice(0, 3);
  const c = first.orientation.slice(3, 6);
  if (Math.abs(norm(r) - 1) > 1e-3 || Math.abs(norm(c) - 1) > 1e-3 || Math.abs(dot(r, c)) > 1e-3) {
    throw new DataError('VNET_E_GEOMETRY', `ImageOrientationPatient ${first.orientation.join('\\')} is not two orthogonal unit vectors`, first.file);
  }
  const n = cross(r, c);
  const sorted = frames.map((f) => ({ f, p: dot(f.position, n) })).sort((a, b) => a.p - b.p || cmp(name(a.f), name(b.f)));
  const [dRow, dCol] = first.pixelSpacing;
  const dz = checkSpacing(sorted, first);
  checkTilt(sorted.map((s) => s.f), n, dz);
  const p0 = sorted[0].f.position;
  const rows = first.rows;
  // LPS: world = P0 + col*dCol*r + row*dRow*c + k*dz*n, with row = rows-1-y.
  const cols3 = [r.map((v) => v * dCol), c.map((v) => -v * dRow), n.map((v) => v * dz)];
  const origin = p0.map((v, i) => v + (rows - 1) * dRow * c[i]);
  // LPS -> RAS: negate the first two world axes.
  const affine = [0, 1, 2].map((i) => {
    const s = i < 2 ? -1 : 1;
    return [s * cols3[0][i], s * cols3[1][i], s * cols3[2][i], s * origin[i]];
  });
  affine.push([0, 0, 0, 1]);
  return { frames: sorted.map((s) => s.f), shape: [first.cols, rows, frames.length], spacing: [dCol, dRow, dz], affine };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Every frame has the first one's size, orientation and pixel spacing. */
function checkSameImage(frames: DicomFrame[]): void {
  const a = frames[0];
  const close = (x: readonly number[], y: readonly number[], tol: number) => x.every((v, i) => Math.abs(v - y[i]) <= tol);
  for (const f of frames) {
    const why = f.rows !== a.rows || f.cols !== a.cols ? `is ${f.rows}x${f.cols} pixels, ${name(a)} is ${a.rows}x${a.cols}`
      : !close(f.orientation, a.orientation, 1e-4) ? `has orientation ${f.orientation.join('\\')}, ${name(a)} has ${a.orientation.join('\\')}`
        : !close(f.pixelSpacing, a.pixelSpacing, 1e-4 * Math.max(1, ...a.pixelSpacing)) ? `has pixel spacing ${f.pixelSpacing.join('\\')}, ${name(a)} has ${a.pixelSpacing.join('\\')}`
          : '';
    if (why) throw new DataError('VNET_E_GEOMETRY', `${why}: a volume needs one grid (a localizer or a reformat in the folder?)`, name(f));
  }
}

/** The even distance between consecutive slices; duplicates, gaps and uneven steps are errors. */
function checkSpacing(sorted: { f: DicomFrame; p: number }[], first: DicomFrame): number {
  const N = sorted.length;
  if (N === 1) {
    const t = first.sliceThickness;
    return t !== undefined && t > 0 ? t : 1;
  }
  const steps = sorted.slice(1).map((s, i) => s.p - sorted[i].p);
  const median = [...steps].sort((a, b) => a - b)[Math.floor((N - 1) / 2)];
  for (let i = 0; i < N - 1; i++) {
    const [a, b] = [sorted[i].f, sorted[i + 1].f];
    // Positions are decimal strings of a few digits: 1 micrometre apart is the same place.
    if (steps[i] <= 1e-3) {
      throw new DataError('VNET_E_DUPLICATE_SLICE', `same slice position as ${name(a)} (${b.position.join('\\')}): two acquisitions, echoes or time points in one folder? Keep one`, name(b));
    }
  }
  const tol = Math.max(0.01, 0.01 * median);
  for (let i = 0; i < N - 1; i++) {
    if (Math.abs(steps[i] - median) <= tol) continue;
    const [a, b] = [sorted[i].f, sorted[i + 1].f];
    const m = Math.round(steps[i] / median);
    if (m >= 2 && Math.abs(steps[i] - m * median) <= tol) {
      throw new DataError('VNET_E_MISSING_SLICE', `${m - 1} slice(s) missing between ${name(a)} and this one: they are ${steps[i].toFixed(3)} mm apart, the other slices ${median.toFixed(3)} mm`, name(b));
    }
    throw new DataError('VNET_E_GEOMETRY', `uneven slice spacing: ${steps[i].toFixed(3)} mm from ${name(a)}, ${median.toFixed(3)} mm between the other slices`, name(b));
  }
  return (sorted[N - 1].p - sorted[0].p) / (N - 1);
}

/** Slice positions must move along the normal; a sideways drift is a tilted gantry (or a sheared stack). */
function checkTilt(frames: DicomFrame[], n: V3, dz: number): void {
  const p0 = frames[0].position;
  const off = (f: DicomFrame) => {
    const d = sub(f.position, p0);
    const along = dot(d, n);
    return { along, side: norm(sub(d, n.map((v) => v * along))) };
  };
  const tol = (along: number) => Math.max(0.01, 1e-3 * Math.abs(along), 0.01 * dz);
  const last = frames[frames.length - 1];
  const end = off(last);
  if (frames.length > 1 && end.side > tol(end.along)) {
    const deg = (Math.atan2(end.side, Math.abs(end.along)) * 180) / Math.PI;
    const tag = frames.find((f) => f.gantryTilt !== 0);
    throw new DataError('VNET_E_GANTRY_TILT', `slice positions drift ${end.side.toFixed(2)} mm sideways over ${Math.abs(end.along).toFixed(1)} mm (a ${deg.toFixed(1)} degree gantry tilt${tag ? `; GantryDetectorTilt says ${tag.gantryTilt}` : ''}); resample the series to an orthogonal grid first (dcm2niix does)`, name(last));
  }
  for (const f of frames) {
    const o = off(f);
    if (o.side > tol(o.along)) throw new DataError('VNET_E_GEOMETRY', `this slice lies ${o.side.toFixed(2)} mm off the axis of the others`, name(f));
  }
}
