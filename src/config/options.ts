// Run options: every flag of the reference (spec §5.1) with its code's defaults, plus ours,
// in camelCase. The CLI fills these; library users pass them directly.
import { channelSchemes, type DatasetSpec, type NormalizationChoice } from '../data/index.js';
import { defaultVNetConfig, type VNetConfig } from '../nn/index.js';
import { DEFAULT_FOREGROUND_OVERSAMPLE } from '../data/index.js';
import type { Triple } from '../engine/index.js';

export type Mode = 'train' | 'evaluate' | 'predict' | 'train_and_evaluate' | 'train_and_predict';

/** What each mode does, in this order: train, then evaluate, then predict (runMode follows it). */
export const MODE_STEPS: Record<Mode, { train: boolean; evaluate: boolean; predict: boolean }> = {
  train: { train: true, evaluate: false, predict: false },
  evaluate: { train: false, evaluate: true, predict: false },
  predict: { train: false, evaluate: false, predict: true },
  train_and_evaluate: { train: true, evaluate: true, predict: false },
  train_and_predict: { train: true, evaluate: false, predict: true },
};
export const MODES = Object.keys(MODE_STEPS) as Mode[];

export interface RunOptions {
  dataDir: string;
  modelDir: string;
  batchSize: number;
  // model
  inputShape: Triple;
  upscaleBlocks: number[];
  downscaleBlocks: number[];
  convolutionSize: 3 | 5;
  normalizationLayer?: 'batchnorm' | 'none' | 'instancenorm';
  /** Batch-norm moving-average momentum (the reference: 0.99). */
  bnMomentum?: number;
  // training
  trainEpochs: number;
  baseLr: number;
  /** Learning-rate schedule over the whole run: constant (the reference), poly (1 - t/T)^0.9, or cosine. */
  lrSchedule?: 'constant' | 'poly' | 'cosine';
  momentum: number;
  optimizer: 'rmsprop' | 'adam' | 'sgd';
  /** --optimizer sgd: Nesterov momentum (nnU-Net's). */
  nesterov?: boolean;
  /** --optimizer sgd: L2 weight decay added to the gradient (nnU-Net: 3e-5). */
  weightDecay?: number;
  loss: 'dice' | 'dice_ce';
  augment: boolean;
  /** What --augment applies: 'full' (default: flips + spatial + intensity), 'flips' (the reference's), or 'nnunet' (full's spatial changes with nnU-Net's intensity changes). */
  augmentMode?: 'flips' | 'full' | 'nnunet';
  trainSplit: number;
  splitSeed?: number;
  /** --resize none: resample every volume to this spacing (mm) first; auto: nnU-Net's choice from the data; none / absent: keep each volume's own. */
  targetSpacing?: 'auto' | 'none' | Triple;
  /** Image resampling to the target spacing (--resize none): linear (default) or cubic. */
  resizeInterpolator?: 'linear' | 'cubic';
  /** --resize none: keep the preprocessed training cases in this folder, read per patch (bounded memory), reused while the data and preprocessing match. */
  cacheDir?: string;
  /** Intensity normalisation of the input channels: by modality (auto: CT for CT channels, else z-score), or one scheme for all. */
  dataNormalization?: NormalizationChoice;
  /** 'none': z-score at the volume's own resolution, train on patches, infer by sliding window; default: resize to the input shape (the reference). */
  resize?: 'input_shape' | 'none';
  /** --resize none: the fraction of training patches centred on a labelled voxel (default 0.33, as nnU-Net). */
  foregroundOversample?: number;
  /** --resize none: the overlap of sliding windows at inference, in [0, 1) (default 0.5). */
  overlap?: number;
  /** Auxiliary losses at the decoder levels (nnU-Net's weights); off by default. */
  deepSupervision?: boolean;
  /** Cross-validation: F folds (seeded by --split_seed, default 0); fold k evaluates, the rest train. */
  folds?: number;
  fold?: number;
  /** evaluate / predict: an ensemble of these model folders, their probabilities averaged. */
  models?: string[];
  seed: number;
  logEvery: number;
  warmupSteps: number;
  benchmark: boolean;
  /** Timed steps after warm-up in --benchmark (the reference: as many as the warm-up). */
  benchmarkSteps?: number;
  /** --benchmark: also print the per-op time table of the timed steps. */
  profile?: boolean;
  evalEvery: number;
  resume: boolean;
  // execution
  device: 'cpu' | 'cuda';
  gpus: number;
  amp: boolean;
  xla: boolean;
  /** TF32 for fp32 convolutions and GEMMs on GPUs that have it (the reference's default). */
  tf32?: boolean;
  /** Only deterministic cuDNN algorithms. */
  deterministic?: boolean;
  threads?: number;
  /** Test-time augmentation in evaluate / predict: average over x/y flips (4x the passes). */
  tta?: boolean;
  // outputs
  logDir?: string;
  outputDir?: string;
  report: boolean;
  /** The checkpoint evaluate / predict load (default: final, else latest); minute_<m> from --save_at_minutes. */
  checkpoint?: 'final' | 'best' | 'latest' | `minute_${string}`;
  /** Keep the weights after these minutes of training (evaluation excluded) as minute_<m>.safetensors. */
  saveAtMinutes?: number[];
  /** Print a progress bar (default: when stderr is a terminal). */
  progress?: boolean;
}

