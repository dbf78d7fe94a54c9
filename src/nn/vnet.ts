// The V-Net of the reference (NVIDIA's TF1 V-Net, spec §1): conv→BN→ReLU units, strided-conv
// downsampling, transposed-conv upsampling, concat-then-residual decoder, no finest skip, a
// k³ output conv. Parameter names follow TF's auto-naming (vnet/conv3d_7/kernel, ...).
import * as E from '../engine/index.js';
import type { DeviceName, Tensor, Triple } from '../engine/index.js';
import { ParamStore } from './module.js';

export interface VNetConfig {
  inputShape: Triple; // (x, y, z) = tensor (D, H, W)
  nClasses: number;
  downscaleBlocks: number[];
  upscaleBlocks: number[];
  convolutionSize: 3 | 5;
  baseFilters: number;
  bnMomentum: number;
  bnEps: number;
  /**
   * 'none' drops batch norm from every unit (conv → bias → ReLU), e.g. for exact data-parallel
   * checks; 'instancenorm' normalises each sample and channel on its own (nnU-Net's choice), the
   * same in training and inference, with a learnt scale and shift per channel.
   */
  normalization?: 'batchnorm' | 'none' | 'instancenorm';
  /**
   * 'none': trained on patches at the volume's own resolution (--resize none), so inference
   * slides windows of inputShape over the whole volume; absent: the reference's resize.
   */
  resize?: 'none';
  /**
   * Deep supervision (--deep_supervision): a 1³ output convolution on every decoder level but
   * the coarsest (which nnU-Net's weights give 0), used only by the training loss.
   */
  deepSupervision?: boolean;
  /** Input channels (modalities); absent: 1, the reference's. */
  inChannels?: number;
  /**
   * How each input channel was normalised in training (data/intensity.ts's ChannelNorm), kept
   * with the model so every inference path feeds it alike; absent: z-score per volume.
   */
  intensity?: InputNormalization[];
  /** Full-resolution models: the voxel spacing (mm, x y z) every volume is resampled to first; absent: each keeps its own. */
  targetSpacing?: Triple;
  /** Images resampled to targetSpacing by cubic convolution; absent: linear. */
  imageInterpolation?: 'cubic';
}

/** One channel's normalisation, as data/intensity.ts defines and applies it (the model only records it). */
export interface InputNormalization {
  scheme: 'zscore' | 'ct' | 'none';
  clip?: [number, number];
  mean?: number;
  std?: number;
}

export const defaultVNetConfig: VNetConfig = {
  inputShape: [32, 32, 32],
  nClasses: 3,
  downscaleBlocks: [3, 3, 3],
  upscaleBlocks: [3, 3],
  convolutionSize: 3,
  baseFilters: 16,
  bnMomentum: E.DEFAULT_BN_MOMENTUM,
  bnEps: 1e-3,
};

export class ConfigError extends Error {
  readonly code = 'VNET_E_CONFIG';
}

