// Evaluation and prediction: forward passes with batch norm in inference mode, the reference's
// soft Dice at the network's input shape, hard Dice and HD95 at native resolution, and masks
// written back at each case's original shape and geometry (predictCases, in predict.ts).
import fs from 'node:fs';
import path from 'node:path';
import * as E from '../engine/index.js';
import { Loader, argmaxChannels, copyFlipped, prepareCase, readNifti, readNiftiLabels, restoreLabels, writeFileAtomicSync, type Batch, type CaseRef, type Shape3 } from '../data/index.js';
import type { VNet } from '../nn/index.js';
import { formatSummaryTable, summarize, type CaseInput } from './metrics.js';
import { slidingWindow } from './sliding.js';

/** What inference at native resolution takes: mirroring TTA, the window overlap, windows per pass. */
export interface NativeOptions { tta?: boolean; overlap?: number; batchSize?: number }

/**
 * A model trained with --resize none: class probabilities (D, H, W, C) of a whole z-scored
 * volume at its own shape, by Gaussian-weighted sliding windows of the input shape (sliding.ts);
 * `tta` averages all 8 mirrorings of the three axes. The one native inference, for evaluate,
 * predict and serve.
 */
export function nativeProbs(net: VNet, image: Float32Array, shape: Shape3, o: NativeOptions = {}): Float32Array {
  const run = (images: Float32Array, n: number) => predictProbs(net, { images, size: n });
  return slidingWindow(image, shape, net.config.inputShape, net.config.nClasses, run, { overlap: o.overlap, batchSize: o.batchSize, mirror: o.tta });
}

/**
 * Softmax probabilities (n, D, H, W, C) for a batch, with the tape off. With `tta` the batch also
 * runs flipped along x, y and both (the flips training augments with), and the four results,
 * flipped back, are averaged (test-time augmentation; 4x the forward passes).
 */
