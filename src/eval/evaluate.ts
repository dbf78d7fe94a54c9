// Evaluation: every case through the segmenter (the one inference path), scored against its
// label: the reference's soft Dice where the probabilities are (the input shape for one resized
// model, else each case's own grid), hard Dice and HD95 at full resolution, written once to
// summary.json (writeSummary).
import fs from 'node:fs';
import path from 'node:path';
import { argmaxChannels, imageSource, preprocessLabel, readNifti, readNiftiLabels, restoreLabels, writeFileAtomicSync, type CaseRef } from '../data/index.js';
import type { VNet } from '../nn/index.js';
import { Segmenter } from '../infer/segmenter.js';
import { formatSummaryTable, summarize, type CaseInput } from './metrics.js';

type Labels = { value: number; name: string }[];

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

export interface EvalResult {
  summary: ReturnType<typeof summarize> & { soft_dice_at_input_shape: Record<string, number>; models?: number };
  table: string;
  file: string;
  overlays: { id: string; shape: [number, number, number]; image: Float32Array; label: Int32Array; pred: Int32Array }[];
}

interface Scored { perCase: CaseInput[]; soft: Record<string, number>; onInputGrid: boolean; overlays: EvalResult['overlays'] }

/** Every case through `seg`, scored against its label; `overlays` cases keep their volumes for the report. */
async function score(seg: Segmenter, cases: CaseRef[], labels: Labels, overlays: number): Promise<Scored> {
  const C = labels.length, inputShape = seg.net.config.inputShape, sums = new Float64Array(C);
  const perCase: CaseInput[] = [];
  const shown: EvalResult['overlays'] = [];
  let onInputGrid = false;
  // A few batches per call, so reading overlaps the forward passes without holding every volume.
  const chunk = 4 * seg.info.maxBatch;
  for (let i = 0; i < cases.length; i += chunk) {
    const part = cases.slice(i, i + chunk);
    const res = await seg.probabilities(part.map(imageSource));
    res.forEach((r, j) => {
      const c = part[j], ref = readNiftiLabels(c.label!);
      onInputGrid = r.onInputGrid;
      const target = r.onInputGrid ? preprocessLabel(ref.data, ref.shape, inputShape) : ref.data;
      softDice(r.probs, target, 1, C)[0].forEach((v, k) => (sums[k] += v));
      const pred = r.onInputGrid ? restoreLabels(r.probs, inputShape, C, ref.shape) : argmaxChannels(r.probs, C);
      perCase.push({ id: c.id, pred, ref: ref.data, shape: ref.shape, spacing: ref.header.pixdim.slice(1, 4) as [number, number, number] });
      if (shown.length < overlays) shown.push({ id: c.id, shape: ref.shape, image: readNifti(c.image).data, label: ref.data, pred });
    });
  }
  const soft = Object.fromEntries(labels.map((l) => [l.name, sums[l.value] / cases.length]));
  return { perCase, soft, onInputGrid, overlays: shown };
}

/**
 * Full evaluation of `cases` through `seg`, written to `<outDir>/summary.json`: hard Dice / HD95
 * per case and class, and the soft Dice (`models`: the ensemble's size, recorded when given).
 */
export async function evaluateCases(seg: Segmenter, cases: CaseRef[], labels: Labels, outDir: string, o: { models?: number } = {}): Promise<EvalResult> {
  const s = await score(seg, cases, labels, 4);
  const summary = { ...summarize(s.perCase, labels), soft_dice_at_input_shape: s.soft, ...(o.models !== undefined ? { models: o.models } : {}) };
  const file = writeSummary(outDir, summary);
  // The soft Dice column names a shape; on each case's own grid there is none, so it is left out.
  const table = s.onInputGrid ? formatSummaryTable(summary, labels, s.soft, seg.net.config.inputShape) : formatSummaryTable(summary, labels);
  return { summary, table, file, overlays: s.overlays };
}

/** Writes `<outDir>/summary.json` (atomically); the one writer of evaluation summaries. */
export function writeSummary(outDir: string, summary: object): string {
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'summary.json');
  writeFileAtomicSync(file, JSON.stringify(summary, null, 2) + '\n');
  return file;
}

/** Mean soft Dice per class name over `cases` (after each epoch in training), `batchSize` cases or windows per pass. */
export async function softDiceOnCases(net: VNet, cases: CaseRef[], labels: Labels, batchSize: number): Promise<Record<string, number>> {
  // In this thread: training's engine threads already keep the cores busy.
  const seg = new Segmenter(net, labels, { batchSize, workers: 0 });
  try {
    return (await score(seg, cases, labels, 0)).soft;
  } finally {
    await seg.dispose();
  }
}