/** Throws a ConfigError naming the flag when the block lists and input shape do not fit. */
export function validateVNetConfig(c: VNetConfig): void {
  const L = c.downscaleBlocks.length;
  if (L < 1) throw new ConfigError('--downscale_blocks needs at least one level');
  if (c.upscaleBlocks.length !== L - 1)
    throw new ConfigError(`--upscale_blocks must have one entry fewer than --downscale_blocks (${L - 1} for ${L} levels), got ${c.upscaleBlocks.length}`);
  for (const [flag, list] of [['--downscale_blocks', c.downscaleBlocks], ['--upscale_blocks', c.upscaleBlocks]] as const)
    if (list.some((d) => !Number.isInteger(d) || d < 1)) throw new ConfigError(`${flag} entries must be positive integers, got ${list.join(' ')}`);
  if (c.convolutionSize !== 3 && c.convolutionSize !== 5) throw new ConfigError(`--convolution_size must be 3 or 5, got ${c.convolutionSize}`);
  if (c.inputShape.length !== 3 || c.inputShape.some((d) => !Number.isInteger(d) || d < 1 || d % 2 ** L !== 0))
    throw new ConfigError(`--input_shape ${c.inputShape.join(' ')}: each size must be a positive multiple of 2^${L} = ${2 ** L} for ${L} downscale levels`);
  if (!Number.isInteger(c.nClasses) || c.nClasses < 2) throw new ConfigError(`the dataset must have at least 2 labels, got ${c.nClasses}`);
  const C = c.inChannels ?? 1;
  if (!Number.isInteger(C) || C < 1 || C > 64) throw new ConfigError(`the model needs 1..64 input channels, got ${C}`);
  if (c.intensity !== undefined && c.intensity.length !== C) throw new ConfigError(`${c.intensity.length} channel normalisations for ${C} input channels`);
  if (c.targetSpacing !== undefined && (c.targetSpacing.length !== 3 || c.targetSpacing.some((s) => !(Number.isFinite(s) && s > 0))))
    throw new ConfigError(`--target_spacing needs three positive sizes in mm, got ${c.targetSpacing.join(' ')}`);
  if (c.targetSpacing !== undefined && c.resize !== 'none') throw new ConfigError('--target_spacing is for --resize none models (resized models read every volume at --input_shape)');
  if (c.imageInterpolation !== undefined && (c.imageInterpolation !== 'cubic' || c.resize !== 'none'))
    throw new ConfigError(`--resize_interpolator ${c.imageInterpolation}: cubic is for --resize none models, where images are resampled to a target spacing (the reference's resize is linear)`);
  if (c.deepSupervision && L < 3) throw new ConfigError(`--deep_supervision needs at least 3 --downscale_blocks levels (2 decoder levels), got ${L}`);
}

/**
 * The input block's residual over `filters` channels: one channel is broadcast (the reference);
 * C channels are tiled, output channel j taking input channel j mod C.
 */
function inputResidual(x: Tensor, filters: number): Tensor {
  const C = x.shape[4];
  if (C === 1) return x;
  let t = x;
  while (t.shape[4] < filters) t = E.concat(t, x);
  return t.shape[4] > filters ? E.split(t, filters)[0] : t;
}

interface Layer {
  name: string; // the spec's layer name, e.g. down1.res2
  kind: 'conv' | 'pool' | 'tconv' | 'out';
  cin: number;
  cout: number;
  k: number;
  outGrid: Triple;
}

interface ConvUnit {
  kernel: Tensor;
  bias: Tensor;
  bn?: E.BatchNormState | E.NormAffine;
  relu: boolean;
  stride: number;
  transposed: boolean;
}

export class VNet {
  readonly store = new ParamStore();
  readonly config: VNetConfig;
  readonly layers: Layer[] = [];
  training = true;
  /** 'f16': AMP (fp16 convolutions and activations over fp32 master weights, fp32 loss). */
  precision: 'f32' | 'f16' = 'f32';
  /**
   * Native fused bias+BN+ReLU kernels: always on the CPU, where they measured faster (a batch-8
   * training step spends 48 ms in them against 69 ms in the separate bias, batch-norm and ReLU
   * passes, and keeps 8 MB less live), on CUDA with --xla.
   */
  fused: boolean;
  private counters = { conv3d: 0, conv3d_transpose: 0, batch_normalization: 0, instance_normalization: 0 };
  private units = new Map<string, ConvUnit>();

  constructor(config: Partial<VNetConfig> = {}, opts: { seed?: number; device?: DeviceName } = {}) {
    this.config = { ...defaultVNetConfig, ...config };
    validateVNetConfig(this.config);
    const seed = opts.seed ?? 0;
    const device = opts.device ?? 'cpu';
    if (this.config.normalization === 'instancenorm' && device !== 'cpu')
      throw new ConfigError('--normalization_layer instancenorm runs on the CPU only for now (its per-sample kernels have no CUDA version)');
    this.fused = device === 'cpu';
    // Build in the reference's creation order so TF-style names line up with its variables.
    E.tidy(() => this.build(seed, device));
  }

  private tfName(kind: keyof VNet['counters']): string {
    const n = this.counters[kind]++;
    return `vnet/${kind}${n ? `_${n}` : ''}`;
  }

