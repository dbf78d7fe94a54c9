// What every mode shares: checking options, opening the dataset (with the validator's checks),
// building the model on the right device, and reading a trained model back.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rankFromEnv } from './parallel.js';
import * as E from '../engine/index.js';
import { VNet, ConfigError, validateVNetConfig } from '../nn/index.js';
import { checkOutputDir, foldSplit, formatProblems, loadDataset, makeSplit, validateDataset, isDataError, type CaseRef, type DatasetSpec } from '../data/index.js';
import { configDiff, readModelConfig } from './checkpoint.js';
import { MAX_INPUT_SIZE, MAX_THREADS, modelConfig, RunError, type ModelConfigFile, type RunOptions } from './options.js';
import { checkLogTarget, type LogSink } from './log.js';

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
  if (o.augmentMode !== undefined && !['flips', 'full'].includes(o.augmentMode)) bad('augment_mode', 'must be flips or full', o.augmentMode);
  if (!(o.momentum >= 0 && o.momentum < 1)) bad('momentum', 'must be in [0, 1)', o.momentum);
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
  if (o.profile && !o.benchmark) bad('profile', 'needs --benchmark (it profiles the timed steps)', o.profile);
  // Past this the first allocation (a resampled volume) would fail with a bare RangeError.
  if (!Array.isArray(o.inputShape) || o.inputShape.some((d) => !(d <= MAX_INPUT_SIZE))) bad('input_shape', `sizes must be at most ${MAX_INPUT_SIZE}`, o.inputShape);
  try {
    validateVNetConfig(modelConfig(o, 3));
  } catch (e) {
    if (e instanceof ConfigError) throw new RunError(e.message, 'VNET_E_BAD_FLAG');
    throw e;
  }
}

/** Applies thread count and checks the device before any work starts. */
export function setupDevice(o: RunOptions): E.DeviceName {
  const rank = rankFromEnv();
  // CPU ranks share the cores unless --threads says otherwise.
  const threads = o.threads || (rank && o.device === 'cpu' ? Math.max(1, Math.floor(os.availableParallelism() / Math.min(rank.world, os.availableParallelism()))) : undefined);
  try {
    // The math modes are set for this run whatever an earlier run in this process chose.
    return E.useDevice({ device: o.device === 'cuda' ? 'cuda' : 'cpu', index: rank?.localRank ?? 0, threads, tf32: o.tf32 !== false, deterministic: !!o.deterministic });
  } catch (e) {
    if (e instanceof E.VnetError && e.code === 'VNET_E_DEVICE') throw new RunError(`--device cuda: ${e.message}`, 'VNET_E_DEVICE');
    throw e;
  }
}

/** Opens dataset.json and runs the validator's checks, failing fast with every problem listed. */
export function openDataset(o: RunOptions, log: LogSink, opts: { test: boolean }): DatasetSpec {
  let spec: DatasetSpec;
  try {
    spec = loadDataset(o.dataDir);
  } catch (e) {
    if (isDataError(e)) throw new RunError(e.message, e.code);
    throw e;
  }
  const res = validateDataset(o.dataDir, { test: opts.test });
  for (const w of res.warnings) log.info(`warning: ${formatProblems([w])}`);
  if (res.errors.length)
    throw new RunError(`the dataset in ${o.dataDir} has ${res.errors.length} problem(s):\n${formatProblems(res.errors)}`, res.errors[0].code);
  return spec;
}

/**
 * The output-path guard for a run, before anything is opened for writing: --model_dir,
 * --output_dir (predicting modes) and --log_dir must not be an input's folder or file, a link,
 * or on /proc-like filesystems, and a training run must not overwrite a trained model.
 */
export function checkRunOutputs(mode: string, o: RunOptions, spec: DatasetSpec): void {
  const inputs = [spec.jsonPath, ...spec.training.flatMap((c) => [c.image, c.label]), ...spec.test.map((c) => c.image)];
  try {
    checkOutputDir(o.modelDir, inputs, '--model_dir');
    if (mode.includes('predict') && !o.benchmark) checkOutputDir(o.outputDir ?? path.join(o.modelDir, 'predictions'), inputs, '--output_dir');
    if (o.logDir) checkLogTarget(o.logDir, inputs);
  } catch (e) {
    if (isDataError(e)) throw new RunError(e.message, 'VNET_E_UNSAFE_OUTPUT');
    throw e;
  }
  const rank = rankFromEnv();
  if (mode.startsWith('train') && !o.benchmark && !o.resume && (rank?.rank ?? 0) === 0 && hasCheckpoint(o.modelDir))
    throw new RunError(`${o.modelDir} already holds a trained model; pass --resume to continue it, or choose another --model_dir`, 'VNET_E_MODEL_EXISTS');
}

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