/** The learning rate at `step` of `total` steps under the run's schedule. */
export function learningRate(o: Pick<RunOptions, 'baseLr' | 'lrSchedule'>, step: number, total: number): number {
  const t = total > 0 ? Math.min(1, Math.max(0, step / total)) : 0;
  switch (o.lrSchedule ?? 'constant') {
    case 'poly': return o.baseLr * Math.pow(1 - t, 0.9);
    case 'cosine': return o.baseLr * 0.5 * (1 + Math.cos(Math.PI * t));
    default: return o.baseLr;
  }
}

/** The sliding windows' overlap at inference (--overlap), as nnU-Net's. */
export const DEFAULT_OVERLAP = 0.5;

export const defaultRunOptions: Omit<RunOptions, 'dataDir' | 'modelDir' | 'batchSize'> = {
  inputShape: [32, 32, 32],
  upscaleBlocks: [3, 3],
  downscaleBlocks: [3, 3, 3],
  convolutionSize: 3,
  trainEpochs: 1,
  baseLr: 1e-4,
  momentum: 0,
  optimizer: 'rmsprop',
  loss: 'dice',
  augment: false,
  augmentMode: 'full',
  bnMomentum: defaultVNetConfig.bnMomentum,
  foregroundOversample: DEFAULT_FOREGROUND_OVERSAMPLE,
  overlap: DEFAULT_OVERLAP,
  trainSplit: 1.0,
  seed: 0,
  logEvery: 10,
  warmupSteps: 200,
  benchmark: false,
  evalEvery: 1,
  resume: false,
  device: 'cpu',
  gpus: 1,
  amp: false,
  xla: false,
  report: true,
};

/** The flags that define the model: stored in config.json, checked when a model is loaded. */
export interface ModelConfigFile {
  version: 1;
  model: VNetConfig;
  labels: { value: number; name: string }[];
  loss: RunOptions['loss'];
}

/** The options that define the model (config.json); the CLI's model flags are these, snake_case. */
export const MODEL_OPTIONS = ['inputShape', 'upscaleBlocks', 'downscaleBlocks', 'convolutionSize', 'normalizationLayer', 'bnMomentum', 'resize', 'deepSupervision', 'dataNormalization', 'targetSpacing', 'resizeInterpolator'] as const;
export type ModelOptions = Pick<RunOptions, (typeof MODEL_OPTIONS)[number]>;

/** The dataset's side of the model: its input channels and their modalities. */
export type InputOf = Partial<Pick<DatasetSpec, 'channels' | 'modality'>>;

/**
 * The model the options define for `nClasses` classes and the dataset's channels. Each channel's
 * normalisation scheme is fixed here; CT statistics are fitted on the data when training starts.
 */
export function modelConfig(o: ModelOptions, nClasses: number, input: InputOf = {}): VNetConfig {
  const C = input.channels ?? 1;
  const schemes = channelSchemes(input.modality ?? [], C, o.dataNormalization);
  return {
    ...(o.normalizationLayer === 'none' || o.normalizationLayer === 'instancenorm' ? { normalization: o.normalizationLayer } : {}),
    inputShape: o.inputShape,
    nClasses,
    downscaleBlocks: o.downscaleBlocks,
    upscaleBlocks: o.upscaleBlocks,
    convolutionSize: o.convolutionSize,
    baseFilters: 16,
    bnMomentum: o.bnMomentum ?? defaultVNetConfig.bnMomentum,
    bnEps: defaultVNetConfig.bnEps,
    // Only when set, so the reference's config.json stays as it was.
    ...(o.resize === 'none' ? { resize: 'none' as const } : {}),
    ...(o.deepSupervision ? { deepSupervision: true } : {}),
    ...(C > 1 ? { inChannels: C } : {}),
    ...(Array.isArray(o.targetSpacing) ? { targetSpacing: o.targetSpacing } : {}),
    ...(o.resizeInterpolator === 'cubic' ? { imageInterpolation: 'cubic' as const } : {}),
    ...(schemes.some((x) => x !== 'zscore') ? { intensity: schemes.map((scheme) => ({ scheme })) } : {}),
  };
}

/** The largest size of one --input_shape axis (also the bound on a stored config's). */
export const MAX_INPUT_SIZE = 1024;

/** The most CPU threads a run may ask for (--threads, VNET_NUM_THREADS); the engine's own cap too. */
export const MAX_THREADS = 256;

/** A checkpoint name evaluate / predict accept: final, best, latest or minute_<m>. */
export const CHECKPOINT_NAME = /^(final|best|latest|minute_[0-9]+(\.[0-9]+)?)$/;

/** The checkpoint kept after `m` minutes of training. */
export const minuteCheckpoint = (m: number): `minute_${string}` => `minute_${m}`;

export class RunError extends Error {
  constructor(message: string, readonly code = 'VNET_E_RUN') {
    super(message);
    this.name = 'RunError';
  }
}

/** The config.json of the model the options define, with the dataset's classes. */
export function modelConfigFile(o: RunOptions, spec: Pick<DatasetSpec, 'labels'> & InputOf): ModelConfigFile {
  return {
    version: 1,
    model: modelConfig(o, spec.labels.length, spec),
    labels: [...spec.labels].sort((a, b) => a.value - b.value).map((l) => ({ value: l.value, name: l.name })),
    loss: o.loss,
  };
}
