// nnU-Net's intensity augmentations for --augment_mode nnunet: Gaussian noise, Gaussian blur,
// multiplicative brightness, contrast, simulated low resolution and gamma (inverted and plain).
// Their order, probabilities and ranges are nnU-Net v2's default trainer (nnUNetTrainer.
// get_training_transforms, batchgeneratorsv2 transforms), quoted beside each draw. The draws
// happen in the main thread from the pipeline's Rng; apply* only uses what was drawn.
import { Rng } from './rng.js';
import type { Shape3 } from './nifti.js';

/** One sample's drawn nnU-Net intensity changes; an absent field is a transform not applied. */
export interface IntensityDraws {
  /** Noise standard deviation (nnU-Net draws the variance) and the seed of its normal draws. */
  noise?: { sd: number; seed: number };
  /** Blur sigma per tensor axis (voxels). */
  blur?: [number, number, number];
  brightness?: number;
  contrast?: number;
  /** Simulated low resolution: the scale of the coarse grid (one for all axes). */
  lowres?: number;
  /** Gamma of the inverted image, then of the image. */
  gammaInverted?: number;
  gamma?: number;
}

/** nnU-Net v2's numbers: apply probability, then the ranges of each transform. */
export const NNUNET_INTENSITY = Object.freeze({
  // GaussianNoiseTransform(noise_variance=(0, 0.1)), apply_probability=0.1
  pNoise: 0.1, maxNoiseVariance: 0.1,
  // GaussianBlurTransform(blur_sigma=(0.5, 1.), synchronize_axes=False, p_per_channel=0.5), apply_probability=0.2
  pBlur: 0.2, pBlurChannel: 0.5, minSigma: 0.5, maxSigma: 1,
  // MultiplicativeBrightnessTransform(multiplier_range=BGContrast((0.75, 1.25))), apply_probability=0.15
  pBrightness: 0.15, brightness: [0.75, 1.25] as const,
  // ContrastTransform(contrast_range=BGContrast((0.75, 1.25)), preserve_range=True), apply_probability=0.15
  pContrast: 0.15, contrast: [0.75, 1.25] as const,
  // SimulateLowResolutionTransform(scale=(0.5, 1), synchronize_axes=True, p_per_channel=0.5), apply_probability=0.25
  pLowres: 0.25, pLowresChannel: 0.5, minLowres: 0.5, maxLowres: 1,
  // GammaTransform(gamma=BGContrast((0.7, 1.5)), p_invert_image=1, p_retain_stats=1), apply_probability=0.1
  pGammaInverted: 0.1,
  // GammaTransform(gamma=BGContrast((0.7, 1.5)), p_invert_image=0, p_retain_stats=1), apply_probability=0.3
  pGamma: 0.3, gamma: [0.7, 1.5] as const,
});

/**
 * batchgenerators' BGContrast sampling: half the time below 1 (when the range reaches below 1),
 * otherwise at or above 1, so shrinking and stretching are equally likely.
 */
export function drawBgContrast(rng: Rng, [lo, hi]: readonly [number, number]): number {
  const u = (a: number, b: number) => a + (b - a) * rng.float();
  return rng.float() < 0.5 && lo < 1 ? u(lo, 1) : u(Math.max(lo, 1), hi);
}

/** Draw one sample's nnU-Net intensity changes, in nnU-Net's order. */
export function drawIntensity(rng: Rng): IntensityDraws {
  const f = NNUNET_INTENSITY;
  const u = (lo: number, hi: number) => lo + (hi - lo) * rng.float();
  const d: IntensityDraws = {};
  if (rng.float() < f.pNoise) d.noise = { sd: Math.sqrt(u(0, f.maxNoiseVariance)), seed: rng.nextU32() };
  if (rng.float() < f.pBlur && rng.float() < f.pBlurChannel) d.blur = [u(f.minSigma, f.maxSigma), u(f.minSigma, f.maxSigma), u(f.minSigma, f.maxSigma)];
  if (rng.float() < f.pBrightness) d.brightness = drawBgContrast(rng, f.brightness);
  if (rng.float() < f.pContrast) d.contrast = drawBgContrast(rng, f.contrast);
  if (rng.float() < f.pLowres && rng.float() < f.pLowresChannel) d.lowres = u(f.minLowres, f.maxLowres);
  if (rng.float() < f.pGammaInverted) d.gammaInverted = drawBgContrast(rng, f.gamma);
  if (rng.float() < f.pGamma) d.gamma = drawBgContrast(rng, f.gamma);
  return d;
}

/**
 * Add N(0, sd²) per voxel to out[offset, offset + n): Box-Muller pairs from the pipeline's one
 * generator seeded by the draw, so every worker thread makes the same noise.
 */
export function addNoise(out: Float32Array | Float64Array, offset: number, n: number, sd: number, seed: number): void {
  const rng = new Rng(seed);
  const next = () => (rng.nextU32() + 0.5) / 4294967296;
  for (let i = offset; i < offset + n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(next()));
    const t = 2 * Math.PI * next();
    out[i] += sd * r * Math.cos(t);
    if (i + 1 < offset + n) out[i + 1] += sd * r * Math.sin(t);
  }
}

/**
 * Apply the drawn changes to the (D, H, W) image at dst[offset...], in nnU-Net's order, in
 * float64 (one rounding to float32 at the end). Labels never come here.
 */
