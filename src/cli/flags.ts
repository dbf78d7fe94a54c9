// Flag definitions: every flag of the reference (spec §5.1) with its code's defaults, plus
// ours, grouped for --help. snake_case as the reference spells them; kebab-case accepted too.
import type { Options } from 'yargs';
import { EnvError, numThreadsFromEnv } from '../env.js';
import { convAlgos } from '../engine/index.js';
import { MAX_THREADS, MODEL_OPTIONS, defaultRunOptions, type RunOptions } from '../config/options.js';
import { NORMALIZATION_CHOICES } from '../data/index.js';
import { DEFAULT_MEMORY_GB, planDataset, planFlags, readPlan, type Plan } from '../runner/plan.js';

type Group = 'Data:' | 'Model:' | 'Training:' | 'Execution:' | 'Output:';
type Flag = Options & { group: Group };

const d = defaultRunOptions;

export const runFlags: Record<string, Flag> = {
  data_dir: { group: 'Data:', type: 'string', describe: 'folder holding dataset.json (MSD layout)', demandOption: true },
  model_dir: { group: 'Output:', type: 'string', describe: 'folder for checkpoints, config.json, split.json, predictions, eval, report.html', demandOption: true },
  batch_size: { group: 'Training:', type: 'number', describe: 'samples per step (per GPU)', demandOption: true },
  input_shape: { group: 'Model:', type: 'number', array: true, default: d.inputShape, describe: 'network input (x y z); each a multiple of 2^levels' },
  upscale_blocks: { group: 'Model:', type: 'number', array: true, default: d.upscaleBlocks, describe: 'residual depth of each decoder level (one fewer than downscale levels)' },
  downscale_blocks: { group: 'Model:', type: 'number', array: true, default: d.downscaleBlocks, describe: 'residual depth of each encoder level' },
  convolution_size: { group: 'Model:', type: 'number', choices: [3, 5], default: d.convolutionSize, describe: 'kernel size of the stride-1 convolutions' },
  bn_momentum: { group: 'Model:', type: 'number', default: d.bnMomentum, describe: 'batch-norm moving-average momentum (lower it for very short trainings)' },
  activation: { group: 'Model:', type: 'string', choices: ['relu'], default: 'relu', describe: 'activation (the reference has one)' },
  normalization_layer: { group: 'Model:', type: 'string', choices: ['batchnorm', 'none', 'instancenorm'], default: 'batchnorm', describe: 'normalisation layer (none: conv → bias → ReLU; instancenorm: per sample and channel, as nnU-Net, CPU only for now)' },
  pooling: { group: 'Model:', type: 'string', choices: ['conv_pool'], default: 'conv_pool', describe: 'downsampling: 2³ stride-2 convolution' },
  upsampling: { group: 'Model:', type: 'string', choices: ['transposed_conv'], default: 'transposed_conv', describe: 'upsampling: 2³ stride-2 transposed convolution' },
  data_normalization: { group: 'Data:', type: 'string', choices: [...NORMALIZATION_CHOICES], default: 'auto', describe: 'intensity normalisation per input channel: auto (CT channels: clipped to the training foreground\'s 0.5-99.5 percentiles and z-scored with its mean and std; others: z-score per volume, the reference\'s), zscore, ct or none' },
  resize_interpolator: { group: 'Data:', type: 'string', choices: ['linear', 'cubic'], default: 'linear', describe: 'image resampling (labels: nearest); cubic (Keys\' cubic convolution, --resize none models): images resampled to the target spacing, as nnU-Net does with a spline' },
  augment: { group: 'Data:', type: 'boolean', default: d.augment, describe: 'augment training samples (what: --augment_mode)' },
  augment_mode: { group: 'Data:', type: 'string', choices: ['full', 'flips', 'nnunet'], default: d.augmentMode, describe: 'full: random flips of x and y plus small rotations, scaling, intensity and noise (better Dice, see the README); flips: the reference\'s flips only; nnunet: full\'s flips and spatial changes with nnU-Net\'s intensity changes (noise, blur, brightness, contrast, low resolution, gamma)' },
  resize: { group: 'Data:', type: 'string', choices: ['input_shape', 'none'], default: 'input_shape', describe: 'input_shape: resize every volume to --input_shape (the reference); none: keep each volume\'s resolution, train on --input_shape patches, predict by sliding window' },
  target_spacing: { group: 'Data:', type: 'string', array: true, describe: '--resize none: resample every volume to this spacing first: auto (default: the median spacing, nnU-Net\'s rule for anisotropic data), x y z in mm, or none (each keeps its own); predictions go back to each input\'s grid' },
  cache_dir: { group: 'Data:', type: 'string', describe: '--resize none: preprocess each training case once into this folder and read patches from it, so memory does not grow with the dataset (reused while the data and preprocessing are unchanged)' },
  foreground_oversample: { group: 'Data:', type: 'number', default: d.foregroundOversample, describe: '--resize none: fraction of training patches centred on a labelled voxel' },
  overlap: { group: 'Output:', type: 'number', default: d.overlap, describe: '--resize none models: overlap of the sliding windows in evaluate / predict, in [0, 1)' },
  deep_supervision: { group: 'Model:', type: 'boolean', default: false, describe: 'auxiliary losses at the decoder levels (nnU-Net\'s weights); inference uses the full-resolution output only' },
  folds: { group: 'Data:', type: 'number', describe: 'cross-validation: split the training cases into F seeded folds (with --fold; `vnet-native cv` runs them all)' },
  fold: { group: 'Data:', type: 'number', describe: 'cross-validation: the fold k (0..F-1) held out for evaluation; --train_split is then unused' },
  models: { group: 'Output:', type: 'string', describe: 'evaluate / predict: an ensemble of model folders (comma-separated), their probabilities averaged' },
  train_split: { group: 'Data:', type: 'number', default: d.trainSplit, describe: 'fraction of the training cases used to train; the rest evaluates' },
  split_seed: { group: 'Data:', type: 'number', describe: 'shuffle before splitting (default: the first N in dataset.json order, as the reference)' },
  seed: { group: 'Training:', type: 'number', default: d.seed, describe: 'seed for initialisation, shuffling and augmentation' },
  train_epochs: { group: 'Training:', type: 'number', default: d.trainEpochs, describe: 'epochs to train' },
  base_lr: { group: 'Training:', type: 'number', default: d.baseLr, describe: 'learning rate (peak, with --lr_schedule)' },
  lr_schedule: { group: 'Training:', type: 'string', choices: ['constant', 'poly', 'cosine'], default: 'constant', describe: 'constant (the reference); poly: base_lr * (1 - t/T)^0.9; cosine: to 0 over the run' },
  momentum: { group: 'Training:', type: 'number', default: d.momentum, describe: 'optimizer momentum' },
  optimizer: { group: 'Training:', type: 'string', choices: ['rmsprop', 'adam', 'sgd'], default: d.optimizer, describe: 'rmsprop: centered, TF1 semantics (the reference)' },
  nesterov: { group: 'Training:', type: 'boolean', default: false, describe: '--optimizer sgd: Nesterov momentum (nnU-Net: --momentum 0.99 --base_lr 1e-2 --lr_schedule poly --weight_decay 3e-5)' },
  weight_decay: { group: 'Training:', type: 'number', default: 0, describe: '--optimizer sgd: L2 weight decay added to the gradient' },
  loss: { group: 'Training:', type: 'string', choices: ['dice', 'dice_ce'], default: d.loss, describe: 'dice: the reference\'s soft dice; dice_ce: plus cross-entropy' },
  gradient_clipping: { group: 'Training:', type: 'string', choices: ['global_norm'], default: 'global_norm', describe: 'accepted for compatibility; like the reference in effect, no clipping is applied' },
  plan: { group: 'Training:', type: 'string', describe: 'auto (plan from the data now, for --memory_gb, default 8) or a file `vnet-native plan` wrote: fills the flags not given (--resize none, --input_shape, --batch_size, --downscale_blocks, --upscale_blocks, --target_spacing)' },
  memory_gb: { group: 'Training:', type: 'number', describe: 'with --plan auto: the memory the training may use, in GB (default 8)' },
  preset: { group: 'Training:', type: 'string', choices: ['reference', 'best', 'nnunet_cpu'], describe: 'a named recipe that fills the flags not given: reference (the published recipe), best (our recommendation) or nnunet_cpu (a candidate with nnU-Net\'s optimiser, normalisation and augmentations, not yet measured)' },
  resume: { group: 'Training:', type: 'boolean', default: false, describe: 'continue from <model_dir>/latest.safetensors (weights, optimizer, step, RNG, split)' },
  eval_every: { group: 'Training:', type: 'number', default: d.evalEvery, describe: 'evaluate soft Dice on the held-out split every N epochs (0: only at the end)' },
  log_every: { group: 'Output:', type: 'number', default: d.logEvery, describe: 'log the loss every N steps' },
  log_dir: { group: 'Output:', type: 'string', describe: 'DLLL JSON log: a file path (as the reference), or a folder for log.json' },
  output_dir: { group: 'Output:', type: 'string', describe: 'where predict writes masks (default <model_dir>/predictions)' },
  tta: { group: 'Output:', type: 'boolean', default: false, describe: 'evaluate / predict with test-time augmentation: the mean of the x/y-flipped predictions (4x the passes; --resize none models: all 8 mirrorings of x, y, z)' },
  report: { group: 'Output:', type: 'boolean', default: true, describe: 'write report.html after evaluation' },
  checkpoint: { group: 'Output:', type: 'string', describe: 'the checkpoint evaluate / predict load: final, best, latest or minute_<m> (default: final, else latest); best: the epoch of the best eval soft Dice; minute_<m>: from --save_at_minutes' },
  save_at_minutes: { group: 'Output:', type: 'string', describe: 'keep the weights after these minutes of training (evaluation excluded), e.g. 5,10,20,40,60, as minute_<m>.safetensors (`vnet-native curve` evaluates them all)' },
  benchmark: { group: 'Execution:', type: 'boolean', default: false, describe: 'time steps instead of training / predicting' },
  warmup_steps: { group: 'Execution:', type: 'number', default: d.warmupSteps, describe: 'untimed steps before timing (--benchmark)' },
  benchmark_steps: { group: 'Execution:', type: 'number', describe: 'timed steps (default: as many as --warmup_steps)' },
  profile: { group: 'Execution:', type: 'boolean', default: false, describe: 'with --benchmark (train, predict): print the per-op time table of the timed steps (% of step, GFLOP/s per convolution)' },
  device: { group: 'Execution:', type: 'string', choices: ['cpu', 'cuda'], describe: 'where to run (default cpu, or cuda with --gpus)' },
  gpus: { group: 'Execution:', type: 'number', default: 1, describe: 'number of GPUs (data parallel)' },
  nnodes: { group: 'Execution:', type: 'number', default: 1, describe: 'machines in a multi-node job (run the same command on each)' },
  node_rank: { group: 'Execution:', type: 'number', default: 0, describe: 'this machine\'s index in a multi-node job' },
  master_addr: { group: 'Execution:', type: 'string', default: '127.0.0.1', describe: 'address of node 0 (rendezvous)' },
  master_port: { group: 'Execution:', type: 'number', describe: 'rendezvous port on node 0 (default: a free one on a single node)' },
  amp: { group: 'Execution:', type: 'boolean', alias: 'use_amp', default: false, describe: 'mixed precision: fp16 convolutions, fp32 master weights, dynamic loss scaling' },
  xla: { group: 'Execution:', type: 'boolean', alias: 'use_xla', default: false, describe: 'CUDA: the fused bias+BN+ReLU kernels and CUDA Graph capture (the CPU always runs the fused kernels)' },
  tf32: { group: 'Execution:', type: 'boolean', default: true, describe: 'TF32 math for fp32 convolutions on GPUs that have it (--no-tf32: strict fp32)' },
  deterministic: { group: 'Execution:', type: 'boolean', default: false, describe: 'only deterministic cuDNN algorithms' },
  threads: { group: 'Execution:', type: 'number', describe: 'CPU threads (default: all cores, or VNET_NUM_THREADS)' },
  progress: { group: 'Output:', type: 'boolean', describe: 'progress bar (default: when stderr is a terminal)' },
};