export function predictProbs(net: VNet, batch: Pick<Batch, 'images' | 'size'>, opts: { tta?: boolean } = {}): Float32Array {
  const [D, H, W] = net.config.inputShape;
  const training = net.training;
  net.training = false;
  const once = (images: Float32Array) => E.noGrad(() => E.tidy(() => {
    const x = E.tensor(images, [batch.size, D, H, W, 1], { device: net.store.device });
    return E.softmax(net.forward(x)).toArray() as Float32Array;
  }));
  try {
    const plain = once(batch.images);
    if (!opts.tta) return plain;
    const vox = D * H * W, C = plain.length / (batch.size * vox);
    const sum = Float64Array.from(plain);
    const flipped = new Float32Array(batch.images.length);
    const back = new Float32Array(plain.length);
    for (const flips of [{ flipX: true, flipY: false }, { flipX: false, flipY: true }, { flipX: true, flipY: true }]) {
      for (let s = 0; s < batch.size; s++) copyFlipped(batch.images.subarray(s * vox, (s + 1) * vox), [D, H, W], flips, flipped, s * vox);
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

/** The reference's metric: per-sample soft Dice (ε = 1e-6) per class, averaged over samples. */
export function softDice(probs: Float32Array, labels: Int32Array, n: number, C: number, eps = 1e-6): number[][] {
  const V = labels.length / n;
  const out: number[][] = [];
  for (let s = 0; s < n; s++) {
    const I = new Float64Array(C), U = new Float64Array(C);
    for (let v = 0; v < V; v++) {
      const lab = labels[s * V + v], base = (s * V + v) * C;
      for (let c = 0; c < C; c++) U[c] += probs[base + c];
      I[lab] += probs[base + lab];
      U[lab] += 1;
    }
    out.push(Array.from(I, (i, c) => (2 * i + eps) / (U[c] + eps)));
  }
  return out;
}

type Labels = { value: number; name: string }[];

/** Mean soft Dice per class name over `cases` (used after each epoch in training). */
export async function softDiceOnCases(net: VNet, cases: CaseRef[], labels: Labels, batchSize: number): Promise<Record<string, number>> {
  if (net.config.resize === 'none') return nativeSoftDice(net, cases, labels, batchSize);
  const loader = new Loader({ cases, batchSize, mode: 'eval', inputShape: net.config.inputShape, workers: 0 });
  const C = labels.length, sums = new Float64Array(C);
  let n = 0;
  try {
    for await (const b of loader.epoch(0)) {
      for (const d of softDice(predictProbs(net, b), b.labels!, b.size, C)) d.forEach((v, c) => (sums[c] += v));
      n += b.size;
    }
  } finally {
    await loader.close();
  }
  return Object.fromEntries(labels.map((l) => [l.name, sums[l.value] / n]));
}

/** Native models: mean soft Dice per class over whole volumes at their own shape. */
function nativeSoftDice(net: VNet, cases: CaseRef[], labels: Labels, batchSize: number): Record<string, number> {
  const C = labels.length, sums = new Float64Array(C);
  for (const c of cases) {
    const p = prepareCase(c, net.config.inputShape, { native: true });
    softDice(nativeProbs(net, p.image, p.originalShape, { batchSize }), p.label!, 1, C)[0].forEach((v, k) => (sums[k] += v));
  }
  return Object.fromEntries(labels.map((l) => [l.name, sums[l.value] / cases.length]));
}

export interface EvalResult {
  summary: ReturnType<typeof summarize> & { soft_dice_at_input_shape: Record<string, number> };
  table: string;
  file: string;
  overlays: { id: string; shape: [number, number, number]; image: Float32Array; label: Int32Array; pred: Int32Array }[];
}

/**
 * Full evaluation: soft Dice at the input shape and hard Dice / HD95 at native resolution.
 * `tta`: average over x/y flips (predictProbs).
 */
export async function evaluateCases(net: VNet, cases: CaseRef[], labels: Labels, batchSize: number, outDir: string, opts: { tta?: boolean; overlap?: number } = {}): Promise<EvalResult> {
  if (net.config.resize === 'none') return evaluateNative(net, cases, labels, batchSize, outDir, opts);
  const loader = new Loader({ cases, batchSize, mode: 'eval', inputShape: net.config.inputShape, workers: 0 });
  const C = labels.length, sums = new Float64Array(C);
  const perCase: CaseInput[] = [];
  const overlays: EvalResult['overlays'] = [];
  const byId = new Map(cases.map((c) => [c.id, c]));
  try {
    for await (const b of loader.epoch(0)) {
      const probs = predictProbs(net, b, opts);
      softDice(probs, b.labels!, b.size, C).forEach((d) => d.forEach((v, c) => (sums[c] += v)));
      const vox = b.images.length / b.size;
      for (let s = 0; s < b.size; s++) {
        const ref = readNiftiLabels(byId.get(b.ids[s])!.label!);
        const pred = restoreLabels(probs.subarray(s * vox * C, (s + 1) * vox * C), b.shape, C, ref.shape);
        perCase.push({ id: b.ids[s], pred, ref: ref.data, shape: ref.shape, spacing: ref.header.pixdim.slice(1, 4) as [number, number, number] });
        if (overlays.length < 4) {
          const img = (await import('../data/index.js')).readNifti(byId.get(b.ids[s])!.image);
          overlays.push({ id: b.ids[s], shape: ref.shape, image: img.data, label: ref.data, pred });
        }
      }
    }
  } finally {
    await loader.close();
  }
  const soft = Object.fromEntries(labels.map((l) => [l.name, sums[l.value] / cases.length]));
  const summary = { ...summarize(perCase, labels), soft_dice_at_input_shape: soft };
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'summary.json');
  writeFileAtomicSync(file, JSON.stringify(summary, null, 2) + '\n');
  return { summary, table: formatSummaryTable(summary, labels, soft, net.config.inputShape), file, overlays };
}

/**
 * Native models: every case by sliding window at its own shape; the mask is the argmax of those
 * probabilities, in the label's exact grid (nothing resampled). The soft Dice is over the whole
 * volume (summary.soft_dice_at_input_shape: the input is the volume itself).
 */
async function evaluateNative(net: VNet, cases: CaseRef[], labels: Labels, batchSize: number, outDir: string, opts: { tta?: boolean; overlap?: number }): Promise<EvalResult> {
  const C = labels.length, sums = new Float64Array(C);
  const perCase: CaseInput[] = [];
  const overlays: EvalResult['overlays'] = [];
  for (const c of cases) {
    const p = prepareCase(c, net.config.inputShape, { native: true });
    const probs = nativeProbs(net, p.image, p.originalShape, { ...opts, batchSize });
    softDice(probs, p.label!, 1, C)[0].forEach((v, k) => (sums[k] += v));
    const pred = argmaxChannels(probs, C);
    const ref = readNiftiLabels(c.label!);
    perCase.push({ id: c.id, pred, ref: ref.data, shape: ref.shape, spacing: ref.header.pixdim.slice(1, 4) as [number, number, number] });
    if (overlays.length < 4) overlays.push({ id: c.id, shape: ref.shape, image: readNifti(c.image).data, label: ref.data, pred });
  }
  const soft = Object.fromEntries(labels.map((l) => [l.name, sums[l.value] / cases.length]));
  const summary = { ...summarize(perCase, labels), soft_dice_at_input_shape: soft };
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'summary.json');
  writeFileAtomicSync(file, JSON.stringify(summary, null, 2) + '\n');
  // The soft Dice column names a shape; here it is each volume's own, so the table leaves it out.
  return { summary, table: formatSummaryTable(summary, labels), file, overlays };
}
