// Per-case preprocessing with the reference's semantics: read, resample to the network input
// shape (linear for images, nearest for labels), then normalise each image channel (intensity.ts:
// by default a z-score over that one volume).
import { readNiftiLabels, type Shape3 } from './nifti.js';
import { imageSource, readImageChannels } from './channels.js';
import { normalizeChannels, type ChannelNorm } from './intensity.js';
import { DataError } from './errors.js';
import { resampleCubic, resampleLinear, resampleNearest, type Outside } from './resample.js';
import { gridAt, spacingOf, type Spacing } from './spacing.js';
import type { NiftiHeader } from './nifti-header.js';

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
  /** Full-resolution models: the spacing (mm) every case is resampled to first; absent: each keeps its own. */
  targetSpacing?: Spacing;
  /** How images are resampled to the target spacing: cubic, or (absent) linear. */
  interpolation?: 'cubic';
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
  /** Full resolution at a target spacing: the grid `image` and `label` are on (absent: originalShape). */
  shape?: Shape3;
}

/**
 * The grid a volume of `shape` is prepared on: `resizeTo` (the reference's resize), or at full
 * resolution its own grid, resampled to the input's target spacing when it has one.
 */
export function preparedGrid(shape: Shape3, header: NiftiHeader, resizeTo: Shape3 | undefined, input: InputSpec = {}, file?: string): Shape3 {
  if (resizeTo) return resizeTo;
  return input.targetSpacing ? gridAt(shape, spacingOf(header, file), input.targetSpacing) : shape;
}

const sameShape = (a: Shape3, b: Shape3) => a.every((v, i) => v === b[i]);

/**
 * A (C, D, H, W) image at `from` made ready for the network: each channel resampled linearly to
 * `shape` when that differs, then normalised as `input` says (default: z-scored). `outside`:
 * the reference's resize zeroes samples past the last half voxel; spacing resampling clamps.
 */
export function prepareImage(data: Float32Array, from: Shape3, shape: Shape3 | undefined, input: InputSpec = {}, outside: Outside = 'zero'): Float32Array {
  const C = input.channels ?? 1;
  let out = data;
  if (shape && (!sameShape(shape, from) || outside === 'zero')) {
    const vin = from[0] * from[1] * from[2], vout = shape[0] * shape[1] * shape[2];
    // Cubic only where a model asked for it, and only to a target spacing (the reference's resize stays ITK's linear).
    const resample = (x: Float32Array) => (input.interpolation === 'cubic' && outside === 'clamp' ? resampleCubic(x, from, shape) : resampleLinear(x, from, shape, { outside }));
    if (C === 1) out = resample(data);
    else {
      out = new Float32Array(C * vout);
      for (let c = 0; c < C; c++) out.set(resample(data.subarray(c * vin, (c + 1) * vin)), c * vout);
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
  const full = opts.fullResolution ?? false;
  const grid = preparedGrid(img.shape, img.header, full ? undefined : shape, opts.input, ref.image);
  let image = prepareImage(img.data, img.shape, grid, opts.input, full ? 'clamp' : 'zero');
  let label: Int32Array | undefined;
  if (ref.label) {
    const lab = readNiftiLabels(ref.label);
    if (full && lab.shape.some((v, i) => v !== img.shape[i])) throw new DataError('VNET_E_SHAPE_MISMATCH', `the label's shape ${lab.shape.join('x')} is not the image's ${img.shape.join('x')}`, ref.label);
    if (!full) label = preprocessLabel(lab.data, lab.shape, shape);
    else label = sameShape(grid, lab.shape) ? lab.data : resampleNearest(lab.data, lab.shape, grid, { outside: 'clamp' });
    if (opts.shared) label = toShared(label);
  }
  if (opts.shared) image = toShared(image);
  return { id: ref.id, image, channels: C, label, originalShape: img.shape, ...(sameShape(grid, img.shape) ? {} : { shape: grid }) };
}
