// Evaluation metrics on integer label volumes (Dice, HD95, confusion counts) and an
// nnU-Net-shaped summary, so our numbers can be compared line by line with nnU-Net's summary.json.
import type { Shape3 } from '../data/index.js';

// Module-level copies: inside jest's vm context every global lookup (Infinity, Math) in a hot
// loop goes through the sandbox's global object and is ~50x slower.
const INF = Infinity;
const sqrt = Math.sqrt;

/** Voxel counts of one class: `pred == cls` against `ref == cls`. */
export interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  nPred: number;
  nRef: number;
}

/** Confusion counts of class `cls` over all voxels. */
export function confusion(pred: ArrayLike<number>, ref: ArrayLike<number>, cls: number): Confusion {
  if (pred.length !== ref.length) throw new Error(`confusion: pred has ${pred.length} voxels, ref ${ref.length}`);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i] === cls;
    const r = ref[i] === cls;
    if (p && r) tp++;
    else if (p) fp++;
    else if (r) fn++;
  }
  return { tp, fp, fn, tn: pred.length - tp - fp - fn, nPred: tp + fp, nRef: tp + fn };
}

/**
 * Hard Dice 2TP / (2TP + FP + FN). NaN when the class is absent from both volumes: this is the
 * nnU-Net convention (0/0 is neither a hit nor a miss), and means skip NaN.
 */
export function hardDice(pred: ArrayLike<number>, ref: ArrayLike<number>, cls: number): number {
  const c = confusion(pred, ref, cls);
  const den = 2 * c.tp + c.fp + c.fn;
  return den === 0 ? NaN : (2 * c.tp) / den;
}

/**
 * Surface voxels of `data == cls`: foreground with a 6-neighbour that is background or outside the
 * volume (what medpy gets from `mask ^ binary_erosion(mask)`, whose border value is 0).
 */
export function surfaceMask(data: ArrayLike<number>, shape: Shape3, cls: number): Uint8Array {
  const [D, H, W] = shape;
  const out = new Uint8Array(D * H * W);
  const sD = H * W;
  for (let d = 0; d < D; d++) {
    for (let h = 0; h < H; h++) {
      const row = d * sD + h * W;
      for (let w = 0; w < W; w++) {
        const i = row + w;
        if (data[i] !== cls) continue;
        if (d === 0 || d === D - 1 || h === 0 || h === H - 1 || w === 0 || w === W - 1
          || data[i - sD] !== cls || data[i + sD] !== cls || data[i - W] !== cls || data[i + W] !== cls
          || data[i - 1] !== cls || data[i + 1] !== cls) out[i] = 1;
      }
    }
  }
  return out;
}

/**
 * One Felzenszwalb–Huttenlocher pass along a line: out[p] = min_q f[q] + (s·(p−q))². Entries with
 * f = Infinity are skipped (they can never be on the lower envelope), which also keeps Inf−Inf out.
 */
function edt1d(f: Float64Array, n: number, s: number, out: Float64Array, v: Int32Array, z: Float64Array): void {
  const s2 = s * s;
  let k = -1;
  for (let q = 0; q < n; q++) {
    if (f[q] === INF) continue;
    const fq = f[q] + s2 * q * q;
    let x = -INF;
    while (k >= 0) {
      const r = v[k];
      x = (fq - (f[r] + s2 * r * r)) / (2 * s2 * (q - r));
      if (x > z[k]) break;
      k--;
    }
    k++;
    v[k] = q;
    z[k] = k === 0 ? -INF : x;
    z[k + 1] = INF;
  }
  if (k < 0) { out.fill(INF, 0, n); return; }
  let j = 0;
  for (let p = 0; p < n; p++) {
    while (z[j + 1] < p) j++;
    const d = p - v[j];
    out[p] = s2 * d * d + f[v[j]];
  }
}

