// The reference's only augmentation: independent p = 0.5 flips of tensor axes 1 (y, TF's
// flip_left_right) and 0 (x, flip_up_down), the same flip for image and label; z never flips.
// Draws happen in the main thread from the one seeded Rng, so results never depend on which
// worker assembled a batch; workers only apply the drawn flips.
import type { Rng } from './rng.js';
import type { Shape3 } from './nifti.js';

/** The flips drawn for one sample. */
export interface Flips {
  /** Reverse tensor axis 0 (NIfTI x). */
  flipX: boolean;
  /** Reverse tensor axis 1 (NIfTI y). */
  flipY: boolean;
}

export const NO_FLIPS: Flips = Object.freeze({ flipX: false, flipY: false });

/** Draw one sample's flips: y first, then x, each with p = 0.5 (the reference's order). */
export function drawFlips(rng: Rng): Flips {
  const flipY = rng.float() < 0.5;
  const flipX = rng.float() < 0.5;
  return { flipX, flipY };
}

/**
 * Copy a (D, H, W) volume into `dst` at element `offset`, reversing axis 0 and/or 1. W rows
 * are contiguous in both: whole (H, W) planes go by TypedArray#set (a memcpy) when y is not
 * flipped; otherwise rows are copied in a loop over Int32Array views of both arrays, which
 * moves float32 bits exactly and keeps that loop monomorphic (per-row `set` costs more here).
 */
export function copyFlipped<T extends Float32Array | Int32Array>(src: T, shape: Shape3, flips: Flips, dst: T, offset = 0): void {
  const [d, h, w] = shape;
  const plane = h * w;
  if (!flips.flipY) {
    if (!flips.flipX) dst.set(src.subarray(0, d * plane), offset);
    else for (let x = 0; x < d; x++) dst.set(src.subarray((d - 1 - x) * plane, (d - x) * plane), offset + x * plane);
    return;
  }
  const s32 = new Int32Array(src.buffer, src.byteOffset, src.length);
  const d32 = new Int32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let x = 0; x < d; x++) {
    const sx = flips.flipX ? d - 1 - x : x;
    for (let y = 0; y < h; y++) {
      const s = (sx * h + (h - 1 - y)) * w;
      const o = offset + (x * h + y) * w;
      for (let z = 0; z < w; z++) d32[o + z] = s32[s + z];
    }
  }
}

/** A flipped copy of a (D, H, W) volume. */
export function flipVolume<T extends Float32Array | Int32Array>(src: T, shape: Shape3, flips: Flips): T {
  const out = (src instanceof Float32Array ? new Float32Array(src.length) : new Int32Array(src.length)) as T;
  copyFlipped(src, shape, flips, out, 0);
  return out;
}
