// Patch sampling for full-resolution training (--resize none): a patch of the network input
// shape at a random position of the volume, padded where the volume is smaller, and with
// probability p (--foreground_oversample) centred on a labelled voxel, as nnU-Net samples.
// The random numbers are drawn in the main thread (drawPatch) before the case is even read;
// the worker turns them into a position once it knows the volume (patchStart), so batches do
// not depend on which thread built them.
import type { Rng } from './rng.js';
import type { Shape3 } from './nifti.js';

/** One sample's patch draw: three uniforms for the position, and the foreground choice. */
export interface PatchDraw {
  /** Centre the patch on a labelled voxel (when the case has one). */
  foreground: boolean;
  /** Uniforms in [0, 1) for the start on each axis (random patches). */
  u: [number, number, number];
  /** Uniform in [0, 1) choosing which labelled voxel (foreground patches). */
  pick: number;
  /**
   * Reverse z (tensor axis 2) as well: with --augment, full-resolution patches are mirrored along all
   * three axes (x and y by the augmentation's flips), so the 8-way mirroring TTA sees nothing
   * training did not (z-mirrored predictions of a model never trained on them measured far worse).
   */
  flipZ?: boolean;
}

/** Draw one patch from the loader's Rng: the foreground coin, the uniforms, then (augmenting) the z flip. */
export function drawPatch(rng: Rng, foregroundOversample: number, augment = false): PatchDraw {
  const foreground = rng.float() < foregroundOversample;
  const u: [number, number, number] = [rng.float(), rng.float(), rng.float()];
  const d: PatchDraw = { foreground, u, pick: rng.float() };
  if (augment) d.flipZ = rng.float() < 0.5;
  return d;
}

/** Reverse the z axis (the contiguous one) of a (D, H, W) volume in place. */
export function flipZInPlace(v: Float32Array | Int32Array, shape: Shape3): void {
  const W = shape[2];
  for (let r = 0; r < shape[0] * shape[1]; r++) v.subarray(r * W, (r + 1) * W).reverse();
}

/**
 * The starts a patch of `p` may take on an axis of `n` voxels: [0, n - p] when the volume is
 * larger, [n - p, 0] when smaller (the whole volume lies inside the patch, padded around).
 */
export function startRange(n: number, p: number): [number, number] {
  return n >= p ? [0, n - p] : [n - p, 0];
}

/** A case's labelled voxels: how many, and the flat index of the k-th (ascending). */
export interface Foreground {
  count: number;
  at(k: number): number;
}

const foregrounds = new WeakMap<Int32Array, Foreground>();

/**
 * The labelled voxels (value > 0) of a label volume in memory, indexed once per label array (a
 * case's label is drawn from every epoch: scanning it per sample cost more than cutting the patch).
 */
export function labelForeground(label: Int32Array): Foreground {
  let fg = foregrounds.get(label);
  if (!fg) {
    let count = 0;
    for (let i = 0; i < label.length; i++) if (label[i] > 0) count++;
    const idx = new Int32Array(count);
    for (let i = 0, k = 0; i < label.length; i++) if (label[i] > 0) idx[k++] = i;
    fg = { count, at: (k) => idx[k] };
    foregrounds.set(label, fg);
  }
  return fg;
}

/**
 * The patch's start (may be negative: padding) for a volume of `shape`. A foreground draw
 * centres the patch on the pick-th labelled voxel (value > 0), clamped to the start range so the
 * voxel stays inside the patch; without labelled voxels it falls back to a random patch.
 */
export function patchStart(shape: Shape3, patch: Shape3, draw: PatchDraw, label?: Int32Array | Foreground): [number, number, number] {
  const ranges = [0, 1, 2].map((a) => startRange(shape[a], patch[a]));
  if (draw.foreground && label) {
    const fg = ArrayBuffer.isView(label) ? labelForeground(label) : label;
    const count = fg.count;
    if (count > 0) {
      const idx = fg.at(Math.min(count - 1, Math.floor(draw.pick * count)));
      const [, H, W] = shape;
      const v = [Math.floor(idx / (H * W)), Math.floor(idx / W) % H, idx % W];
      return [0, 1, 2].map((a) => Math.min(ranges[a][1], Math.max(ranges[a][0], v[a] - Math.floor(patch[a] / 2)))) as [number, number, number];
    }
  }
  return [0, 1, 2].map((a) => {
    const [lo, hi] = ranges[a];
    return lo + Math.min(hi - lo, Math.floor(draw.u[a] * (hi - lo + 1)));
  }) as [number, number, number];
}

/**
 * Copy the box of `patch` voxels at `start` of a (D, H, W) volume into `dst` at `offset`;
 * voxels outside the volume get `pad` (0: the z-scored mean for images, background for labels).
 */
export function extractPatch<T extends Float32Array | Int32Array>(src: T, shape: Shape3, start: readonly number[], patch: Shape3, dst: T, offset = 0, pad = 0): void {
  const [D, H, W] = shape;
  const [pd, ph, pw] = patch;
  // The z range inside the volume is the same for every row.
  const z0 = Math.max(0, -start[2]), z1 = Math.min(pw, W - start[2]);
  for (let x = 0; x < pd; x++) {
    const sx = start[0] + x;
    for (let y = 0; y < ph; y++) {
      const sy = start[1] + y;
      const o = offset + (x * ph + y) * pw;
      if (sx < 0 || sx >= D || sy < 0 || sy >= H || z1 <= z0) {
        dst.fill(pad, o, o + pw);
        continue;
      }
      if (z0 > 0) dst.fill(pad, o, o + z0);
      const s = (sx * H + sy) * W + start[2];
      dst.set(src.subarray(s + z0, s + z1), o + z0);
      if (z1 < pw) dst.fill(pad, o + z1, o + pw);
    }
  }
}