/** A command-line mistake found before yargs parses (exit 2, like yargs' own). */
export class UsageError extends Error {}

/**
 * Named recipes. A preset fills the flags it names unless the command line gives them itself,
 * so `--preset best --train_epochs 10` shortens the recommended recipe. The numbers behind each
 * are in the README's accuracy table.
 */
export const PRESETS: Record<string, { describe: string; flags: Record<string, string | string[] | boolean> }> = {
  reference: {
    describe: 'the reference\'s published accuracy recipe: batch 2, RMSProp 1e-4, 80 epochs, augmentation, 90/10 split',
    flags: { batch_size: '2', base_lr: '1e-4', train_epochs: '80', augment: true, train_split: '0.9' },
  },
  best: {
    describe: 'our recommendation for the best accuracy in about an hour of CPU training: full resolution, 40x56x40 patches, deep supervision (see the README)',
    flags: {
      batch_size: '2', input_shape: ['40', '56', '40'], resize: 'none', deep_supervision: true, loss: 'dice_ce', optimizer: 'adam',
      base_lr: '5e-4', lr_schedule: 'poly', train_epochs: '80', augment: true, augment_mode: 'full', train_split: '0.9', tta: true,
    },
  },
  nnunet_cpu: {
    describe: 'a candidate, not yet measured for accuracy: best with nnU-Net\'s levers (SGD with Nesterov momentum 0.99, lr 1e-2 poly, weight decay 3e-5, instance normalisation, its intensity augmentations)',
    flags: {
      batch_size: '2', input_shape: ['40', '56', '40'], resize: 'none', deep_supervision: true, loss: 'dice_ce', optimizer: 'sgd', nesterov: true, momentum: '0.99',
      weight_decay: '3e-5', base_lr: '1e-2', lr_schedule: 'poly', train_epochs: '80', augment: true, augment_mode: 'nnunet', normalization_layer: 'instancenorm',
      train_split: '0.9', tta: true,
    },
  },
};

