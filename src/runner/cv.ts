// `vnet-native cv --folds F ...`: train_and_evaluate every fold k into <model_dir>/fold_k (one
// after another; --resume continues each fold from its own checkpoint, and a finished fold is
// only evaluated again), then <model_dir>/summary.json with each fold's held-out metrics and
// their mean over the folds.
import path from 'node:path';
import { makeDirs } from '../data/index.js';
import { writeSummary } from '../eval/evaluate.js';
import { hasCheckpoint } from '../infer/checkpoint.js';
import { RunError, type RunOptions } from '../config/options.js';
import { runMode, type RunHooks } from './run.js';

type Metrics = { Dice: number; HD95: number };

export interface FoldResult {
  fold: number;
  model_dir: string;
  cases: number;
  mean: Record<string, Metrics>;
  foreground_mean: Metrics;
}

export interface CvSummary {
  folds: number;
  split_seed: number;
  per_fold: FoldResult[];
  /** The mean over folds of each fold's mean (NaN folds skipped). */
  mean: Record<string, Metrics>;
  foreground_mean: Metrics;
}

const nanMean = (v: number[]) => {
  const f = v.filter(Number.isFinite);
  return f.length ? f.reduce((a, b) => a + b, 0) / f.length : NaN;
};

/** The CV summary of the folds' results: every fold, and the mean over folds per class. */
export function cvSummary(perFold: FoldResult[], splitSeed: number): CvSummary {
  const classes = [...new Set(perFold.flatMap((f) => Object.keys(f.mean)))];
  const avg = (get: (f: FoldResult) => Metrics | undefined): Metrics => ({
    Dice: nanMean(perFold.map((f) => get(f)?.Dice ?? NaN)),
    HD95: nanMean(perFold.map((f) => get(f)?.HD95 ?? NaN)),
  });
  return {
    folds: perFold.length, split_seed: splitSeed, per_fold: perFold,
    mean: Object.fromEntries(classes.map((c) => [c, avg((f) => f.mean[c])])),
    foreground_mean: avg((f) => f.foreground_mean),
  };
}

/** Runs every fold and writes `<modelDir>/summary.json`; returns the summary. */
export async function runCv(o: RunOptions, hooks: RunHooks = {}): Promise<{ summary: CvSummary; file: string }> {
  if (o.folds === undefined || !(Number.isInteger(o.folds) && o.folds >= 2)) throw new RunError(`cv needs --folds F, an integer >= 2${o.folds === undefined ? '' : ` (got ${o.folds})`}`, 'VNET_E_BAD_FLAG');
  if (o.fold !== undefined) throw new RunError('cv runs every fold; --fold is for train / evaluate of a single fold', 'VNET_E_BAD_FLAG');
  if (o.models) throw new RunError('cv trains its own models; --models is for evaluate and predict', 'VNET_E_BAD_FLAG');
  if (o.gpus > 1) throw new RunError('cv runs on one device; for several GPUs run `train --folds F --fold k --gpus N` per fold', 'VNET_E_BAD_FLAG');
  const perFold: FoldResult[] = [];
  for (let k = 0; k < o.folds; k++) {
    const dir = path.join(o.modelDir, `fold_${k}`);
    const fo: RunOptions = { ...o, modelDir: dir, fold: k, resume: o.resume && hasCheckpoint(dir), logDir: o.logDir ? path.join(o.logDir, `fold_${k}`) : undefined };
    const res = await runMode('train_and_evaluate', fo, hooks);
    const s = res.eval!.summary;
    perFold.push({ fold: k, model_dir: dir, cases: s.metric_per_case.length, mean: s.mean as Record<string, Metrics>, foreground_mean: s.foreground_mean });
  }
  const summary = cvSummary(perFold, o.splitSeed ?? 0);
  makeDirs(o.modelDir);
  return { summary, file: writeSummary(o.modelDir, summary) };
}
