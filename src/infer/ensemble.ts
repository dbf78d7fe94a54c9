// Ensembles (--models M1,M2,...): every member's class probabilities on the case's own grid,
// averaged, then one argmax. Members must read the input the same way (all --resize none, or
// all resized to one input shape) and share the classes, so one preprocessing serves them all.
import fs from 'node:fs';
import path from 'node:path';
import { SPLIT_FILE, argmaxChannels, prepareCase, readNifti, readNiftiLabels, readSplit, resampleLinear, writeFileAtomicSync, type CaseRef, type DatasetSpec, type Shape3 } from '../data/index.js';
import { checkModelLabels } from './common.js';
import { loadModel, type LoadModelOptions } from './model.js';
import type { VNet } from '../nn/index.js';
import { nativeProbs, predictProbs, softDice, type EvalResult } from './evaluate.js';
import { formatSummaryTable, summarize, type CaseInput } from './metrics.js';
import { RunError } from './options.js';

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

/** Refuses members that would need different preprocessing or answer other classes. */
export function checkMembers(nets: readonly VNet[], names: readonly string[]): void {
  const key = (n: VNet) => (n.config.resize === 'none' ? 'native resolution' : `resized to ${n.config.inputShape.join('x')}`);
  nets.forEach((n, i) => {
    if (key(n) !== key(nets[0])) throw new RunError(`--models: ${names[i]} reads its input ${key(n)} but ${names[0]} ${key(nets[0])}; an ensemble needs one preprocessing`, 'VNET_E_CONFIG_MISMATCH');
    if (n.config.nClasses !== nets[0].config.nClasses) throw new RunError(`--models: ${names[i]} has ${n.config.nClasses} classes, ${names[0]} ${nets[0].config.nClasses}`, 'VNET_E_CONFIG_MISMATCH');
  });
}

/**
 * One member's probabilities (D, H, W, C) on the case's own grid `shape`, from the image as
 * prepared for it: by sliding window for native models, else one pass at the input shape
 * resampled back (linear, clamped: restoreLabels before its argmax).
 */
export function caseProbs(net: VNet, image: Float32Array, shape: Shape3, o: { tta?: boolean; overlap?: number; batchSize?: number } = {}): Float32Array {
  if (net.config.resize === 'none') return nativeProbs(net, image, shape, o);
  const C = net.config.nClasses;
  return resampleLinear(predictProbs(net, { images: image, size: 1 }, { tta: o.tta }), net.config.inputShape, shape, { channels: C, outside: 'clamp' });
}

/** Hard Dice / HD95 of the ensemble on `cases` (and the soft Dice of the averaged probabilities), written to `<outDir>/summary.json`. */
export function evaluateEnsemble(nets: VNet[], cases: CaseRef[], labels: { value: number; name: string }[], outDir: string, o: { tta?: boolean; overlap?: number; batchSize?: number } = {}): EvalResult {
  const C = labels.length, sums = new Float64Array(C);
  const perCase: CaseInput[] = [];
  const overlays: EvalResult['overlays'] = [];
  const native = nets[0].config.resize === 'none';
  for (const c of cases) {
    const p = prepareCase({ id: c.id, image: c.image }, nets[0].config.inputShape, { native });
    const ref = readNiftiLabels(c.label!);
    const probs = averageProbs(nets.map((n) => caseProbs(n, p.image, p.originalShape, o)));
    softDice(probs, ref.data, 1, C)[0].forEach((v, k) => (sums[k] += v));
    const pred = argmaxChannels(probs, C);
    perCase.push({ id: c.id, pred, ref: ref.data, shape: ref.shape, spacing: ref.header.pixdim.slice(1, 4) as [number, number, number] });
    if (overlays.length < 4) overlays.push({ id: c.id, shape: ref.shape, image: readNifti(c.image).data, label: ref.data, pred });
  }
  const soft = Object.fromEntries(labels.map((l) => [l.name, sums[l.value] / cases.length]));
  // The averaged probabilities live on each case's own grid, so the soft Dice is taken there.
  const summary = { ...summarize(perCase, labels), soft_dice_at_input_shape: soft, models: nets.length };
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'summary.json');
  writeFileAtomicSync(file, JSON.stringify(summary, null, 2) + '\n');
  return { summary, table: formatSummaryTable(summary, labels), file, overlays };
}

/** Load every member of `--models` for inference, after checking its classes are the dataset's. */
export async function loadMembers(dirs: string[], spec: DatasetSpec, o: LoadModelOptions): Promise<VNet[]> {
  const nets: VNet[] = [];
  try {
    for (const d of dirs) {
      if (!fs.existsSync(d)) throw new RunError(`--models: ${d} does not exist`, 'VNET_E_NO_CHECKPOINT');
      checkModelLabels(d, spec);
      nets.push((await loadModel(d, o)).net);
    }
    checkMembers(nets, dirs);
    return nets;
  } catch (e) {
    for (const n of nets) n.dispose();
    throw e;
  }
}

/** The cases every member held out (their split.json eval lists intersected), in the dataset's order. */
export function heldOutByAll(dirs: string[], spec: DatasetSpec): CaseRef[] {
  const sets = dirs.map((d) => {
    const s = readSplit(d);
    if (!s) throw new RunError(`--models: ${d} has no ${SPLIT_FILE}, so its held-out cases are unknown`, 'VNET_E_NO_CHECKPOINT');
    return new Set(s.eval);
  });
  const cases = spec.training.filter((c) => sets.every((s) => s.has(c.id)));
  if (!cases.length) throw new RunError(`--models: no training case was held out by every model (cross-validation folds hold out disjoint cases; evaluate each fold alone, or predict with the ensemble)`, 'VNET_E_BAD_FLAG');
  return cases;
}