/** Squared Euclidean distance (in mm²) from every voxel to the nearest `feature` voxel; separable. */
export function squaredEdt(feature: Uint8Array, shape: Shape3, spacing: [number, number, number]): Float64Array {
  const [D, H, W] = shape;
  const g = new Float64Array(D * H * W);
  for (let i = 0; i < g.length; i++) g[i] = feature[i] ? 0 : INF;
  const m = Math.max(D, H, W);
  const f = new Float64Array(m);
  const o = new Float64Array(m);
  const v = new Int32Array(m);
  const z = new Float64Array(m + 1);
  // Pass along one axis: `n` voxels `step` apart, for every line start (a, c) of the other two.
  const pass = (n: number, step: number, s: number, outer: number, outerStep: number, inner: number, innerStep: number) => {
    for (let a = 0; a < outer; a++) {
      for (let c = 0; c < inner; c++) {
        const b = a * outerStep + c * innerStep;
        let any = false;
        for (let i = 0, j = b; i < n; i++, j += step) { f[i] = g[j]; if (f[i] !== INF) any = true; }
        if (!any) continue; // an all-INF line stays so
        edt1d(f, n, s, o, v, z);
        for (let i = 0, j = b; i < n; i++, j += step) g[j] = o[i];
      }
    }
  };
  pass(W, 1, spacing[2], D, H * W, H, W);
  pass(H, W, spacing[1], D, H * W, W, 1);
  pass(D, H * W, spacing[0], H, W, W, 1);
  return g;
}

/** numpy.percentile's default ("linear") on an ascending array. */
export function percentileSorted(a: ArrayLike<number>, p: number): number {
  if (a.length === 0) return NaN;
  const idx = ((a.length - 1) * p) / 100;
  const lo = Math.floor(idx);
  const hi = Math.min(lo + 1, a.length - 1);
  return a[lo] + (a[hi] - a[lo]) * (idx - lo);
}

/**
 * 95th percentile Hausdorff distance in mm, medpy's `hd95` definition (also nnU-Net v1's): the
 * surface distances A→B and B→A are POOLED and numpy's linear percentile taken. (MONAI instead
 * takes the max of the two directed 95th percentiles, never smaller up to interpolation.) NaN if either
 * volume lacks the class, as nnU-Net reports it. `spacing` is (D, H, W) = NIfTI (x, y, z) mm.
 */
export function hd95(pred: ArrayLike<number>, ref: ArrayLike<number>, cls: number, shape: Shape3, spacing: [number, number, number] = [1, 1, 1]): number {
  const n = shape[0] * shape[1] * shape[2];
  if (pred.length !== n || ref.length !== n) throw new Error(`hd95: volumes of ${pred.length} / ${ref.length} voxels, shape ${shape.join('x')}`);
  const sa = surfaceMask(pred, shape, cls);
  const sb = surfaceMask(ref, shape, cls);
  // Crop to the box around both surfaces: distances between points inside it are exact there.
  const [D, H, W] = shape;
  const lo = [D, H, W];
  const hi = [-1, -1, -1];
  let na = 0;
  let nb = 0;
  for (let d = 0, i = 0; d < D; d++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++, i++) {
        if (!(sa[i] | sb[i])) continue;
        na += sa[i];
        nb += sb[i];
        if (d < lo[0]) lo[0] = d; if (d > hi[0]) hi[0] = d;
        if (h < lo[1]) lo[1] = h; if (h > hi[1]) hi[1] = h;
        if (w < lo[2]) lo[2] = w; if (w > hi[2]) hi[2] = w;
      }
    }
  }
  if (na === 0 || nb === 0) return NaN;
  const cs: Shape3 = [hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1];
  const crop = (m: Uint8Array) => {
    const c = new Uint8Array(cs[0] * cs[1] * cs[2]);
    for (let d = 0, j = 0; d < cs[0]; d++) {
      for (let h = 0; h < cs[1]; h++) {
        const row = (d + lo[0]) * H * W + (h + lo[1]) * W + lo[2];
        for (let w = 0; w < cs[2]; w++, j++) c[j] = m[row + w];
      }
    }
    return c;
  };
  const ca = crop(sa);
  const cb = crop(sb);
  const toB = squaredEdt(cb, cs, spacing);
  const toA = squaredEdt(ca, cs, spacing);
  const dists = new Float64Array(na + nb);
  let k = 0;
  for (let i = 0; i < ca.length; i++) {
    if (ca[i]) dists[k++] = sqrt(toB[i]);
    if (cb[i]) dists[k++] = sqrt(toA[i]);
  }
  dists.sort();
  return percentileSorted(dists, 95);
}

/** Per-class metrics, named as in nnU-Net's summary.json (plus HD95). */
export interface ClassMetrics {
  Dice: number;
  HD95: number;
  TP: number;
  FP: number;
  FN: number;
  TN: number;
  n_pred: number;
  n_ref: number;
}

export interface CaseInput {
  id: string;
  pred: ArrayLike<number>;
  ref: ArrayLike<number>;
  shape: Shape3;
  spacing: [number, number, number];
  referenceFile?: string;
  predictionFile?: string;
}