  private unit(layer: Omit<Layer, 'outGrid'> & { grid: Triple }, seed: number, device: DeviceName, activated: boolean): void {
    const withBn = activated && this.config.normalization !== 'none';
    const transposed = layer.kind === 'tconv';
    const k = layer.k;
    const name = this.tfName(transposed ? 'conv3d_transpose' : 'conv3d');
    const idx = this.layers.length;
    const shape = transposed ? [k, k, k, layer.cout, layer.cin] : [k, k, k, layer.cin, layer.cout];
    const kernel = this.store.addParam(`${name}/kernel`, E.glorotUniform(shape, seed * 1000 + idx, device));
    const bias = this.store.addParam(`${name}/bias`, E.zeros([layer.cout], { device }));
    let bn: E.BatchNormState | E.NormAffine | undefined;
    if (withBn && this.config.normalization === 'instancenorm') {
      const b = this.tfName('instance_normalization');
      bn = { gamma: this.store.addParam(`${b}/gamma`, E.fill([layer.cout], 1, device)), beta: this.store.addParam(`${b}/beta`, E.zeros([layer.cout], { device })) };
    } else if (withBn) {
      const b = this.tfName('batch_normalization');
      bn = {
        gamma: this.store.addParam(`${b}/gamma`, E.fill([layer.cout], 1, device)),
        beta: this.store.addParam(`${b}/beta`, E.zeros([layer.cout], { device })),
        runningMean: this.store.addBuffer(`${b}/moving_mean`, E.zeros([layer.cout], { device })),
        runningVar: this.store.addBuffer(`${b}/moving_variance`, E.fill([layer.cout], 1, device)),
      };
    }
    this.layers.push({ name: layer.name, kind: layer.kind, cin: layer.cin, cout: layer.cout, k, outGrid: layer.grid });
    this.units.set(layer.name, { kernel, bias, bn, relu: activated, stride: layer.kind === 'pool' || transposed ? 2 : 1, transposed });
  }

  private build(seed: number, device: DeviceName): void {
    const c = this.config, k = c.convolutionSize, f = c.baseFilters;
    let grid = [...c.inputShape] as Triple;
    const half = (g: Triple) => g.map((d) => d / 2) as Triple;
    const dbl = (g: Triple) => g.map((d) => d * 2) as Triple;
    this.unit({ name: 'in.conv', kind: 'conv', cin: c.inChannels ?? 1, cout: f, k, grid }, seed, device, true);
    let ch = f;
    const skips = [f];
    const heads: { cin: number; grid: Triple }[] = [];
    c.downscaleBlocks.forEach((depth, i) => {
      grid = half(grid);
      this.unit({ name: `down${i + 1}.pool`, kind: 'pool', cin: ch, cout: 2 * ch, k: 2, grid }, seed, device, true);
      ch *= 2;
      for (let j = 0; j < depth; j++) this.unit({ name: `down${i + 1}.res${j + 1}`, kind: 'conv', cin: ch, cout: ch, k, grid }, seed, device, true);
      skips.push(ch);
    });
    skips.pop();
    c.upscaleBlocks.forEach((depth, i) => {
      const skip = skips.pop()!;
      grid = dbl(grid);
      this.unit({ name: `up${i + 1}.tconv`, kind: 'tconv', cin: ch, cout: skip, k: 2, grid }, seed, device, true);
      ch = 2 * skip;
      for (let j = 0; j < depth; j++) this.unit({ name: `up${i + 1}.res${j + 1}`, kind: 'conv', cin: ch, cout: ch, k, grid }, seed, device, true);
      heads.push({ cin: ch, grid });
    });
    grid = dbl(grid);
    this.unit({ name: 'out.tconv', kind: 'tconv', cin: ch, cout: skips.pop()!, k: 2, grid }, seed, device, true);
    this.unit({ name: 'out.conv', kind: 'out', cin: f, cout: c.nClasses, k, grid }, seed, device, false);
    // Created last, so every other unit keeps its TF-style name; the coarsest level has none.
    if (c.deepSupervision) heads.slice(1).forEach((h, i) => this.unit({ name: `ds${i + 2}.conv`, kind: 'out', cin: h.cin, cout: c.nClasses, k: 1, grid: h.grid }, seed, device, false));
  }

