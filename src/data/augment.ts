// Training augmentation. 'flips' is the reference's only augmentation: independent p = 0.5 flips
// of tensor axes 1 (y, TF's flip_left_right) and 0 (x, flip_up_down), the same flip for image and
// label; z never flips. 'full' adds, each with its own probability, a small rotation and an
// isotropic scaling about the volume centre (image trilinear, label nearest, edges clamped) and
// intensity changes of the image (gain, offset, Gaussian noise). Every draw happens in the main
// thread from the one seeded Rng, so results never depend on which worker assembled a batch;
// workers only apply the drawn parameters (the noise from a drawn seed). 'nnunet' keeps the
// flips and spatial draws of 'full' and replaces its intensity changes by nnU-Net's
// (augment-intensity.ts).
import type { Rng } from './rng.js';
import type { Shape3 } from './nifti.js';
import { addNoise, applyIntensity, drawIntensity, type IntensityDraws } from './augment-intensity.js';

/** The flips drawn for one sample. */
export interface Flips {
  /** Reverse tensor axis 0 (NIfTI x). */
  flipX: boolean;
  /** Reverse tensor axis 1 (NIfTI y). */
  flipY: boolean;
}

export const NO_FLIPS: Flips = Object.freeze({ flipX: false, flipY: false });

/**
 * What `--augment` applies: the reference's flips; flips plus spatial and intensity changes;
 * or the same flips and spatial changes with nnU-Net's intensity changes.
 */
export type AugmentMode = 'flips' | 'full' | 'nnunet';
export const AUGMENT_MODES: readonly AugmentMode[] = ['flips', 'full', 'nnunet'];

/** One sample's drawn augmentation: its flips, and for mode 'full' the optional extras. */
export interface SampleAugment extends Flips {
  /**
   * Output-to-input map about the volume centre, row-major 3x3 (tensor axes 0, 1, 2): the
   * sample for output voxel p is read at c + A (p - c), then flipped. Absent: identity.
   */
  affine?: number[];
  /** Image intensity: x * gain + offset, then + N(0, noise^2) per voxel from noiseSeed. */
  gain?: number;
  offset?: number;
  noise?: number;
  noiseSeed?: number;
  /** Mode 'nnunet': nnU-Net's intensity changes (then gain, offset and noise stay absent). */
  intensity?: IntensityDraws;
}

/** Probabilities and ranges of the 'full' mode (nnU-Net-like, milder spatially for 32³ inputs). */
export const FULL_AUGMENT = Object.freeze({
  pRotate: 0.3, maxDegrees: 15,
  pScale: 0.3, minScale: 0.85, maxScale: 1.15,
  pGain: 0.15, minGain: 0.75, maxGain: 1.25,
  pOffset: 0.15, maxOffset: 0.1,
  pNoise: 0.1, maxNoise: 0.1,
});

/** Draw one sample's flips: y first, then x, each with p = 0.5 (the reference's order). */
export function drawFlips(rng: Rng): Flips {
  const flipY = rng.float() < 0.5;
  const flipX = rng.float() < 0.5;
  return { flipX, flipY };
}

/**
 * Draw one sample's augmentation. The flips come first and exactly as drawFlips does, so mode
 * 'flips' gives the same stream as before; 'full' then draws its extras, 'nnunet' the same
 * spatial draws as 'full' and then nnU-Net's intensity draws.
 */
export function drawAugment(rng: Rng, mode: AugmentMode): SampleAugment {
  const a: SampleAugment = drawFlips(rng);
  if (mode === 'flips') return a;
  const f = FULL_AUGMENT;
  const u = (lo: number, hi: number) => lo + (hi - lo) * rng.float();
  let m: number[] | undefined;
  if (rng.float() < f.pRotate) {
    const r = (d: number) => (u(-d, d) * Math.PI) / 180;
    m = rotation(r(f.maxDegrees), r(f.maxDegrees), r(f.maxDegrees));
  }
  if (rng.float() < f.pScale) {
    // Reading at c + (p - c) / s magnifies by s.
    const inv = 1 / u(f.minScale, f.maxScale);
    m = (m ?? [1, 0, 0, 0, 1, 0, 0, 0, 1]).map((v) => v * inv);
  }
  if (m) a.affine = m;
  if (mode === 'nnunet') {
    a.intensity = drawIntensity(rng);
    return a;
  }
  if (rng.float() < f.pGain) a.gain = u(f.minGain, f.maxGain);
  if (rng.float() < f.pOffset) a.offset = u(-f.maxOffset, f.maxOffset);
  if (rng.float() < f.pNoise) {
    a.noise = u(0, f.maxNoise);
    a.noiseSeed = rng.nextU32();
  }
  return a;
}