/**
 * `--preset NAME` (or `--preset=NAME`): append the preset's flags that the command line lacks.
 * Like every other flag, the last --preset given wins.
 */
export function expandPreset(argv: string[]): string[] {
  const i = argv.map((a) => a === '--preset' || a.startsWith('--preset=')).lastIndexOf(true);
  if (i < 0) return argv;
  const name = argv[i].includes('=') ? argv[i].slice(argv[i].indexOf('=') + 1) : argv[i + 1];
  const preset = name === undefined ? undefined : PRESETS[name];
  if (!preset) throw new UsageError(`--preset ${name ?? ''}: unknown preset; choose one of ${Object.keys(PRESETS).join(', ')}`);
  return appendMissing(argv, preset.flags);
}

/** `argv` with each of `flags` the command line lacks appended (given flags win, whatever their spelling). */
export function appendMissing(argv: string[], flags: Record<string, string | string[] | boolean>): string[] {
  const given = (flag: string) => {
    const names = [flag, flag.replace(/_/g, '-')];
    return argv.some((a) => names.some((n) => a === `--${n}` || a.startsWith(`--${n}=`) || a === `--no-${n}`));
  };
  const extra: string[] = [];
  for (const [flag, v] of Object.entries(flags)) {
    if (given(flag)) continue;
    if (v === true) extra.push(`--${flag}`);
    else if (v === false) extra.push(`--no-${flag}`);
    else extra.push(`--${flag}`, ...(Array.isArray(v) ? v : [v]));
  }
  return [...argv, ...extra];
}