export function modelConfigFile(o: RunOptions, spec: DatasetSpec): ModelConfigFile {
  return {
    version: 1,
    model: modelConfig(o, spec.labels.length),
    labels: [...spec.labels].sort((a, b) => a.value - b.value).map((l) => ({ value: l.value, name: l.name })),
    loss: o.loss,
  };
}

/**
 * The config stored in `modelDir`; refuses when `flags` (the run's config from its flags)
 * defines a different model, so a checkpoint is never loaded into the wrong network.
 */
export function checkStoredConfig(modelDir: string, flags: ModelConfigFile): ModelConfigFile {
  const cfg = readModelConfig(modelDir);
  const diff = configDiff(cfg, flags);
  if (diff) throw new RunError(`the model in ${modelDir} was trained with a different configuration (${diff}); pass the same model flags or another --model_dir`, 'VNET_E_CONFIG_MISMATCH');
  return cfg;
}

/**
 * The dataset's classes must be the model's (values and names): otherwise evaluation would
 * score class k under another class's name, and predictions would be read with the wrong map.
 */
export function checkModelLabels(modelDir: string, spec: DatasetSpec): void {
  const cfg = readModelConfig(modelDir);
  const fmt = (l: { value: number; name: string }[]) => l.map((c) => `${c.value}=${c.name}`).join(', ');
  if (fmt(cfg.labels) !== fmt(spec.labels))
    throw new RunError(`the model in ${modelDir} has classes {${fmt(cfg.labels)}} but ${spec.jsonPath} has {${fmt(spec.labels)}}; use the dataset the model was trained on`, 'VNET_E_CONFIG_MISMATCH');
}

export function hasCheckpoint(modelDir: string): boolean {
  return ['latest', 'final', 'best'].some((n) => fs.existsSync(`${modelDir}/${n}.safetensors`));
}

/**
 * This process's peak resident memory. On Linux from VmHWM: getrusage's maxRSS would include the
 * peak of the process that forked this one (Linux carries it over exec), e.g. a rank's launcher.
 */
export function peakRssMb(): number {
  try {
    const kb = /VmHWM:\s*(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kb) return Number(kb) / 1024;
  } catch {
    /* not Linux: fall back */
  }
  return process.resourceUsage().maxRSS / 1024;
}

/** The engine's CPU tensor memory for the benchmark report. */
export function tensorMemoryMb(): { peakMb: number; cachedMb: number } {
  const m = E.memory().cpu;
  return { peakMb: m.peakBytes / 2 ** 20, cachedMb: m.cachedBytes / 2 ** 20 };
}

/**
 * Checks, before any rank starts, that `--gpus N` can run: N CUDA devices and NCCL for GPU
 * ranks; any N for CPU ranks. The GPUs are counted by a child process (E.doctorInChild), so
 * the launcher holds no CUDA context on any GPU while the ranks train.
 */
export function checkParallel(o: RunOptions): void {
  if (o.gpus <= 1 || o.device === 'cpu') return;
  const doc = E.doctorInChild() as { available?: boolean; reason?: string; gpus?: unknown[]; nccl?: { found?: boolean; error?: string } };
  if (!doc.available)
    throw new RunError(`--gpus ${o.gpus}: no usable GPU (${doc.reason ?? 'unknown reason'}); for CPU ranks pass --device cpu`, 'VNET_E_DEVICE');
  const n = Array.isArray(doc.gpus) ? doc.gpus.length : 0;
  if (n < o.gpus) throw new RunError(`--gpus ${o.gpus}: only ${n} GPU(s) on this machine`, 'VNET_E_DEVICE');
  if (!doc.nccl?.found) throw new RunError(`--gpus ${o.gpus}: NCCL is needed for multi-GPU training and was not found (${doc.nccl?.error ?? 'see vnet-native doctor'})`, 'VNET_E_LIBRARY');
}
