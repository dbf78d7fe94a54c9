// A dataset's fingerprint, as nnU-Net takes it before planning: each training case's shape and
// spacing, the intensities of the foreground (labelled voxels) per channel, and how much of the
// volume each class fills. The CT normalisation is fitted from it, over every training case (so
// the folds of a cross-validation share one scale and their models can be ensembled).
import { imageSource, readImageChannels } from './channels.js';
import { ctNorm, intensityStats, sampleForeground, type ChannelNorm, type IntensityStats } from './intensity.js';
import { readNiftiLabels, type Shape3 } from './nifti.js';
import type { CaseRef } from './preprocess.js';

export interface CaseFingerprint {
  id: string;
  shape: Shape3;
  /** mm per voxel along (x, y, z) = tensor (D, H, W). */
  spacing: [number, number, number];
}

export interface Fingerprint {
  cases: CaseFingerprint[];
  channels: number;
  /** Per channel: statistics of the foreground intensities (sampled, FOREGROUND_SAMPLES per case). */
  foreground: IntensityStats[];
  /** Per class value: the fraction of all voxels it labels. */
  classFractions: number[];
}

/** Read every case once (image channels and label) and fingerprint the dataset. */
export function fingerprintCases(cases: readonly (CaseRef & { label?: string })[], channels: number, classes: number, onCase?: (done: number, total: number) => void): Fingerprint {
  const samples: number[][] = Array.from({ length: channels }, () => []);
  const counts = new Float64Array(classes);
  let voxels = 0;
  const out: CaseFingerprint[] = [];
  cases.forEach((ref, k) => {
    const img = readImageChannels(imageSource(ref), channels);
    const spacing = img.header.pixdim.slice(1, 4).map(Math.abs) as [number, number, number];
    out.push({ id: ref.id, shape: img.shape, spacing });
    if (ref.label) {
      const lab = readNiftiLabels(ref.label).data;
      const vox = lab.length;
      for (let c = 0; c < channels; c++) sampleForeground(img.data.subarray(c * vox, (c + 1) * vox), lab, samples[c]);
      for (let i = 0; i < vox; i++) if (lab[i] >= 0 && lab[i] < classes) counts[lab[i]]++;
      voxels += vox;
    }
    onCase?.(k + 1, cases.length);
  });
  return { cases: out, channels, foreground: samples.map((s) => intensityStats(s)), classFractions: Array.from(counts, (n) => (voxels ? n / voxels : 0)) };
}

/**
 * Each channel's normalisation for `schemes`: the CT ones fitted on the foreground intensities of
 * `cases` (read only when some channel is CT); undefined when every channel is a plain z-score
 * (the reference's, which a model records by leaving the list out).
 */
export function fitIntensity(cases: readonly (CaseRef & { label?: string })[], schemes: readonly ChannelNorm['scheme'][]): ChannelNorm[] | undefined {
  if (schemes.every((s) => s === 'zscore')) return undefined;
  if (!schemes.includes('ct')) return schemes.map((scheme) => ({ scheme }));
  const fp = fingerprintCases(cases, schemes.length, 0);
  return schemes.map((scheme, c) => (scheme === 'ct' ? ctNorm(fp.foreground[c], c) : { scheme }));
}