/** The value of `--name V` / `--name=V` (the last one given), if any. */
function flagValue(argv: readonly string[], name: string): string | undefined {
  const names = [name, name.replace(/_/g, '-')];
  let v: string | undefined;
  argv.forEach((a, i) => {
    for (const n of names) {
      if (a === `--${n}`) v = argv[i + 1];
      else if (a.startsWith(`--${n}=`)) v = a.slice(n.length + 3);
    }
  });
  return v;
}

/**
 * `--plan auto` (planned from --data_dir now, for --memory_gb) or `--plan FILE`: append the
 * plan's flags that the command line lacks, as a preset's.
 */
export function expandPlan(argv: string[]): string[] {
  const which = flagValue(argv, 'plan');
  if (which === undefined) return argv;
  let plan: Plan;
  if (which === 'auto') {
    const dataDir = flagValue(argv, 'data_dir');
    if (!dataDir) throw new UsageError('--plan auto needs --data_dir (the plan comes from the data)');
    const gb = flagValue(argv, 'memory_gb');
    plan = planDataset(dataDir, gb === undefined ? DEFAULT_MEMORY_GB : Number(gb));
  } else plan = readPlan(which);
  return appendMissing(argv, planFlags(plan.plan));
}

/**
 * A repeated flag: the last one wins, whatever its spelling (--batch-size, --batch_size=1,
 * --no-augment). Earlier occurrences are dropped with their values before yargs parses, which
 * otherwise gives values nobody typed (`--batch_size 5 --batch_size 1` parsed as 6). A value is
 * what follows up to the next --flag for an array flag, a true/false word for a boolean one,
 * and one word otherwise (flags of other commands: one word unless the next one is a flag).
 */
