// Resampling to a common voxel spacing (full-resolution models): each case's grid at the target
// spacing, the target nnU-Net picks from the data (the median spacing; for strongly anisotropic
// data the coarse axis is taken finer, at its 10th percentile), and the headers it is read from.
import { DataError } from './errors.js';
import { readNiftiHeader, type Shape3 } from './nifti.js';
import type { NiftiHeader } from './nifti-header.js';

export type Spacing = [number, number, number];

/** A spacing at least this many times coarser on one axis than on the others is anisotropic (nnU-Net's 3). */
export const ANISOTROPY_THRESHOLD = 3;

/** mm per voxel along (x, y, z) = tensor (D, H, W); a zero, negative or non-finite one is an error naming the file. */
export function spacingOf(h: NiftiHeader, file?: string): Spacing {
  const s = h.pixdim.slice(1, 4).map(Math.abs) as Spacing;
  if (s.some((v) => !(Number.isFinite(v) && v > 0))) throw new DataError('VNET_E_GEOMETRY', `voxel spacing (pixdim[1..3]) is ${h.pixdim.slice(1, 4).join(', ')}; each must be a finite positive number of mm`, file);
  return s;
}

/** The grid of a volume of `shape` at `spacing` resampled to `target`: the same extent, rounded to whole voxels. */
export function gridAt(shape: Shape3, spacing: Spacing, target: Spacing): Shape3 {
  return shape.map((n, i) => Math.max(1, Math.round((n * spacing[i]) / target[i]))) as Shape3;
}

/** Shape and spacing of each image, from its header alone. */
export function readGrids(files: readonly string[]): { shape: Shape3; spacing: Spacing }[] {
  return files.map((f) => {
    const h = readNiftiHeader(f);
    return { shape: h.shape, spacing: spacingOf(h.header, f) };
  });
}

function percentile(v: readonly number[], p: number): number {
  const s = [...v].sort((a, b) => a - b);
  const r = (p / 100) * (s.length - 1), lo = Math.floor(r), hi = Math.min(s.length - 1, lo + 1);
  return s[lo] + (s[hi] - s[lo]) * (r - lo);
}

/**
 * nnU-Net's full-resolution target spacing: the median of each axis. When the coarsest axis is
 * more than ANISOTROPY_THRESHOLD times coarser than the others and has that many times fewer
 * voxels, it takes the 10th percentile of its spacings instead (never finer than the other axes),
 * so thick-slice scans are not interpolated into many invented slices.
 */
export function autoTargetSpacing(grids: readonly { shape: Shape3; spacing: Spacing }[]): Spacing {
  if (!grids.length) throw new DataError('VNET_E_NO_CASES', 'no cases to take a target spacing from');
  const target = [0, 1, 2].map((a) => percentile(grids.map((g) => g.spacing[a]), 50)) as Spacing;
  const size = [0, 1, 2].map((a) => percentile(grids.map((g) => g.shape[a]), 50));
  const worst = target.indexOf(Math.max(...target));
  const others = [0, 1, 2].filter((a) => a !== worst);
  const maxOther = Math.max(...others.map((a) => target[a]));
  if (target[worst] > ANISOTROPY_THRESHOLD * maxOther && size[worst] * ANISOTROPY_THRESHOLD < Math.min(...others.map((a) => size[a]))) {
    const p10 = percentile(grids.map((g) => g.spacing[worst]), 10);
    target[worst] = p10 < maxOther ? maxOther + 1e-5 : p10;
  }
  // Headers hold float32 spacings (0.800000011920929): 7 significant digits are what they mean.
  return target.map((v) => +v.toPrecision(7)) as Spacing;
}
