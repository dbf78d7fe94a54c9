// Class probabilities from a model, the core every inference goes through: a forward pass with
// the tape off (x/y flip TTA for resized models), sliding windows over a whole volume for models
// that read it at full resolution, and the mean over an ensemble's members. Which of these a
// model takes is its feed, fixed by its config when it is loaded. A case's probabilities are
// streamed row by row along D (Row), so only the rows still open are held.
import * as E from '../engine/index.js';
import { copyFlipped, resampleLinear, type Batch, type InputSpec, type Shape3 } from '../data/index.js';
import { channelsLast } from '../data/jobs.js';
import type { VNet, VNetConfig } from '../nn/index.js';
import { collectRows, slidingRows, wholeRows, type Row } from './sliding.js';

/**
 * How a model reads a volume: `resized` to its input shape (the reference), or `windowed`: at
 * the volume's full resolution, by sliding windows of the input shape (--resize none).
 */
export type Feed = 'resized' | 'windowed';
export const feedOf = (config: Pick<VNetConfig, 'resize'>): Feed => (config.resize === 'none' ? 'windowed' : 'resized');

/** What the model reads: its input channels and their normalisation, as preprocessing takes them. */
export const inputSpec = (config: Pick<VNetConfig, 'inChannels' | 'intensity' | 'targetSpacing' | 'imageInterpolation'>): InputSpec => ({
  channels: config.inChannels ?? 1, ...(config.intensity ? { intensity: config.intensity } : {}), ...(config.targetSpacing ? { targetSpacing: config.targetSpacing } : {}),
  ...(config.imageInterpolation ? { interpolation: config.imageInterpolation } : {}),
});

/** What inference takes beyond the model: TTA, the windows' overlap, windows (or cases) per pass. */
export interface InferOptions { tta?: boolean; overlap?: number; batchSize?: number }

/**
 * Softmax probabilities (n, D, H, W, C) for a batch of images (n, D, H, W, Cin), with the tape off. With `tta` the batch also
 * runs flipped along x, y and both (the flips training augments with), and the four results,
 * flipped back, are averaged (test-time augmentation; 4x the forward passes).
 */
export function predictProbs(net: VNet, batch: Pick<Batch, 'images' | 'size'>, opts: { tta?: boolean } = {}): Float32Array {
  const [D, H, W] = net.config.inputShape;
  const Cin = net.inChannels;
  const training = net.training;
  net.training = false;
  const once = (images: Float32Array) => E.noGrad(() => E.tidy(() => {
    const x = E.tensor(images, [batch.size, D, H, W, Cin], { device: net.store.device });
    return E.softmax(net.forward(x)).toArray() as Float32Array;
  }));
  try {
    const plain = once(batch.images);
    if (!opts.tta) return plain;
    const vox = D * H * W, C = plain.length / (batch.size * vox), vin = vox * Cin;
    const sum = Float64Array.from(plain);
    const flipped = new Float32Array(batch.images.length);
    const back = new Float32Array(plain.length);
    for (const flips of [{ flipX: true, flipY: false }, { flipX: false, flipY: true }, { flipX: true, flipY: true }]) {
      // Flips of D or H move whole (W, Cin) rows of the channel-last images.
      for (let s = 0; s < batch.size; s++) copyFlipped(batch.images.subarray(s * vin, (s + 1) * vin), [D, H, W * Cin], flips, flipped, s * vin);
      const p = once(flipped);
      // A flip of D or H moves whole (W, C) rows, so the probabilities flip back as (D, H, W*C).
      for (let s = 0; s < batch.size; s++) copyFlipped(p.subarray(s * vox * C, (s + 1) * vox * C), [D, H, W * C], flips, back, s * vox * C);
      for (let i = 0; i < sum.length; i++) sum[i] += back[i];
    }
    return Float32Array.from(sum, (v) => v / 4);
  } finally {
    net.training = training;
  }
}

/**
 * A windowed model: class probabilities of a whole normalised (Cin, D, H, W) image at its own
 * shape, streamed row by row along D, by Gaussian-weighted sliding windows of the input shape
 * (sliding.ts); `tta` averages all 8 mirrorings of the three axes; `batchSize` windows per pass.
 */
export function windowedRows(net: VNet, image: Float32Array, shape: Shape3, o: InferOptions = {}): Generator<Row, void, undefined> {
  const run = (images: Float32Array, n: number) => predictProbs(net, { images, size: n });
  return slidingRows(image, shape, net.config.inputShape, net.config.nClasses, run, { overlap: o.overlap, batchSize: o.batchSize, mirror: o.tta, channels: net.inChannels });
}

/** windowedRows held whole: (D, H, W, C). */
export const windowedProbs = (net: VNet, image: Float32Array, shape: Shape3, o: InferOptions = {}): Float32Array => collectRows(windowedRows(net, image, shape, o), shape, net.config.nClasses);

/**
 * One model's probabilities on the case's own grid `shape`, row by row along D, from the
 * (Cin, D, H, W) image as its feed prepared it: by sliding window, or one pass at the input shape
 * resampled back (linear, clamped: restoreLabels before its argmax; small, so held whole).
 */
export function caseRows(net: VNet, image: Float32Array, shape: Shape3, o: InferOptions = {}): IterableIterator<Row> {
  if (feedOf(net.config) === 'windowed') return windowedRows(net, image, shape, o);
  const C = net.config.nClasses;
  return wholeRows(resampleLinear(predictProbs(net, { images: channelsLast(image, net.inChannels), size: 1 }, { tta: o.tta }), net.config.inputShape, shape, { channels: C, outside: 'clamp' }), shape, C);
}

/** caseRows held whole: (D, H, W, C). */
export const caseProbs = (net: VNet, image: Float32Array, shape: Shape3, o: InferOptions = {}): Float32Array => collectRows(caseRows(net, image, shape, o), shape, net.config.nClasses);

/** The element-wise mean of equally long probability arrays. */
export function averageProbs(list: readonly Float32Array[]): Float32Array {
  if (!list.length) throw new RangeError('averageProbs: no members');
  const n = list[0].length;
  if (list.some((p) => p.length !== n)) throw new RangeError('averageProbs: members gave different sizes');
  if (list.length === 1) return list[0];
  const sum = new Float64Array(n);
  for (const p of list) for (let i = 0; i < n; i++) sum[i] += p[i];
  return Float32Array.from(sum, (v) => v / list.length);
}

/**
 * An ensemble's mean probabilities, row by row: each member is pulled in lockstep for the next
 * row, so every member holds only its own open rows (the same mean as averageProbs, per voxel).
 */
export function* averageRows(members: readonly IterableIterator<Row>[]): Generator<Row, void, undefined> {
  if (members.length === 1) return yield* members[0];
  for (let x = 0; ; x++) {
    const got = members.map((m) => m.next());
    if (got.every((r) => r.done)) return;
    const rows = got.map((r) => (r.done ? undefined : r.value));
    if (rows.some((r) => !r || r[0] !== x)) throw new RangeError(`averageRows: the members gave different rows at row ${x}`);
    yield [x, averageProbs(rows.map((r) => r![1]))];
  }
}