export interface CaseMetrics {
  case: string;
  reference_file?: string;
  prediction_file?: string;
  /** Keyed by the class value as a string ("1", "2"). */
  metrics: Record<string, ClassMetrics>;
}

/**
 * nnU-Net-shaped summary. NaN entries (empty classes) stay NaN here; JSON.stringify writes them as
 * null, where nnU-Net's Python json would write NaN.
 */
export interface Summary {
  metric_per_case: CaseMetrics[];
  /** Per class: the mean of each metric over cases, NaN skipped. */
  mean: Record<string, ClassMetrics>;
  /** Mean over foreground classes of the class means (NaN skipped, like the per-class means). */
  foreground_mean: { Dice: number; HD95: number };
}

/** Mean of the finite values; NaN when there are none. */
export function nanMean(xs: readonly number[]): number {
  let s = 0;
  let n = 0;
  for (const x of xs) if (!Number.isNaN(x)) { s += x; n++; }
  return n === 0 ? NaN : s / n;
}

/** Metrics of every foreground class (value 0 is skipped) for every case, plus the means. */
export function summarize(perCase: readonly CaseInput[], labels: readonly { value: number; name: string }[]): Summary {
  const fg = labels.filter((l) => l.value !== 0).map((l) => l.value);
  const metric_per_case: CaseMetrics[] = perCase.map((c) => {
    const metrics: Record<string, ClassMetrics> = {};
    for (const v of fg) {
      const m = confusion(c.pred, c.ref, v);
      const den = 2 * m.tp + m.fp + m.fn;
      metrics[String(v)] = {
        Dice: den === 0 ? NaN : (2 * m.tp) / den,
        HD95: hd95(c.pred, c.ref, v, c.shape, c.spacing),
        TP: m.tp, FP: m.fp, FN: m.fn, TN: m.tn, n_pred: m.nPred, n_ref: m.nRef,
      };
    }
    const out: CaseMetrics = { case: c.id, metrics };
    if (c.referenceFile !== undefined) out.reference_file = c.referenceFile;
    if (c.predictionFile !== undefined) out.prediction_file = c.predictionFile;
    return out;
  });
  const mean: Record<string, ClassMetrics> = {};
  for (const v of fg) {
    const k = String(v);
    const col = (key: keyof ClassMetrics) => nanMean(metric_per_case.map((c) => c.metrics[k][key]));
    mean[k] = { Dice: col('Dice'), HD95: col('HD95'), TP: col('TP'), FP: col('FP'), FN: col('FN'), TN: col('TN'), n_pred: col('n_pred'), n_ref: col('n_ref') };
  }
  const keys = Object.keys(mean);
  return {
    metric_per_case, mean,
    foreground_mean: { Dice: nanMean(keys.map((k) => mean[k].Dice)), HD95: nanMean(keys.map((k) => mean[k].HD95)) },
  };
}

const fmt = (x: number | undefined, digits: number) => (x === undefined ? '-' : Number.isNaN(x) ? 'NaN' : x.toFixed(digits));

/**
 * A fixed-width text table: one row per foreground class and a foreground-mean row, with hard Dice,
 * HD95 (mm) and, when given, the soft Dice at the network's input shape (keyed by class value
 * or by class name; `inputShape` names the column, 32³ by default).
 */
export function formatSummaryTable(summary: Summary, labels: readonly { value: number; name: string }[], softDice?: Record<string, number>, inputShape: readonly number[] = [32, 32, 32]): string {
  const fg = labels.filter((l) => l.value !== 0);
  const at = inputShape.every((v) => v === inputShape[0]) ? `${inputShape[0]}³` : inputShape.join('x');
  const head = ['class', 'Dice', 'HD95 (mm)', ...(softDice ? [`soft Dice @${at}`] : [])];
  const rows: string[][] = fg.map((l) => {
    const m = summary.mean[String(l.value)];
    const soft = softDice ? [fmt(softDice[String(l.value)] ?? softDice[l.name], 4)] : [];
    return [`${l.value} ${l.name}`, fmt(m?.Dice, 4), fmt(m?.HD95, 2), ...soft];
  });
  const softVals = softDice ? fg.map((l) => softDice[String(l.value)] ?? softDice[l.name]).filter((x): x is number => x !== undefined) : [];
  rows.push(['foreground mean', fmt(summary.foreground_mean.Dice, 4), fmt(summary.foreground_mean.HD95, 2),
    ...(softDice ? [fmt(softVals.length ? nanMean(softVals) : undefined, 4)] : [])]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
