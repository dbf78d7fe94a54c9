// The run options' checks, before anything starts: each flag's range, and the model the flags
// define (refused by name, never built wrong).
import { ConfigError, validateVNetConfig } from '../nn/index.js';
import { NORMALIZATION_CHOICES } from '../data/index.js';
import { CHECKPOINT_NAME, MAX_INPUT_SIZE, MAX_THREADS, modelConfig, RunError, type RunOptions } from './options.js';

export function checkOptions(o: RunOptions): void {
  const bad = (flag: string, what: string, v: unknown) => {
    throw new RunError(`--${flag} ${what}, got ${JSON.stringify(v)}`, 'VNET_E_BAD_FLAG');
  };
  if (!o.dataDir) bad('data_dir', 'is required', o.dataDir);
  if (!o.modelDir) bad('model_dir', 'is required', o.modelDir);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) bad('batch_size', 'must be a positive integer', o.batchSize);
  if (!Number.isInteger(o.trainEpochs) || o.trainEpochs < 0) bad('train_epochs', 'must be a non-negative integer', o.trainEpochs);
  if (!(o.trainSplit > 0 && o.trainSplit <= 1)) bad('train_split', 'must be in (0, 1]', o.trainSplit);
  if (!(o.baseLr > 0)) bad('base_lr', 'must be positive', o.baseLr);
  if (o.lrSchedule !== undefined && !['constant', 'poly', 'cosine'].includes(o.lrSchedule)) bad('lr_schedule', 'must be constant, poly or cosine', o.lrSchedule);
  if (o.augmentMode !== undefined && !['flips', 'full', 'nnunet'].includes(o.augmentMode)) bad('augment_mode', 'must be flips, full or nnunet', o.augmentMode);
  if (!(o.momentum >= 0 && o.momentum < 1)) bad('momentum', 'must be in [0, 1)', o.momentum);
  if (o.nesterov && (o.optimizer !== 'sgd' || !(o.momentum > 0))) bad('nesterov', 'needs --optimizer sgd and --momentum > 0', o.nesterov);
  if (o.weightDecay !== undefined && !(o.weightDecay >= 0 && o.weightDecay < 1)) bad('weight_decay', 'must be in [0, 1)', o.weightDecay);
  if (o.weightDecay && o.optimizer !== 'sgd') bad('weight_decay', 'needs --optimizer sgd', o.weightDecay);
  if (o.bnMomentum !== undefined && !(o.bnMomentum >= 0 && o.bnMomentum < 1)) bad('bn_momentum', 'must be in [0, 1)', o.bnMomentum);
  if (!Number.isInteger(o.logEvery) || o.logEvery < 1) bad('log_every', 'must be a positive integer', o.logEvery);
  if (!Number.isInteger(o.warmupSteps) || o.warmupSteps < 0) bad('warmup_steps', 'must be a non-negative integer', o.warmupSteps);
  if (!Number.isInteger(o.gpus) || o.gpus < 1) bad('gpus', 'must be a positive integer', o.gpus);
  if (o.threads !== undefined && (!Number.isInteger(o.threads) || o.threads < 1 || o.threads > MAX_THREADS)) bad('threads', `must be an integer in 1..${MAX_THREADS}`, o.threads);
  if (!Number.isInteger(o.seed) || o.seed < 0) bad('seed', 'must be a non-negative integer', o.seed);
  if (o.splitSeed !== undefined && (!Number.isInteger(o.splitSeed) || o.splitSeed < 0)) bad('split_seed', 'must be a non-negative integer', o.splitSeed);
  if (!Number.isInteger(o.evalEvery) || o.evalEvery < 0) bad('eval_every', 'must be a non-negative integer', o.evalEvery);
  if (o.resize !== undefined && o.resize !== 'input_shape' && o.resize !== 'none') bad('resize', 'must be input_shape or none', o.resize);
  if (o.foregroundOversample !== undefined && !(o.foregroundOversample >= 0 && o.foregroundOversample <= 1)) bad('foreground_oversample', 'must be in [0, 1]', o.foregroundOversample);
  if (o.overlap !== undefined && !(o.overlap >= 0 && o.overlap < 1)) bad('overlap', 'must be in [0, 1)', o.overlap);
  if (o.folds !== undefined && !(Number.isInteger(o.folds) && o.folds >= 2)) bad('folds', 'must be an integer >= 2', o.folds);
  if (o.fold !== undefined && (o.folds === undefined || !(Number.isInteger(o.fold) && o.fold >= 0 && o.fold < o.folds))) bad('fold', o.folds === undefined ? 'needs --folds' : `must be an integer in 0..${o.folds - 1}`, o.fold);
  if (o.folds !== undefined && o.fold === undefined) bad('folds', 'needs --fold k (or run `vnet-native cv`)', o.folds);
  if (o.models !== undefined && (!Array.isArray(o.models) || o.models.length < 1 || o.models.some((m) => typeof m !== 'string' || !m))) bad('models', 'must list model folders, comma-separated', o.models);
  if (o.benchmarkSteps !== undefined && (!Number.isInteger(o.benchmarkSteps) || o.benchmarkSteps < 1)) bad('benchmark_steps', 'must be a positive integer', o.benchmarkSteps);
  if (o.checkpoint !== undefined && !CHECKPOINT_NAME.test(o.checkpoint)) bad('checkpoint', 'must be final, best, latest or minute_<m> (from --save_at_minutes)', o.checkpoint);
  if (o.saveAtMinutes !== undefined && (!Array.isArray(o.saveAtMinutes) || !o.saveAtMinutes.length || o.saveAtMinutes.some((m, i) => !(m > 0 && Number.isFinite(m)) || (i > 0 && !(m > o.saveAtMinutes![i - 1])))))
    bad('save_at_minutes', 'must be increasing positive minutes, comma-separated (e.g. 5,10,20,40,60)', o.saveAtMinutes);
  if (o.profile && !o.benchmark) bad('profile', 'needs --benchmark (it profiles the timed steps)', o.profile);
  if (o.dataNormalization !== undefined && !NORMALIZATION_CHOICES.includes(o.dataNormalization)) bad('data_normalization', `must be one of ${NORMALIZATION_CHOICES.join(', ')}`, o.dataNormalization);
  if (o.cacheDir !== undefined && o.resize !== 'none') bad('cache_dir', 'is for --resize none training (resized cases are small and kept in memory)', o.cacheDir);
  if (o.targetSpacing === 'auto' && o.resize !== 'none') bad('target_spacing', 'is for --resize none models (resized models read every volume at --input_shape)', o.targetSpacing);
  // Past this the first allocation (a resampled volume) would fail with a bare RangeError.
  if (!Array.isArray(o.inputShape) || o.inputShape.some((d) => !(d <= MAX_INPUT_SIZE))) bad('input_shape', `sizes must be at most ${MAX_INPUT_SIZE}`, o.inputShape);
  try {
    validateVNetConfig(modelConfig(o, 3));
  } catch (e) {
    if (e instanceof ConfigError) throw new RunError(e.message, 'VNET_E_BAD_FLAG');
    throw e;
  }
}
