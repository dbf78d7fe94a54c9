// Per-case preprocessing with the reference's semantics: read, resample to the network input
// shape (linear for images, nearest for labels), then z-score the image over that one volume.
import { readNifti, readNiftiLabels, type Shape3 } from './nifti.js';
import { DataError } from './errors.js';
import { resampleLinear, resampleNearest } from './resample.js';

/** The network input shape of the reference, (x, y, z) = tensor (D, H, W). */
export const DEFAULT_INPUT_SHAPE: Shape3 = [32, 32, 32];

/** One case as listed in a dataset: an id, an image path and (for training) a label path. */
export interface CaseRef {
  id: string;
  image: string;
  label?: string;
}

/** A preprocessed case at the input shape (or, `fullResolution`, at its own shape), plus what is needed to map predictions back. */
export interface PreparedCase {
  id: string;
  /** (D, H, W) z-scored image at the input shape. */
  image: Float32Array;
  /** (D, H, W) labels at the input shape, when the case has a label. */
  label?: Int32Array;
  /** The image's own (nx, ny, nz) before resampling. */
  originalShape: Shape3;
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

/** Resample an image (D, H, W) to `shape` linearly, then z-score it. */
export function preprocessImage(data: Float32Array, from: Shape3, shape: Shape3 = DEFAULT_INPUT_SHAPE): Float32Array {
  return zscoreInPlace(resampleLinear(data, from, shape));
}

/** Resample a label volume (D, H, W) to `shape` with nearest neighbour. */
export function preprocessLabel(data: Int32Array, from: Shape3, shape: Shape3 = DEFAULT_INPUT_SHAPE): Int32Array {
  return resampleNearest(data, from, shape);
}

function toShared<T extends Float32Array | Int32Array>(a: T): T {
  const sab = new SharedArrayBuffer(a.byteLength);
  const out = (a instanceof Float32Array ? new Float32Array(sab) : new Int32Array(sab)) as T;
  out.set(a);
  return out;
}

/**
 * Read and preprocess one case. With `shared`, the arrays live in SharedArrayBuffers so worker
 * threads and the main thread can use the cached case without copying it. With `fullResolution`
 * (--resize none) nothing is resampled: the image is z-scored at its own shape, the labels
 * kept as they are.
 */
export function prepareCase(ref: CaseRef, shape: Shape3 = DEFAULT_INPUT_SHAPE, opts: { shared?: boolean; fullResolution?: boolean } = {}): PreparedCase {
  const img = readNifti(ref.image);
  let image = opts.fullResolution ? zscoreInPlace(img.data) : preprocessImage(img.data, img.shape, shape);
  let label: Int32Array | undefined;
  if (ref.label) {
    const lab = readNiftiLabels(ref.label);
    if (opts.fullResolution && lab.shape.some((v, i) => v !== img.shape[i])) throw new DataError('VNET_E_SHAPE_MISMATCH', `the label's shape ${lab.shape.join('x')} is not the image's ${img.shape.join('x')}`, ref.label);
    label = opts.fullResolution ? lab.data : preprocessLabel(lab.data, lab.shape, shape);
    if (opts.shared) label = toShared(label);
  }
  if (opts.shared) image = toShared(image);
  return { id: ref.id, image, label, originalShape: img.shape };
}