export function lastFlagWins(argv: readonly string[]): string[] {
  const kind = (name: string): 'array' | 'boolean' | 'one' => {
    const f = runFlags[name];
    return f?.array ? 'array' : f?.type === 'boolean' ? 'boolean' : 'one';
  };
  const isFlag = (a: string | undefined) => a !== undefined && a.startsWith('--') && a.length > 2;
  // Each occurrence: its name and the span of tokens it covers.
  const spans: { name: string; from: number; to: number }[] = [];
  const end = argv.indexOf('--') < 0 ? argv.length : argv.indexOf('--');
  for (let i = 0; i < end; i++) {
    const a = argv[i];
    if (!isFlag(a)) continue;
    const raw = a.slice(2).split('=')[0];
    const name = raw.replace(/-/g, '_').replace(/^no_/, (m) => (runFlags[raw.replace(/-/g, '_')] ? m : ''));
    let to = i + 1;
    if (!a.includes('=')) {
      const k = kind(name);
      if (k === 'array') while (to < end && !isFlag(argv[to])) to++;
      else if (k === 'boolean') { if (argv[to] === 'true' || argv[to] === 'false') to++; }
      else if (to < end && !isFlag(argv[to])) to++;
    }
    spans.push({ name, from: i, to });
    i = to - 1;
  }
  const last = new Map(spans.map((sp) => [sp.name, sp]));
  const drop = new Set<number>();
  for (const sp of spans) if (last.get(sp.name) !== sp) for (let j = sp.from; j < sp.to; j++) drop.add(j);
  return argv.filter((_, j) => !drop.has(j));
}

/** Adds kebab-case aliases (batch-size for batch_size). */
export function withKebab(flags: Record<string, Flag>): Record<string, Flag> {
  const out: Record<string, Flag> = {};
  for (const [k, v] of Object.entries(flags)) {
    const aliases = ([] as string[]).concat((v.alias as string | string[] | undefined) ?? []);
    const kebab = [k, ...aliases].filter((n) => n.includes('_')).map((n) => n.replace(/_/g, '-'));
    out[k] = { ...v, alias: [...aliases, ...kebab] };
  }
  return out;
}

export const allFlagNames = (): string[] => Object.entries(runFlags).flatMap(([k, v]) => [k, ...([] as string[]).concat((v.alias as string[] | string | undefined) ?? [])]);

/**
 * Every numeric flag holds finite numbers (yargs turns "abc" into NaN), and the multi-node flags
 * fit together; a mistake is a usage error naming the flag (exit 2).
 */
