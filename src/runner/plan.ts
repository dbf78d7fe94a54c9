// The plan mode: from a dataset's fingerprint (spacings, shapes, foreground intensities, class
// fractions; data/fingerprint.ts) to a training plan for a memory budget, as nnU-Net plans: the
// target spacing, a patch of about the median case at that spacing, the number of levels, and
// the largest batch that fits. `train --plan auto|FILE` fills the flags the command line lacks.
import * as E from '../engine/index.js';
import { autoTargetSpacing, channelSchemes, checkOutputFile, fingerprintCases, gridAt, loadDataset, readJsonFile, writeFileAtomicSync, DataError, type Fingerprint, type Shape3, type Spacing } from '../data/index.js';
import { VNet } from '../nn/index.js';
import { RunError } from '../config/options.js';

export const PLAN_VERSION = 1;
/** The memory budget when none is given: what nnU-Net's default plans fit in (a GPU of 8-11 GB). */
export const DEFAULT_MEMORY_GB = 8;

/** The memory model, measured with `train --benchmark` (32³, batches 2 and 8, CPU, 2 cores at load 5): peak RSS 272 / 519 MB. */
export const MEMORY_MODEL = {
  /** Runtime, addon and allocator slack, without the model: 190 MB peak at batch 0 less the 58 MB of parameters and optimizer. */
  baseBytes: 132 * 2 ** 20,
  /** Bytes per parameter: weights, gradients and two optimizer slots in fp32. */
  bytesPerParam: 16,
  /** Resident bytes per activation element of one sample (the layer outputs' sum): 41 MB per 32³ sample / 2.98M elements. */
  bytesPerActivation: 14.4,
};

/** nnU-Net's cap: one batch covers at most this share of the dataset's voxels (at the target spacing). */
export const MAX_BATCH_SHARE = 0.05;
/** The smallest side (voxels) of the coarsest feature map, and the most levels. */
export const MIN_BOTTOM = 4;
export const MAX_LEVELS = 5;

export interface Plan {
  version: number;
  dataset: { dir: string; name?: string; cases: number; channels: number; modality: string[]; normalization: string[] };
  fingerprint: {
    spacing: { median: Spacing; min: Spacing; max: Spacing };
    shape: { median: Shape3; min: Shape3; max: Shape3 };
    foreground: Fingerprint['foreground'];
    classFractions: Record<string, number>;
  };
  plan: {
    targetSpacing: Spacing;
    /** The median case's shape at the target spacing. */
    medianShape: Shape3;
    patch: Shape3;
    batchSize: number;
    levels: number;
    downscaleBlocks: number[];
    upscaleBlocks: number[];
    memoryGb: number;
    estimatedGb: number;
  };
}

const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const perAxis = <T extends number[]>(rows: T[], f: (v: number[]) => number) => [0, 1, 2].map((a) => f(rows.map((r) => r[a]))) as T;

/** The V-Net's activation elements per sample and its parameters, at a patch and depth. */
function netSize(patch: Shape3, levels: number, channels: number, classes: number): { activations: number; params: number } {
  const net = new VNet({ inputShape: patch, downscaleBlocks: Array(levels).fill(3), upscaleBlocks: Array(levels - 1).fill(3), inChannels: channels, nClasses: classes });
  try {
    const rows = net.summary();
    return { activations: rows.reduce((a, r) => a + r.out.split('×').map(Number).reduce((x, y) => x * y, 1), 0), params: rows.reduce((a, r) => a + r.params, 0) };
  } finally {
    net.dispose();
  }
}

/** Estimated peak training memory (bytes) of a batch of `batch` patches. */
export function trainingBytes(patch: Shape3, levels: number, batch: number, channels = 1, classes = 3): number {
  const s = E.noGrad(() => netSize(patch, levels, channels, classes));
  const m = MEMORY_MODEL;
  return m.baseBytes + s.params * m.bytesPerParam + batch * s.activations * m.bytesPerActivation;
}

/** Levels for a patch: pool while every axis keeps at least MIN_BOTTOM voxels at the bottom. */
const levelsFor = (patch: Shape3) => Math.max(1, Math.min(MAX_LEVELS, Math.floor(Math.log2(Math.min(...patch) / MIN_BOTTOM))));
const roundUp = (n: number, m: number) => Math.max(m, Math.ceil(n / m) * m);

/**
 * The plan for a fingerprint and a memory budget: the median case at the target spacing as the
 * patch (its levels fixed by it, each side a multiple of 2^levels), shrunk on its relatively
 * largest axis until batch 2 fits; then the largest batch that fits, at most MAX_BATCH_SHARE of
 * the dataset's voxels. A budget too small for batch 2 at the smallest patch is an error.
 */