  private apply(name: string, x: Tensor): Tensor {
    const u = this.units.get(name)!;
    const s: Triple = [u.stride, u.stride, u.stride];
    // Under AMP the kernel is cast to fp16 on the tape, so its gradient lands in the fp32 master.
    const kernel = this.precision === 'f16' ? E.cast(u.kernel, 'f16') : u.kernel;
    if (u.bn)
      return E.convBnRelu(x, kernel, u.bias, u.bn, {
        stride: s, transposed: u.transposed, training: this.training, eps: this.config.bnEps, momentum: this.config.bnMomentum, fused: this.fused,
        perSample: this.config.normalization === 'instancenorm',
      });
    const y = u.transposed ? E.conv3dTranspose(x, kernel, { stride: s }) : E.conv3d(x, kernel, { stride: s });
    const z = E.biasAdd(y, u.bias);
    return u.relu ? E.relu(z) : z;
  }

  private residual(prefix: string, depth: number, r: Tensor): Tensor {
    let y = r;
    for (let j = 0; j < depth; j++) y = this.apply(`${prefix}.res${j + 1}`, y);
    return E.add(y, r);
  }

  /** x (N, D, H, W, C) -> logits (N, D, H, W, nClasses). */
  forward(x: Tensor): Tensor {
    return this.run(x, false)[0];
  }

  /**
   * Deep supervision: the full-resolution logits, then those of each supervised decoder level
   * from finer to coarser (sizes inputShape / 2, / 4, ...). Just [forward(x)] without heads.
   */
  forwardDeep(x: Tensor): Tensor[] {
    return this.run(x, !!this.config.deepSupervision);
  }

  private run(x: Tensor, deep: boolean): Tensor[] {
    const c = this.config;
    const want = [...c.inputShape, c.inChannels ?? 1];
    if (x.rank !== 5 || x.shape.slice(1).some((d, i) => d !== want[i]))
      throw new E.VnetError(`V-Net input must be (N, ${want.join(', ')}), got ${x.describe()}`, 'VNET_E_SHAPE');
    if (this.precision === 'f16' && x.dtype !== 'f16') x = E.cast(x, 'f16');
    let cur = E.add(this.apply('in.conv', x), inputResidual(x, c.baseFilters));
    const skips: Tensor[] = [cur];
    c.downscaleBlocks.forEach((depth, i) => {
      cur = this.residual(`down${i + 1}`, depth, this.apply(`down${i + 1}.pool`, cur));
      skips.push(cur);
    });
    skips.pop();
    const aux: Tensor[] = [];
    c.upscaleBlocks.forEach((depth, i) => {
      const skip = skips.pop()!;
      cur = this.residual(`up${i + 1}`, depth, E.concat(this.apply(`up${i + 1}.tconv`, cur), skip));
      if (deep && i > 0) aux.unshift(this.apply(`ds${i + 1}.conv`, cur));
    });
    // The finest skip (S0) is not used, as in the reference (spec §7.3).
    return [this.apply('out.conv', this.apply('out.tconv', cur)), ...aux];
  }

  /** The layer table: output shapes, parameters and forward FLOPs per sample (dense count). */
  summary(): { name: string; op: string; channels: string; out: string; params: number; flops: number }[] {
    return this.layers.map((l) => {
      const vox = l.outGrid.reduce((a, b) => a * b, 1);
      const taps = l.kind === 'tconv' ? 1 : l.k ** 3;
      const params = (l.kind === 'tconv' ? l.k ** 3 : l.k ** 3) * l.cin * l.cout + l.cout + (l.kind === 'out' || this.config.normalization === 'none' ? 0 : 2 * l.cout);
      const op = l.kind === 'tconv' ? `tconv${l.k}³ s2` : l.kind === 'pool' ? `conv${l.k}³ s2` : `conv${l.k}³ s1`;
      return { name: l.name, op, channels: `${l.cin}→${l.cout}`, out: `${l.outGrid.join('×')}×${l.cout}`, params, flops: 2 * vox * l.cout * taps * l.cin };
    });
  }

  /** The number of input channels. */
  get inChannels(): number {
    return this.config.inChannels ?? 1;
  }

  get parameters(): Map<string, Tensor> {
    return this.store.params;
  }

  dispose(): void {
    this.store.dispose();
  }
}