export function checkNumericFlags(a: Record<string, unknown>): void {
  for (const [name, f] of Object.entries(runFlags)) {
    if (f.type !== 'number' || a[name] === undefined) continue;
    const v = a[name];
    const vals = Array.isArray(v) ? v : [v];
    if (vals.length === 0 || vals.some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw new UsageError(`--${name} needs ${f.array ? 'numbers' : 'a number'}, got ${JSON.stringify(v)}`);
  }
  const int = (name: string, lo: number, hi: number) => {
    const v = a[name];
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi)) throw new UsageError(`--${name} must be an integer in ${lo}..${hi}, got ${String(v)}`);
  };
  int('nnodes', 1, 4096);
  int('node_rank', 0, Number(a.nnodes ?? 1) - 1);
  int('master_port', 1, 65535);
  int('threads', 1, MAX_THREADS);
  int('gpus', 1, 1024);
  for (const name of ['seed', 'split_seed']) int(name, 0, 2 ** 32 - 1);
  try {
    numThreadsFromEnv(MAX_THREADS);
  } catch (e) {
    throw e instanceof EnvError ? new UsageError(e.message) : e;
  }
  // The engine reads VNET_CONV_ALGO at each convolution; a bad value is refused before anything is written.
  try {
    convAlgos();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The model flags (config.json's), as typed on the command line. */
export const MODEL_FLAGS = MODEL_OPTIONS.map((k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));

/** Whether the command line `argv` sets a model flag (then it must match a stored model). */
export const modelFlagsGiven = (argv: string[]) => argv.some((a) => MODEL_FLAGS.some((f) => a.startsWith(`--${f}`) || a.startsWith(`--${f.replace(/_/g, '-')}`)));

/** --save_at_minutes 5,10,20: the numbers, or a usage error naming the flag. */
function minutesList(s: string): number[] {
  const v = s.split(',').map((x) => x.trim());
  if (v.some((x) => !/^[0-9]+(\.[0-9]+)?$/.test(x))) throw new UsageError(`--save_at_minutes needs minutes separated by commas (e.g. 5,10,20,40,60), got ${JSON.stringify(s)}`);
  return v.map(Number);
}

/** yargs argv `a` (parsed from the command line `argv`) -> RunOptions. */
export function toRunOptions(a: Record<string, unknown>, argv: readonly string[] = []): RunOptions {
  checkNumericFlags(a);
  const gpus = Number(a.gpus ?? 1);
  // --gpus alone means CUDA; --device cpu --gpus N asks for N CPU ranks.
  const gpusGiven = argv.some((x) => /^--gpus(=|$)/.test(x));
  const dev = (a.device as RunOptions['device'] | undefined) ?? (gpusGiven ? 'cuda' : 'cpu');
  return {
    ...defaultRunOptions,
    dataDir: a.data_dir as string,
    modelDir: a.model_dir as string,
    batchSize: a.batch_size as number,
    inputShape: a.input_shape as RunOptions['inputShape'],
    upscaleBlocks: a.upscale_blocks as number[],
    downscaleBlocks: a.downscale_blocks as number[],
    convolutionSize: a.convolution_size as 3 | 5,
    normalizationLayer: a.normalization_layer as RunOptions['normalizationLayer'],
    bnMomentum: a.bn_momentum as number,
    trainEpochs: a.train_epochs as number,
    baseLr: a.base_lr as number,
    lrSchedule: a.lr_schedule as RunOptions['lrSchedule'],
    momentum: a.momentum as number,
    optimizer: a.optimizer as RunOptions['optimizer'],
    nesterov: a.nesterov as boolean,
    weightDecay: a.weight_decay as number,
    loss: a.loss as RunOptions['loss'],
    augment: a.augment as boolean,
    augmentMode: a.augment_mode as RunOptions['augmentMode'],
    tta: a.tta as boolean,
    trainSplit: a.train_split as number,
    dataNormalization: a.data_normalization as RunOptions['dataNormalization'],
    targetSpacing: targetSpacingFlag(a.target_spacing),
    resizeInterpolator: a.resize_interpolator as RunOptions['resizeInterpolator'],
    cacheDir: a.cache_dir as string | undefined,
    resize: a.resize as RunOptions['resize'],
    foregroundOversample: a.foreground_oversample as number,
    overlap: a.overlap as number,
    deepSupervision: a.deep_supervision as boolean,
    folds: a.folds as number | undefined,
    fold: a.fold as number | undefined,
    models: typeof a.models === 'string' ? a.models.split(',').map((m) => m.trim()) : undefined,
    splitSeed: a.split_seed as number | undefined,
    seed: a.seed as number,
    logEvery: a.log_every as number,
    warmupSteps: a.warmup_steps as number,
    benchmark: a.benchmark as boolean,
    benchmarkSteps: a.benchmark_steps as number | undefined,
    profile: a.profile as boolean,
    evalEvery: a.eval_every as number,
    resume: a.resume as boolean,
    device: dev,
    gpus,
    amp: a.amp as boolean,
    xla: a.xla as boolean,
    tf32: a.tf32 as boolean,
    deterministic: a.deterministic as boolean,
    threads: a.threads as number | undefined,
    logDir: a.log_dir as string | undefined,
    outputDir: a.output_dir as string | undefined,
    report: a.report as boolean,
    checkpoint: a.checkpoint as RunOptions['checkpoint'],
    saveAtMinutes: typeof a.save_at_minutes === 'string' ? minutesList(a.save_at_minutes) : undefined,
    progress: a.progress as boolean | undefined,
  };
}

/** --target_spacing: auto, none, or three sizes in mm (each finite and positive). */
export function targetSpacingFlag(v: unknown): RunOptions['targetSpacing'] {
  if (v === undefined) return undefined;
  const words = (Array.isArray(v) ? v : [v]).map(String);
  if (words.length === 1 && (words[0] === 'auto' || words[0] === 'none')) return words[0];
  const n = words.map(Number);
  if (n.length !== 3 || n.some((x) => !(Number.isFinite(x) && x > 0))) throw new UsageError(`--target_spacing needs auto, none, or three positive sizes in mm (x y z), got ${words.join(' ')}`);
  return n as [number, number, number];
}
