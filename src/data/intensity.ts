// Intensity normalisation per input channel, by modality as nnU-Net does: MRI and most others
// z-scored over each volume; CT clipped to the 0.5 / 99.5 percentiles of the foreground
// intensities of the training cases and z-scored with their mean and std (Hounsfield units mean
// the same in every scan, so one global scale keeps air, fat and bone apart); or left as is.
import { DataError } from './errors.js';

/** How one channel is normalised; a model records its list so every inference path feeds it alike. */
export interface ChannelNorm {
  scheme: 'zscore' | 'ct' | 'none';
  /** ct: the clip range [p0.5, p99.5] of the training foreground. */
  clip?: [number, number];
  /** ct: the training foreground's mean and std (after clipping). */
  mean?: number;
  std?: number;
}

/** What --data_normalization asks for: by modality (auto) or one scheme for every channel. */
export type NormalizationChoice = 'auto' | ChannelNorm['scheme'];
export const NORMALIZATION_CHOICES: readonly NormalizationChoice[] = ['auto', 'zscore', 'ct', 'none'];

/** The scheme of each channel: auto gives CT channels (named "CT", any case) the CT scheme, the rest a z-score. */
export function channelSchemes(modality: readonly string[], channels: number, choice: NormalizationChoice = 'auto'): ChannelNorm['scheme'][] {
  return Array.from({ length: channels }, (_, c) => (choice === 'auto' ? (/^ct$/i.test((modality[c] ?? '').trim()) ? 'ct' : 'zscore') : choice));
}

/**
 * z-score in place over the whole volume: (v - mean) / std with the population std (ddof 0), as
 * scipy.stats.zscore(axis=None). Sums run in float64; a constant volume becomes all zeros.
 */
export function zscoreInPlace(v: Float32Array): Float32Array {
  const n = v.length;
  if (n === 0) return v;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += v[i];
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) {
    const d = v[i] - mean;
    sq += d * d;
  }
  const std = Math.sqrt(sq / n);
  if (!(std > 0)) {
    v.fill(0);
    return v;
  }
  const inv = 1 / std;
  for (let i = 0; i < n; i++) v[i] = (v[i] - mean) * inv;
  return v;
}

/** Normalise each channel of a (C, D, H, W) image in place; no list: z-score every channel (the reference). */
export function normalizeChannels(image: Float32Array, channels: number, norms?: readonly ChannelNorm[]): Float32Array {
  const vox = image.length / channels;
  for (let c = 0; c < channels; c++) {
    const v = image.subarray(c * vox, (c + 1) * vox);
    const n = norms?.[c] ?? { scheme: 'zscore' };
    if (n.scheme === 'zscore') zscoreInPlace(v);
    else if (n.scheme === 'ct') {
      if (!n.clip || n.mean === undefined || n.std === undefined) throw new DataError('VNET_E_BAD_ARGUMENT', `channel ${c}: CT normalisation needs the training statistics (clip, mean, std)`);
      const [lo, hi] = n.clip, m = n.mean, inv = 1 / Math.max(n.std, 1e-8);
      for (let i = 0; i < v.length; i++) v[i] = ((v[i] < lo ? lo : v[i] > hi ? hi : v[i]) - m) * inv;
    }
  }
  return image;
}

/** Foreground intensities kept per case for the statistics (nnU-Net samples 10,000 as well). */
export const FOREGROUND_SAMPLES = 10_000;

/**
 * Up to FOREGROUND_SAMPLES intensities of `image` where `label` > 0, evenly strided (so the
 * statistics are deterministic); `out` collects them.
 */
export function sampleForeground(image: Float32Array, label: Int32Array, out: number[]): void {
  let count = 0;
  for (let i = 0; i < label.length; i++) if (label[i] > 0) count++;
  const stride = Math.max(1, count / FOREGROUND_SAMPLES);
  let k = 0, next = 0;
  for (let i = 0; i < label.length; i++) {
    if (!(label[i] > 0)) continue;
    if (k++ >= next) { out.push(image[i]); next += stride; }
  }
}

/** Statistics of intensities: mean, std, min, max and the 0.5 / 50 / 99.5 percentiles. */
export interface IntensityStats { count: number; mean: number; std: number; min: number; max: number; p00_5: number; median: number; p99_5: number }

export function intensityStats(values: readonly number[]): IntensityStats {
  const v = Float64Array.from(values).sort();
  const n = v.length;
  if (n === 0) return { count: 0, mean: NaN, std: NaN, min: NaN, max: NaN, p00_5: NaN, median: NaN, p99_5: NaN };
  let sum = 0;
  for (const x of v) sum += x;
  const mean = sum / n;
  let sq = 0;
  for (const x of v) sq += (x - mean) ** 2;
  // Linear interpolation between order statistics (numpy's default percentile).
  const pct = (p: number) => {
    const r = (p / 100) * (n - 1), lo = Math.floor(r), hi = Math.min(n - 1, lo + 1);
    return v[lo] + (v[hi] - v[lo]) * (r - lo);
  };
  return { count: n, mean, std: Math.sqrt(sq / n), min: v[0], max: v[n - 1], p00_5: pct(0.5), median: pct(50), p99_5: pct(99.5) };
}

/** The CT scheme from the foreground's statistics, as nnU-Net's: clip at its 0.5 / 99.5 percentiles, z-score with its mean and std. */
export function ctNorm(s: IntensityStats, channel: number): ChannelNorm {
  if (s.count === 0) throw new DataError('VNET_E_BAD_ARGUMENT', `channel ${channel}: CT normalisation needs foreground voxels in the training labels, and there are none`);
  return { scheme: 'ct', clip: [s.p00_5, s.p99_5], mean: s.mean, std: s.std };
}