export function planFrom(fp: Fingerprint, memoryGb: number, classes: number): Plan['plan'] {
  const grids = fp.cases.map((c) => ({ shape: c.shape, spacing: c.spacing }));
  const targetSpacing = autoTargetSpacing(grids);
  const at = grids.map((g) => gridAt(g.shape, g.spacing, targetSpacing));
  const medianShape = perAxis(at, median).map(Math.round) as Shape3;
  const budget = memoryGb * 2 ** 30;
  const levels = levelsFor(medianShape), k = 2 ** levels, smallest = k * MIN_BOTTOM;
  const patch = medianShape.map((n) => roundUp(n, k)) as Shape3;
  while (trainingBytes(patch, levels, 2, fp.channels, classes) > budget) {
    // The axis largest relative to the median case gives way first (nnU-Net's rule).
    const axes = [0, 1, 2].filter((a) => patch[a] > smallest).sort((a, b) => patch[b] / medianShape[b] - patch[a] / medianShape[a]);
    if (!axes.length) {
      throw new RunError(`--memory_gb ${memoryGb}: even a batch of 2 patches of ${patch.join('x')} (the smallest for ${levels} levels) needs about ${(trainingBytes(patch, levels, 2, fp.channels, classes) / 2 ** 30).toFixed(2)} GB; give more memory`, 'VNET_E_BAD_FLAG');
    }
    patch[axes[0]] -= k;
  }
  const voxels = at.reduce((a, s) => a + s[0] * s[1] * s[2], 0);
  const cap = Math.max(2, Math.floor((MAX_BATCH_SHARE * voxels) / (patch[0] * patch[1] * patch[2])));
  let batchSize = 2;
  while (batchSize < cap && trainingBytes(patch, levels, batchSize + 1, fp.channels, classes) <= budget) batchSize++;
  return {
    targetSpacing, medianShape, patch, batchSize, levels, downscaleBlocks: Array(levels).fill(3), upscaleBlocks: Array(levels - 1).fill(3),
    memoryGb, estimatedGb: +(trainingBytes(patch, levels, batchSize, fp.channels, classes) / 2 ** 30).toFixed(3),
  };
}

/** Fingerprint the dataset in `dataDir` (every training case read once) and plan for `memoryGb`. */
export function planDataset(dataDir: string, memoryGb: number, onCase?: (done: number, total: number) => void): Plan {
  if (!(Number.isFinite(memoryGb) && memoryGb > 0)) throw new RunError(`--memory_gb must be a positive number of GB, got ${memoryGb}`, 'VNET_E_BAD_FLAG');
  const spec = loadDataset(dataDir);
  const fp = fingerprintCases(spec.training, spec.channels, spec.labels.length, onCase);
  const sp = fp.cases.map((c) => c.spacing), sh = fp.cases.map((c) => c.shape);
  const r4 = (v: number[]) => v.map((x) => +x.toFixed(4));
  return {
    version: PLAN_VERSION,
    dataset: { dir: spec.dir, name: spec.name, cases: spec.training.length, channels: spec.channels, modality: spec.modality, normalization: channelSchemes(spec.modality, spec.channels) },
    fingerprint: {
      spacing: { median: r4(perAxis(sp, median)) as Spacing, min: perAxis(sp, (v) => Math.min(...v)), max: perAxis(sp, (v) => Math.max(...v)) },
      shape: { median: perAxis(sh, median), min: perAxis(sh, (v) => Math.min(...v)), max: perAxis(sh, (v) => Math.max(...v)) },
      foreground: fp.foreground,
      classFractions: Object.fromEntries(spec.labels.map((l) => [l.name, +fp.classFractions[l.value].toPrecision(4)])),
    },
    plan: planFrom(fp, memoryGb, spec.labels.length),
  };
}

/** A plan file as `plan` writes it (what `train --plan FILE` reads); anything else is refused by name. */
export function readPlan(file: string): Plan {
  let v: unknown;
  try {
    v = readJsonFile(file);
  } catch (e) {
    throw new RunError(e instanceof DataError ? e.message : String(e), 'VNET_E_BAD_FLAG');
  }
  const p = (v as Partial<Plan>)?.plan;
  const ints = (a: unknown, n?: number) => Array.isArray(a) && (n === undefined || a.length === n) && a.every((x) => Number.isInteger(x) && x > 0);
  if ((v as Plan)?.version !== PLAN_VERSION || !p || !ints(p.patch, 3) || !Number.isInteger(p.batchSize) || p.batchSize < 1
    || !ints(p.downscaleBlocks) || !ints(p.upscaleBlocks) || !(Array.isArray(p.targetSpacing) && p.targetSpacing.length === 3 && p.targetSpacing.every((s) => Number.isFinite(s) && s > 0)))
    throw new RunError(`--plan ${file}: not a plan written by \`vnet-native plan\` (version ${PLAN_VERSION})`, 'VNET_E_BAD_FLAG');
  return v as Plan;
}

/** The flags a plan sets (train --plan): full resolution, its patch, batch, depth and spacing. */
export function planFlags(p: Plan['plan']): Record<string, string | string[] | boolean> {
  return {
    resize: 'none', input_shape: p.patch.map(String), batch_size: String(p.batchSize),
    downscale_blocks: p.downscaleBlocks.map(String), upscale_blocks: p.upscaleBlocks.map(String), target_spacing: p.targetSpacing.map(String),
  };
}

/**
 * `vnet-native plan`: the plan as JSON on stdout, and in `output` when given: never over one of
 * the dataset's files, or over anything but an earlier plan.
 */
export function runPlan(dataDir: string, memoryGb: number, output?: string): Plan {
  if (output) {
    const spec = loadDataset(dataDir);
    const inputs = [spec.jsonPath, ...spec.training.flatMap((c) => [...(c.channels ?? [c.image]), c.label]), ...spec.test.flatMap((c) => c.channels ?? [c.image])];
    try {
      checkOutputFile(output, inputs, '--output', (f) => { try { readPlan(f); return true; } catch { return false; } });
    } catch (e) {
      throw new RunError(e instanceof Error ? e.message : String(e), 'VNET_E_UNSAFE_OUTPUT');
    }
  }
  const plan = planDataset(dataDir, memoryGb);
  const text = JSON.stringify(plan, null, 2) + '\n';
  if (output) writeFileAtomicSync(output, text);
  process.stdout.write(text);
  return plan;
}
