// The train / eval split of a run: made from its flags (fold k of --folds F, else the first N,
// shuffled with --split_seed), or read back from the model's split.json by case id.
import fs from 'node:fs';
import path from 'node:path';
import { foldSplit, loadDataset, makeSplit, type CaseRef, type DatasetSpec } from '../data/index.js';
import { RunError, type RunOptions } from '../config/options.js';

/**
 * The one lookup of a saved split's case ids in the dataset; an id the dataset lacks is an
 * error (a model evaluated or resumed on other cases than it was split on would mislead).
 */
export function savedCases(ids: readonly string[], o: Pick<RunOptions, 'modelDir'>, spec: DatasetSpec): CaseRef[] {
  const byId = new Map(spec.training.map((c) => [c.id, c]));
  const missing = ids.filter((id) => !byId.has(id));
  if (missing.length)
    throw new RunError(`${missing.length} case(s) of ${o.modelDir}/split.json are not in ${spec.jsonPath} (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}); use the dataset the model was trained on`, 'VNET_E_CONFIG_MISMATCH');
  return ids.map((id) => byId.get(id)!);
}

/** The split a run makes from its flags: fold k of --folds F, else the first N (or shuffled with --split_seed). */
export function runSplit(o: Pick<RunOptions, 'folds' | 'fold' | 'splitSeed' | 'trainSplit'>, spec: DatasetSpec): { train: CaseRef[]; eval: CaseRef[] } {
  return o.folds !== undefined ? foldSplit(spec.training, o.folds, o.fold ?? 0, o.splitSeed ?? 0) : makeSplit(spec.training, { trainSplit: o.trainSplit, splitSeed: o.splitSeed });
}

/**
 * Checked once by the launcher, before any rank starts (each rank would otherwise print the same
 * error): the global batch of `--gpus N` ranks must fit the training cases.
 */
export function checkBatchFitsRanks(o: RunOptions): void {
  if (o.gpus <= 1 || o.resume || o.benchmark || !fs.existsSync(path.join(o.dataDir, 'dataset.json'))) return;
  const n = runSplit(o, loadDataset(o.dataDir)).train.length;
  if (n < o.batchSize * o.gpus) throw new RunError(`--batch_size ${o.batchSize} x --gpus ${o.gpus} ranks is larger than the ${n} training cases`, 'VNET_E_BAD_FLAG');
}