/** Rotation Rz(c) Ry(b) Rx(a), row-major. */
function rotation(a: number, b: number, c: number): number[] {
  const [ca, sa, cb, sb, cc, sc] = [Math.cos(a), Math.sin(a), Math.cos(b), Math.sin(b), Math.cos(c), Math.sin(c)];
  const rx = [1, 0, 0, 0, ca, -sa, 0, sa, ca];
  const ry = [cb, 0, sb, 0, 1, 0, -sb, 0, cb];
  const rz = [cc, -sc, 0, sc, cc, 0, 0, 0, 1];
  return mul3(rz, mul3(ry, rx));
}

function mul3(x: number[], y: number[]): number[] {
  const o = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) o[i * 3 + j] += x[i * 3 + k] * y[k * 3 + j];
  return o;
}

/**
 * Write one augmented sample of a (D, H, W) volume into `dst` at `offset`: flips alone are a
 * copy; an affine map resamples (trilinear for images, nearest for labels, clamped at the
 * edges); intensity changes apply to images only.
 */
export function applyAugment<T extends Float32Array | Int32Array>(src: T, shape: Shape3, aug: SampleAugment, dst: T, offset: number, isLabel: boolean): void {
  if (aug.affine) warp(src, shape, aug, dst, offset, isLabel);
  else copyFlipped(src, shape, aug, dst, offset);
  if (!isLabel && aug.intensity) applyIntensity(dst as Float32Array, offset, shape, aug.intensity);
  if (isLabel || (aug.gain === undefined && aug.offset === undefined && aug.noise === undefined)) return;
  const n = shape[0] * shape[1] * shape[2];
  const g = aug.gain ?? 1;
  const b = aug.offset ?? 0;
  const out = dst as Float32Array;
  for (let i = offset; i < offset + n; i++) out[i] = out[i] * g + b;
  if (aug.noise) addNoise(out, offset, n, aug.noise, aug.noiseSeed ?? 1);
}

function warp<T extends Float32Array | Int32Array>(src: T, shape: Shape3, aug: SampleAugment, dst: T, offset: number, isLabel: boolean): void {
  const [d, h, w] = shape;
  const m = aug.affine as number[];
  const c0 = (d - 1) / 2, c1 = (h - 1) / 2, c2 = (w - 1) / 2;
  const clamp = (v: number, hi: number) => (v < 0 ? 0 : v > hi ? hi : v);
  let o = offset;
  for (let x = 0; x < d; x++) {
    const px = x - c0;
    for (let y = 0; y < h; y++) {
      const py = y - c1;
      for (let z = 0; z < w; z++, o++) {
        const pz = z - c2;
        let q0 = clamp(c0 + m[0] * px + m[1] * py + m[2] * pz, d - 1);
        let q1 = clamp(c1 + m[3] * px + m[4] * py + m[5] * pz, h - 1);
        const q2 = clamp(c2 + m[6] * px + m[7] * py + m[8] * pz, w - 1);
        if (aug.flipX) q0 = d - 1 - q0;
        if (aug.flipY) q1 = h - 1 - q1;
        if (isLabel) {
          dst[o] = src[(Math.round(q0) * h + Math.round(q1)) * w + Math.round(q2)];
          continue;
        }
        const i0 = Math.min(Math.floor(q0), d - 2 < 0 ? 0 : d - 2), i1 = Math.min(Math.floor(q1), h - 2 < 0 ? 0 : h - 2), i2 = Math.min(Math.floor(q2), w - 2 < 0 ? 0 : w - 2);
        const f0 = q0 - i0, f1 = q1 - i1, f2 = q2 - i2;
        const s0 = d > 1 ? h * w : 0, s1 = h > 1 ? w : 0, s2 = w > 1 ? 1 : 0;
        const b = (i0 * h + i1) * w + i2;
        const v00 = src[b] * (1 - f2) + src[b + s2] * f2;
        const v01 = src[b + s1] * (1 - f2) + src[b + s1 + s2] * f2;
        const v10 = src[b + s0] * (1 - f2) + src[b + s0 + s2] * f2;
        const v11 = src[b + s0 + s1] * (1 - f2) + src[b + s0 + s1 + s2] * f2;
        dst[o] = (v00 * (1 - f1) + v01 * f1) * (1 - f0) + (v10 * (1 - f1) + v11 * f1) * f0;
      }
    }
  }
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
