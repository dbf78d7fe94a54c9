// Cross-validation folds (--folds F --fold k): the cases shuffled once with the split seed,
// then dealt round-robin into F folds, so the folds are disjoint, cover every case and differ
// in size by at most one. Fold k evaluates; the other F - 1 train.
import { DataError } from './errors.js';
import { Rng } from './rng.js';
import type { Split } from './split.js';

/** Which fold each item falls in (by position in `items`): a seeded shuffle dealt round-robin. */
export function foldOf(n: number, folds: number, seed = 0): number[] {
  const order = new Rng(seed).permutation(n);
  const out = new Array<number>(n);
  order.forEach((item, i) => (out[item] = i % folds));
  return out;
}

/** Fold `fold` of `folds` for evaluation, the rest for training (each in the items' order). */
export function foldSplit<T>(items: readonly T[], folds: number, fold: number, seed = 0): Split<T> {
  if (!(Number.isInteger(folds) && folds >= 2)) throw new DataError('VNET_E_BAD_ARGUMENT', `folds must be an integer >= 2, got ${folds}`);
  if (!(Number.isInteger(fold) && fold >= 0 && fold < folds)) throw new DataError('VNET_E_BAD_ARGUMENT', `fold must be an integer in 0..${folds - 1}, got ${fold}`);
  if (items.length < folds) throw new DataError('VNET_E_BAD_ARGUMENT', `${folds} folds need at least ${folds} cases, got ${items.length}`);
  const of = foldOf(items.length, folds, seed);
  return { train: items.filter((_, i) => of[i] !== fold), eval: items.filter((_, i) => of[i] === fold) };
}
