// Per-case preprocessing with the reference's semantics: read, resample to the network input
// shape (linear for images, nearest for labels), then normalise each image channel (intensity.ts:
// by default a z-score over that one volume).
import { readNiftiLabels, type Shape3 } from './nifti.js';
import { imageSource, readImageChannels } from './channels.js';
import { normalizeChannels, type ChannelNorm } from './intensity.js';
import { DataError } from './errors.js';
import { resampleLinear, resampleNearest } from './resample.js';

/** The network input shape of the reference, (x, y, z) = tensor (D, H, W). */
export const DEFAULT_INPUT_SHAPE: Shape3 = [32, 32, 32];

/** One case as listed in a dataset: an id, an image path and (for training) a label path. */
export interface CaseRef {
  id: string;
  /** The image file (with several channels in one file, all of them; else channel 0's). */
  image: string;
  /** One file per input channel (nnU-Net's case_0000, case_0001, ...), when the channels are in separate files. */
  channels?: string[];
  label?: string;
}

/** What the network reads: its input channels and how each is normalised (default: 1, z-scored). */
export interface InputSpec {
  channels?: number;
  intensity?: readonly ChannelNorm[];
}

/** A preprocessed case at the input shape (or, `fullResolution`, at its own shape), plus what is needed to map predictions back. */
export interface PreparedCase {
  id: string;
  /** (C, D, H, W) normalised image at the input shape, channel-first. */
  image: Float32Array;
  /** Input channels C (absent: 1). */
  channels?: number;
  /** (D, H, W) labels at the input shape, when the case has a label. */
  label?: Int32Array;
  /** The image's own (nx, ny, nz) before resampling. */
  originalShape: Shape3;
}

/**
 * A (C, D, H, W) image at `from` made ready for the network: each channel resampled linearly to
 * `shape` (none: kept at its own shape), then normalised as `input` says (default: z-scored).
 */
export function prepareImage(data: Float32Array, from: Shape3, shape: Shape3 | undefined, input: InputSpec = {}): Float32Array {
  const C = input.channels ?? 1;
  let out = data;
  if (shape) {
    const vin = from[0] * from[1] * from[2], vout = shape[0] * shape[1] * shape[2];
    if (C === 1) out = resampleLinear(data, from, shape);
    else {
      out = new Float32Array(C * vout);
      for (let c = 0; c < C; c++) out.set(resampleLinear(data.subarray(c * vin, (c + 1) * vin), from, shape), c * vout);
    }
  }
  return normalizeChannels(out, C, input.intensity);
}

/** Resample an image (D, H, W) to `shape` linearly, then z-score it. */
export function preprocessImage(data: Float32Array, from: Shape3, shape: Shape3 = DEFAULT_INPUT_SHAPE): Float32Array {
  return prepareImage(data, from, shape);
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
 * (--resize none) nothing is resampled: the image is normalised at its own shape, the labels
 * kept as they are.
 */
export function prepareCase(ref: CaseRef, shape: Shape3 = DEFAULT_INPUT_SHAPE, opts: { shared?: boolean; fullResolution?: boolean; input?: InputSpec } = {}): PreparedCase {
  const C = opts.input?.channels ?? 1;
  const img = readImageChannels(imageSource(ref), C);
  let image = prepareImage(img.data, img.shape, opts.fullResolution ? undefined : shape, opts.input);
  let label: Int32Array | undefined;
  if (ref.label) {
    const lab = readNiftiLabels(ref.label);
    if (opts.fullResolution && lab.shape.some((v, i) => v !== img.shape[i])) throw new DataError('VNET_E_SHAPE_MISMATCH', `the label's shape ${lab.shape.join('x')} is not the image's ${img.shape.join('x')}`, ref.label);
    label = opts.fullResolution ? lab.data : preprocessLabel(lab.data, lab.shape, shape);
    if (opts.shared) label = toShared(label);
  }
  if (opts.shared) image = toShared(image);
  return { id: ref.id, image, channels: C, label, originalShape: img.shape };
}
