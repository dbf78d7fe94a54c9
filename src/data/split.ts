// Train / evaluation split. Default: the first int(N * train_split) cases in dataset.json order
// go to training, the rest to evaluation (the reference; its split_seed does nothing). With a
// split seed we shuffle first. The split is saved in the model folder so a run can be audited
// and resumed with the same cases.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from './atomic.js';
import { DataError } from './errors.js';
import { readJsonFile } from './reader.js';
import { Rng } from './rng.js';

/** Split settings: fraction for training, optional seed (undefined = keep the JSON order). */
export interface SplitOptions {
  trainSplit: number;
  splitSeed?: number;
  /** Cross-validation (data/folds.ts): the number of folds and the one evaluated. */
  folds?: number;
  fold?: number;
}

/** The split of a list: training items, then evaluation items. */
export interface Split<T> {
  train: T[];
  eval: T[];
}

/** What `writeSplit` stores: the case ids and how they were chosen. */
export interface SplitFile {
  version: 1;
  trainSplit: number;
  splitSeed: number | null;
  /** Present for a cross-validation fold. */
  folds?: number;
  fold?: number;
  train: string[];
  eval: string[];
}

/** The file name of a saved split inside a model folder. */
export const SPLIT_FILE = 'split.json';

/** Split `items` (left untouched) into train / eval. */
export function makeSplit<T>(items: readonly T[], opts: SplitOptions): Split<T> {
  const { trainSplit, splitSeed } = opts;
  if (!(trainSplit >= 0 && trainSplit <= 1)) throw new DataError('VNET_E_BAD_ARGUMENT', `train_split must be in [0, 1], got ${trainSplit}`);
  const order = [...items];
  if (splitSeed !== undefined) new Rng(splitSeed).shuffle(order);
  const n = Math.floor(items.length * trainSplit); // Python's int(n * train_split)
  return { train: order.slice(0, n), eval: order.slice(n) };
}

/** Write the split's case ids to `<modelDir>/split.json` atomically; returns the path. */
export function writeSplit(modelDir: string, split: Split<{ id: string }>, opts: SplitOptions): string {
  const file = path.join(modelDir, SPLIT_FILE);
  const body: SplitFile = {
    version: 1,
    trainSplit: opts.trainSplit,
    splitSeed: opts.splitSeed ?? null,
    ...(opts.folds !== undefined ? { folds: opts.folds, fold: opts.fold } : {}),
    train: split.train.map((c) => c.id),
    eval: split.eval.map((c) => c.id),
  };
  writeFileAtomicSync(file, JSON.stringify(body, null, 1) + '\n');
  return file;
}

/** Read `<modelDir>/split.json`, or undefined when there is none. */
export function readSplit(modelDir: string): SplitFile | undefined {
  const file = path.join(modelDir, SPLIT_FILE);
  if (!fs.existsSync(file)) return undefined;
  const v = readJsonFile(file) as SplitFile;
  if (typeof v !== 'object' || v === null || !Array.isArray(v.train) || !Array.isArray(v.eval)
    || ![...v.train, ...v.eval].every((id) => typeof id === 'string')) throw new DataError('VNET_E_MISSING_KEY', 'needs "train" and "eval" arrays of case ids', file);
  return v;
}