export function applyIntensity(dst: Float32Array, offset: number, shape: Shape3, d: IntensityDraws): void {
  const n = shape[0] * shape[1] * shape[2];
  let v: Float64Array = Float64Array.from(dst.subarray(offset, offset + n));
  if (d.noise) addNoise(v, 0, n, d.noise.sd, d.noise.seed);
  if (d.blur) for (let axis = 0; axis < 3; axis++) blurAxis(v, shape, axis, d.blur[axis]);
  if (d.brightness !== undefined) for (let i = 0; i < n; i++) v[i] *= d.brightness;
  if (d.contrast !== undefined) contrast(v, d.contrast);
  if (d.lowres !== undefined) v = lowResolution(v, shape, d.lowres);
  if (d.gammaInverted !== undefined) gamma(v, d.gammaInverted, true);
  if (d.gamma !== undefined) gamma(v, d.gamma, false);
  dst.set(v, offset);
}

/** Mirror an index into [0, len) as scipy's 'reflect' mode does (d c b a | a b c d | d c b a). */
function reflect(i: number, len: number): number {
  const p = 2 * len;
  const k = ((i % p) + p) % p;
  return k < len ? k : p - 1 - k;
}

/** One axis of a separable Gaussian blur, truncated at 4 sigma (scipy's default). */
function blurAxis(v: Float64Array, [d, h, w]: Shape3, axis: number, sigma: number): void {
  const r = Math.floor(4 * sigma + 0.5);
  const k = Array.from({ length: 2 * r + 1 }, (_, j) => Math.exp(-((j - r) ** 2) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  const len = [d, h, w][axis];
  const stride = [h * w, w, 1][axis];
  const line = new Float64Array(len);
  for (let base = 0; base < v.length; base++) {
    // Each line starts where the axis index is 0.
    if (Math.floor(base / stride) % len !== 0) continue;
    for (let i = 0; i < len; i++) line[i] = v[base + i * stride];
    for (let i = 0; i < len; i++) {
      let s = 0;
      for (let j = -r; j <= r; j++) s += k[j + r] * line[reflect(i + j, len)];
      v[base + i * stride] = s / sum;
    }
  }
}

/** (v - mean) * factor + mean, clipped to the volume's former range. */
function contrast(v: Float64Array, factor: number): void {
  let mean = 0, lo = Infinity, hi = -Infinity;
  for (const x of v) {
    mean += x;
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  mean /= v.length;
  for (let i = 0; i < v.length; i++) v[i] = Math.min(hi, Math.max(lo, (v[i] - mean) * factor + mean));
}

/**
 * Down to round(size * scale) per axis by nearest neighbour (PyTorch's 'nearest-exact'), then back
 * by trilinear interpolation with align_corners=False, as batchgeneratorsv2 does.
 */
function lowResolution(v: Float64Array, shape: Shape3, scale: number): Float64Array {
  const small = shape.map((s) => Math.max(1, Math.round(s * scale))) as Shape3;
  const coarse = new Float64Array(small[0] * small[1] * small[2]);
  const near = (i: number, from: number, to: number) => Math.min(Math.floor((i + 0.5) * (from / to)), from - 1);
  for (let x = 0, o = 0; x < small[0]; x++) for (let y = 0; y < small[1]; y++) for (let z = 0; z < small[2]; z++, o++) {
    coarse[o] = v[(near(x, shape[0], small[0]) * shape[1] + near(y, shape[1], small[1])) * shape[2] + near(z, shape[2], small[2])];
  }
  // Per axis: the two coarse neighbours and the weight of the second, for each fine index.
  const taps = shape.map((len, a) => Array.from({ length: len }, (_, i) => {
    const q = Math.max(0, (i + 0.5) * (small[a] / len) - 0.5);
    const i0 = Math.min(Math.floor(q), small[a] - 1);
    return { i0, i1: Math.min(i0 + 1, small[a] - 1), f: q - i0 };
  }));
  const out = new Float64Array(v.length);
  const at = (x: number, y: number, z: number) => coarse[(x * small[1] + y) * small[2] + z];
  for (let x = 0, o = 0; x < shape[0]; x++) for (let y = 0; y < shape[1]; y++) for (let z = 0; z < shape[2]; z++, o++) {
    const a = taps[0][x], b = taps[1][y], c = taps[2][z];
    const lerp = (p: number, q: number, t: number) => p * (1 - t) + q * t;
    const plane = (xi: number) => lerp(lerp(at(xi, b.i0, c.i0), at(xi, b.i0, c.i1), c.f), lerp(at(xi, b.i1, c.i0), at(xi, b.i1, c.i1), c.f), b.f);
    out[o] = lerp(plane(a.i0), plane(a.i1), a.f);
  }
  return out;
}

/**
 * Gamma on the volume's range with its mean and standard deviation kept (p_retain_stats=1):
 * ((v - min) / (range + 1e-7))^g * (range + 1e-7) + min; inverted: the same on -v, negated back.
 */
function gamma(v: Float64Array, g: number, invert: boolean): void {
  const n = v.length;
  if (invert) for (let i = 0; i < n; i++) v[i] = -v[i];
  const [mean, sd] = meanSd(v);
  let lo = Infinity, hi = -Infinity;
  for (const x of v) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  const range = hi - lo + 1e-7;
  for (let i = 0; i < n; i++) v[i] = Math.pow((v[i] - lo) / range, g) * range + lo;
  const [m2, sd2] = meanSd(v);
  for (let i = 0; i < n; i++) v[i] = ((v[i] - m2) / (sd2 + 1e-8)) * sd + mean;
  if (invert) for (let i = 0; i < n; i++) v[i] = -v[i];
}

function meanSd(v: Float64Array): [number, number] {
  let m = 0;
  for (const x of v) m += x;
  m /= v.length;
  let s = 0;
  for (const x of v) s += (x - m) ** 2;
  return [m, Math.sqrt(s / v.length)];
}
