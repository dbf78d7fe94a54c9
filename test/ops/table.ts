// The op table, one place for every op: the parity cases (shapes, attributes, tolerance per
// precision; CUDA against the CPU oracle: test/cuda_ops.test.ts, bench/gpu/run_checks.ts), the
// finite-difference gradient cases (test/engine/grad.test.ts) and the ops that have no gradient,
// each with the reason. The float64 references are in ./reference.ts (test/engine/ops.test.ts).
// Coverage of the native op list (native.ops()) by all three is asserted by those tests.
import type { Attrs } from '../../bindings/native.js';
import * as E from '../../src/engine/index.js';
import type { Tensor } from '../../src/engine/index.js';

export type Precision = 'f32' | 'f16';

export interface InputSpec {
  shape: number[];
  /** float: takes the case precision; f32: always f32; labels: i32 in [0, classes); positive: f32 in [lo, hi] */
  kind: 'float' | 'f32' | 'labels' | 'positive';
  classes?: number;
  lo?: number;
  hi?: number;
  /** value written at index 0 (e.g. Infinity for the AMP overflow check) */
  inject?: number;
}

export interface OpCase {
  name: string;
  op: string;
  inputs: InputSpec[];
  attrs?: Attrs;
  precisions: Precision[];
  /** allowed max|cuda − cpu| / max|cpu|, per precision; 0 = bit-exact */
  tol: Partial<Record<Precision, number>>;
  /** inputs updated in place, compared after the op */
  inPlace?: number[];
  /** the CPU oracle takes this op in the case precision itself (cast) */
  cpuSameDtype?: boolean;
  /** smallest scale an error is measured against (for outputs that are zero up to rounding) */
  scaleFloor?: number;
}

// Tolerances, explained: fp32 element-wise and reductions differ only by summation order or a
// fused multiply-add (1e-5); TF32 convolutions round inputs to 10 mantissa bits (~2e-3 of the
// output scale); fp16 storage rounds every stored value to 11 bits (~1e-2 with accumulation).
const F32 = 1e-5;
const TF32 = 3e-3;
const F16 = 1e-2;

const x5 = (c: number): InputSpec => ({ shape: [2, 6, 5, 4, c], kind: 'float' });
const vec = (c: number, kind: InputSpec['kind'] = 'f32', lo = -1, hi = 1): InputSpec => ({ shape: [c], kind, lo, hi });

function conv(name: string, N: number, D: number, C: number, K: number, k: number, s: number, pad: number,
              padBack: number, engine?: string): OpCase[] {
  const out = Math.floor((D + pad + padBack - k) / s) + 1;
  const base: Attrs = { stride: [s, s, s], pad: [pad, pad, pad] };
  if (engine) base.engine = engine;
  const x: InputSpec = { shape: [N, D, D, D, C], kind: 'float' };
  const w: InputSpec = { shape: [k, k, k, C, K], kind: 'float', lo: -0.2, hi: 0.2 };
  const dy: InputSpec = { shape: [N, out, out, out, K], kind: 'float' };
  const tol = { f32: TF32, f16: F16 };
  const p: Precision[] = ['f32', 'f16'];
  return [
    { name: `${name}_fprop`, op: 'conv3d_fprop', inputs: [x, w], attrs: { ...base, pad_back: [padBack, padBack, padBack] }, precisions: p, tol },
    { name: `${name}_dgrad`, op: 'conv3d_dgrad', inputs: [dy, w], attrs: { ...base, in_shape: [D, D, D] }, precisions: p, tol },
    { name: `${name}_wgrad`, op: 'conv3d_wgrad', inputs: [x, dy], attrs: { ...base, ksize: [k, k, k] }, precisions: p, tol },
  ];
}

export const OP_CASES: OpCase[] = [
  // V-Net convolutions: 5³ 'same', 2³ stride-2 down (and its transposed use = dgrad), an odd
  // size whose 'same' padding is asymmetric (explicit pad path), and the cuBLAS formulation.
  ...conv('conv5_same', 2, 8, 16, 16, 5, 1, 2, 2),
  ...conv('conv2_s2', 2, 8, 16, 32, 2, 2, 0, 0),
  ...conv('conv2_s2_odd', 1, 7, 8, 16, 2, 2, 0, 1),
  ...conv('conv3_s1_c1', 1, 9, 1, 16, 3, 1, 1, 1),
  ...conv('conv2_s2_gemm', 2, 8, 16, 32, 2, 2, 0, 0, 'gemm'),
  { name: 'bias_add', op: 'bias_add', inputs: [x5(16), vec(16)], precisions: ['f32', 'f16'], tol: { f32: F32, f16: F16 } },
  { name: 'bias_add_c3', op: 'bias_add', inputs: [x5(3), vec(3)], precisions: ['f32', 'f16'], tol: { f32: F32, f16: F16 } },
  { name: 'sum_over_rows', op: 'sum_over_rows', inputs: [x5(16)], precisions: ['f32', 'f16'], tol: { f32: F32, f16: F16 } },
  { name: 'sum_over_rows_wide', op: 'sum_over_rows', inputs: [{ shape: [3, 2, 2, 300], kind: 'float' }], precisions: ['f32'], tol: { f32: F32 } },
  { name: 'relu', op: 'relu', inputs: [x5(16)], precisions: ['f32', 'f16'], tol: { f32: 0, f16: 0 } },
  { name: 'relu_bwd', op: 'relu_bwd', inputs: [x5(16), x5(16)], precisions: ['f32', 'f16'], tol: { f32: 0, f16: 0 } },
  { name: 'add', op: 'add', inputs: [x5(16), x5(16)], precisions: ['f32', 'f16'], tol: { f32: F32, f16: F16 } },
  { name: 'add_bcast', op: 'add', inputs: [x5(16), x5(1)], precisions: ['f32', 'f16'], tol: { f32: F32, f16: F16 } },
  { name: 'sum_over_channels', op: 'sum_over_channels', inputs: [x5(16)], precisions: ['f32', 'f16'], tol: { f32: F32, f16: F16 } },
  { name: 'concat', op: 'concat', inputs: [x5(16), x5(8)], precisions: ['f32', 'f16'], tol: { f32: 0, f16: 0 } },
  { name: 'split', op: 'split', inputs: [x5(24)], attrs: { first: 16 }, precisions: ['f32', 'f16'], tol: { f32: 0, f16: 0 } },
  { name: 'softmax', op: 'softmax', inputs: [x5(3)], precisions: ['f32', 'f16'], tol: { f32: F32, f16: F16 } },
  { name: 'argmax', op: 'argmax', inputs: [x5(3)], precisions: ['f32', 'f16'], tol: { f32: 0, f16: 0 } },
  { name: 'cast_f32_f16', op: 'cast', inputs: [x5(4)], attrs: { dtype: 'f16' }, precisions: ['f32'], tol: { f32: 0 }, cpuSameDtype: true },
  { name: 'cast_f16_f32', op: 'cast', inputs: [x5(4)], attrs: { dtype: 'f32' }, precisions: ['f16'], tol: { f16: 0 }, cpuSameDtype: true },
  { name: 'cast_f32_i32', op: 'cast', inputs: [{ shape: [50], kind: 'float', lo: -20, hi: 20 }], attrs: { dtype: 'i32' }, precisions: ['f32'], tol: { f32: 0 }, cpuSameDtype: true },
  { name: 'fill_uniform', op: 'fill_uniform', inputs: [x5(16)], attrs: { lo: -0.5, hi: 0.25, seed: 1234 }, precisions: ['f32', 'f16'], tol: { f32: 0, f16: F16 }, inPlace: [0] },
  { name: 'fill_const', op: 'fill_const', inputs: [x5(16)], attrs: { value: 0.375 }, precisions: ['f32', 'f16'], tol: { f32: 0, f16: 0 }, inPlace: [0] },
  { name: 'scale', op: 'scale', inputs: [x5(16)], attrs: { alpha: -1.5 }, precisions: ['f32', 'f16'], tol: { f32: F32, f16: F16 } },
  { name: 'axpy', op: 'axpy', inputs: [x5(16), x5(16)], attrs: { alpha: 0.3 }, precisions: ['f32'], tol: { f32: F32 }, inPlace: [1] },
  { name: 'sum_all', op: 'sum_all', inputs: [x5(16)], precisions: ['f32', 'f16'], tol: { f32: F32, f16: F16 } },
  {
    name: 'batchnorm_train', op: 'batchnorm_train',
    inputs: [x5(16), vec(16, 'positive', 0.5, 1.5), vec(16), vec(16), vec(16, 'positive', 0.5, 2)],
    attrs: { eps: 1e-3, momentum: 0.9 }, precisions: ['f32', 'f16'], tol: { f32: 1e-5, f16: F16 }, inPlace: [3, 4],
  },
  {
    name: 'batchnorm_infer', op: 'batchnorm_infer',
    inputs: [x5(16), vec(16, 'positive', 0.5, 1.5), vec(16), vec(16), vec(16, 'positive', 0.5, 2)],
    precisions: ['f32', 'f16'], tol: { f32: F32, f16: F16 },
  },
  {
    name: 'batchnorm_bwd', op: 'batchnorm_bwd',
    inputs: [x5(16), x5(16), vec(16, 'positive', 0.5, 1.5), vec(16, 'f32', -0.1, 0.1), vec(16, 'positive', 0.5, 2)],
    precisions: ['f32', 'f16'], tol: { f32: 1e-4, f16: F16 },
  },
  {
    name: 'bias_bn_relu_train', op: 'bias_bn_relu_train',
    inputs: [x5(16), vec(16), vec(16, 'positive', 0.5, 1.5), vec(16), vec(16), vec(16, 'positive', 0.5, 2)],
    attrs: { eps: 1e-3, momentum: 0.9 }, precisions: ['f32', 'f16'], tol: { f32: 1e-5, f16: F16 }, inPlace: [4, 5],
  },
  {
    name: 'bias_bn_relu_infer', op: 'bias_bn_relu_infer',
    inputs: [x5(16), vec(16), vec(16, 'positive', 0.5, 1.5), vec(16), vec(16), vec(16, 'positive', 0.5, 2)],
    precisions: ['f32', 'f16'], tol: { f32: F32, f16: F16 },
  },
  {
    // The bias gradient is zero up to rounding: measured against a floor of 1, not its own size.
    name: 'bias_bn_relu_bwd', op: 'bias_bn_relu_bwd',
    inputs: [x5(16), x5(16), x5(16), vec(16), vec(16, 'positive', 0.5, 1.5), vec(16, 'f32', -0.1, 0.1), vec(16, 'positive', 0.5, 2)],
    precisions: ['f32', 'f16'], tol: { f32: 1e-4, f16: F16 }, scaleFloor: 1,
  },
  {
    name: 'dice_loss', op: 'dice_loss',
    inputs: [{ shape: [2, 6, 5, 4, 3], kind: 'float', lo: -3, hi: 3 }, { shape: [2, 6, 5, 4], kind: 'labels', classes: 3 }],
    attrs: { eps: 1e-6 }, precisions: ['f32', 'f16'], tol: { f32: 1e-5, f16: F16 },
  },
  {
    name: 'dice_loss_ce', op: 'dice_loss',
    inputs: [{ shape: [2, 6, 5, 4, 3], kind: 'float', lo: -3, hi: 3 }, { shape: [2, 6, 5, 4], kind: 'labels', classes: 3 }],
    attrs: { eps: 1e-6, ce_weight: 0.5 }, precisions: ['f32'], tol: { f32: 1e-5 },
  },
  {
    name: 'dice_loss_bwd', op: 'dice_loss_bwd',
    inputs: [{ shape: [2, 6, 5, 4, 3], kind: 'positive', lo: 0, hi: 1 }, { shape: [2, 6, 5, 4], kind: 'labels', classes: 3 },
             { shape: [2, 3, 2], kind: 'positive', lo: 5, hi: 60 }, { shape: [1], kind: 'positive', lo: 0.5, hi: 2 }],
    attrs: { eps: 1e-6, ce_weight: 0.5, scale: 2 }, precisions: ['f32'], tol: { f32: 1e-5 },
  },
  {
    name: 'rmsprop_step', op: 'rmsprop_step',
    inputs: [vec(1000), vec(1000), vec(1000, 'positive', 1, 2), vec(1000, 'f32', -0.5, 0.5), vec(1000, 'f32', -0.1, 0.1)],
    attrs: { lr: 0.01, rho: 0.9, momentum: 0.5, eps: 1e-10, centered: true }, precisions: ['f32'], tol: { f32: 1e-5 },
    inPlace: [0, 2, 3, 4],
  },
  {
    name: 'adam_step', op: 'adam_step', inputs: [vec(1000), vec(1000), vec(1000, 'f32', -0.1, 0.1), vec(1000, 'positive', 0.01, 0.1)],
    attrs: { lr: 0.001, step: 3 }, precisions: ['f32'], tol: { f32: 1e-5 }, inPlace: [0, 2, 3],
  },
  {
    name: 'sgd_step', op: 'sgd_step', inputs: [vec(1000), vec(1000), vec(1000)], attrs: { lr: 0.1, momentum: 0.9 },
    precisions: ['f32'], tol: { f32: 1e-5 }, inPlace: [0, 2],
  },
  {
    name: 'sgd_step_nesterov', op: 'sgd_step', inputs: [vec(1000), vec(1000), vec(1000)], attrs: { lr: 0.01, momentum: 0.99, nesterov: 1, weight_decay: 3e-5 },
    precisions: ['f32'], tol: { f32: 1e-5 }, inPlace: [0, 2],
  },
  { name: 'amp_unscale', op: 'amp_unscale', inputs: [vec(1000)], attrs: { inv_scale: 1 / 1024 }, precisions: ['f32'], tol: { f32: 0 }, inPlace: [0] },
  {
    name: 'amp_unscale_inf', op: 'amp_unscale', inputs: [{ shape: [1000], kind: 'f32', inject: Infinity }],
    attrs: { inv_scale: 1 / 1024 }, precisions: ['f32'], tol: { f32: 0 }, inPlace: [0],
  },
];


// Tails and odd shapes, for the CUDA kernels (the host shim in CI, test/cuda-host/, and the GPU
// check): element counts that are not a multiple of 4 (the vector loops' scalar tails), more
// elements than one pass of a capped grid covers (grid-stride loops wrap), odd channel counts,
// more than 256 channels (a second channel tile with a remainder), several row slices in the
// per-channel reductions and the dice loss, batched transposes in the channels-first
// convolution path. They would only slow the CPU's own op tests, which use OP_CASES.
const xt = (c: number): InputSpec => ({ shape: [2, 9, 11, 13, c], kind: 'float' });
const wide: InputSpec = { shape: [2, 3, 5, 7, 300], kind: 'float' };
const bnIn = (x: InputSpec, C: number): InputSpec[] => [x, vec(C, 'positive', 0.5, 1.5), vec(C), vec(C), vec(C, 'positive', 0.5, 2)];
const both: Precision[] = ['f32', 'f16'];
const tol = { f32: F32, f16: F16 };
const diceX: InputSpec = { shape: [2, 13, 15, 17, 3], kind: 'float', lo: -3, hi: 3 };
const diceY: InputSpec = { shape: [2, 13, 15, 17], kind: 'labels', classes: 3 };
export const TAIL_CASES: OpCase[] = [
  ...conv('tail_conv3_c3', 1, 5, 3, 5, 3, 1, 1, 1),
  ...conv('tail_conv3_s2_n3', 3, 5, 6, 7, 3, 2, 1, 1),
  { name: 'tail_bias_add', op: 'bias_add', inputs: [xt(17), vec(17)], precisions: both, tol },
  { name: 'tail_relu', op: 'relu', inputs: [xt(17)], precisions: both, tol: { f32: 0, f16: 0 } },
  { name: 'tail_relu_bwd', op: 'relu_bwd', inputs: [xt(17), xt(17)], precisions: both, tol: { f32: 0, f16: 0 } },
  { name: 'tail_add', op: 'add', inputs: [xt(17), xt(17)], precisions: both, tol },
  { name: 'tail_add_bcast', op: 'add', inputs: [xt(17), xt(1)], precisions: both, tol },
  { name: 'tail_scale', op: 'scale', inputs: [xt(17)], attrs: { alpha: 0.75 }, precisions: both, tol },
  { name: 'tail_axpy', op: 'axpy', inputs: [xt(17), xt(17)], attrs: { alpha: -0.5 }, precisions: ['f32'], tol: { f32: F32 }, inPlace: [1] },
  { name: 'tail_sum_all', op: 'sum_all', inputs: [xt(17)], precisions: both, tol },
  { name: 'tail_sum_over_rows', op: 'sum_over_rows', inputs: [xt(17)], precisions: both, tol },
  { name: 'tail_sum_over_rows_wide', op: 'sum_over_rows', inputs: [wide], precisions: both, tol },
  { name: 'tail_sum_over_channels', op: 'sum_over_channels', inputs: [xt(17)], precisions: both, tol },
  { name: 'tail_concat', op: 'concat', inputs: [xt(17), xt(6)], precisions: both, tol: { f32: 0, f16: 0 } },
  { name: 'tail_split', op: 'split', inputs: [xt(23)], attrs: { first: 17 }, precisions: both, tol: { f32: 0, f16: 0 } },
  { name: 'tail_softmax', op: 'softmax', inputs: [xt(5)], precisions: both, tol },
  { name: 'tail_argmax', op: 'argmax', inputs: [xt(5)], precisions: both, tol: { f32: 0, f16: 0 } },
  { name: 'tail_cast_f32_f16', op: 'cast', inputs: [xt(3)], attrs: { dtype: 'f16' }, precisions: ['f32'], tol: { f32: 0 }, cpuSameDtype: true },
  { name: 'tail_cast_f16_f32', op: 'cast', inputs: [xt(3)], attrs: { dtype: 'f32' }, precisions: ['f16'], tol: { f16: 0 }, cpuSameDtype: true },
  { name: 'tail_cast_f32_i32', op: 'cast', inputs: [{ shape: [4099], kind: 'float', lo: -50, hi: 50 }], attrs: { dtype: 'i32' }, precisions: ['f32'], tol: { f32: 0 }, cpuSameDtype: true },
  { name: 'tail_fill_uniform', op: 'fill_uniform', inputs: [xt(17)], attrs: { lo: -2, hi: 3, seed: 99 }, precisions: both, tol: { f32: 0, f16: F16 }, inPlace: [0] },
  { name: 'tail_fill_const', op: 'fill_const', inputs: [xt(17)], attrs: { value: -1.25 }, precisions: both, tol: { f32: 0, f16: 0 }, inPlace: [0] },
  { name: 'tail_batchnorm_train', op: 'batchnorm_train', inputs: bnIn(xt(17), 17), attrs: { eps: 1e-3, momentum: 0.9 }, precisions: both, tol: { f32: 1e-5, f16: F16 }, inPlace: [3, 4] },
  { name: 'tail_batchnorm_train_wide', op: 'batchnorm_train', inputs: bnIn(wide, 300), attrs: { eps: 1e-3, momentum: 0.9 }, precisions: ['f32'], tol: { f32: 1e-5 }, inPlace: [3, 4] },
  { name: 'tail_batchnorm_infer', op: 'batchnorm_infer', inputs: bnIn(xt(17), 17), precisions: both, tol },
  {
    name: 'tail_batchnorm_bwd', op: 'batchnorm_bwd',
    inputs: [xt(17), xt(17), vec(17, 'positive', 0.5, 1.5), vec(17, 'f32', -0.1, 0.1), vec(17, 'positive', 0.5, 2)],
    precisions: both, tol: { f32: 1e-4, f16: F16 },
  },
  {
    name: 'tail_bias_bn_relu_train', op: 'bias_bn_relu_train', inputs: [xt(17), vec(17), ...bnIn(xt(17), 17).slice(1)],
    attrs: { eps: 1e-3, momentum: 0.9 }, precisions: both, tol: { f32: 1e-5, f16: F16 }, inPlace: [4, 5],
  },
  { name: 'tail_bias_bn_relu_infer', op: 'bias_bn_relu_infer', inputs: [xt(17), vec(17), ...bnIn(xt(17), 17).slice(1)], precisions: both, tol },
  {
    name: 'tail_bias_bn_relu_bwd', op: 'bias_bn_relu_bwd',
    inputs: [xt(17), xt(17), xt(17), vec(17), vec(17, 'positive', 0.5, 1.5), vec(17, 'f32', -0.1, 0.1), vec(17, 'positive', 0.5, 2)],
    precisions: both, tol: { f32: 1e-4, f16: F16 }, scaleFloor: 1,
  },
  { name: 'tail_dice_loss_ce', op: 'dice_loss', inputs: [diceX, diceY], attrs: { eps: 1e-6, ce_weight: 0.5 }, precisions: both, tol: { f32: 1e-5, f16: F16 } },
  {
    name: 'tail_dice_loss_bwd', op: 'dice_loss_bwd',
    inputs: [{ ...diceX, kind: 'positive', lo: 0, hi: 1 }, diceY, { shape: [2, 3, 2], kind: 'positive', lo: 50, hi: 600 }, { shape: [1], kind: 'positive', lo: 0.5, hi: 2 }],
    attrs: { eps: 1e-6, ce_weight: 0.5, scale: 2 }, precisions: ['f32'], tol: { f32: 1e-5 },
  },
  {
    name: 'tail_rmsprop_step', op: 'rmsprop_step',
    inputs: [vec(4099), vec(4099), vec(4099, 'positive', 1, 2), vec(4099, 'f32', -0.5, 0.5), vec(4099, 'f32', -0.1, 0.1)],
    attrs: { lr: 0.01, rho: 0.9, momentum: 0.5, eps: 1e-10, centered: true }, precisions: ['f32'], tol: { f32: 1e-5 }, inPlace: [0, 2, 3, 4],
  },
  {
    name: 'tail_adam_step', op: 'adam_step', inputs: [vec(4099), vec(4099), vec(4099, 'f32', -0.1, 0.1), vec(4099, 'positive', 0.01, 0.1)],
    attrs: { lr: 0.001, step: 7 }, precisions: ['f32'], tol: { f32: 1e-5 }, inPlace: [0, 2, 3],
  },
  { name: 'tail_sgd_step', op: 'sgd_step', inputs: [vec(4099), vec(4099), vec(4099)], attrs: { lr: 0.1, momentum: 0.9 }, precisions: ['f32'], tol: { f32: 1e-5 }, inPlace: [0, 2] },
  { name: 'tail_sgd_step_nesterov', op: 'sgd_step', inputs: [vec(4099), vec(4099), vec(4099)], attrs: { lr: 0.01, momentum: 0.99, nesterov: 1, weight_decay: 3e-5 }, precisions: ['f32'], tol: { f32: 1e-5 }, inPlace: [0, 2] },
  { name: 'tail_amp_unscale_inf', op: 'amp_unscale', inputs: [{ shape: [4099], kind: 'f32', inject: -Infinity }], attrs: { inv_scale: 1 / 256 }, precisions: ['f32'], tol: { f32: 0 }, inPlace: [0] },
];

// ---- gradient cases (finite differences, test/engine/grad.test.ts) --------------------------
export interface GradCase {
  name: string;
  inputs: { shape: number[]; lo?: number; hi?: number }[];
  /** `labels`: integer labels in [0, 3) of shape `labels` when the case has them */
  f: (xs: Tensor[], dev: E.DeviceName, labels: Int32Array) => Tensor;
  /** FD step: linear ops tolerate a large one (exact up to rounding). */
  h: number;
  rtol: number;
  labels?: number[];
  /** keep inputs this far from 0 (ReLU's kink, where the derivative does not exist) */
  awayFromZero?: number;
  /** the case runs on the CPU only, for this reason (printed where it is skipped) */
  cpuOnly?: string;
}

export const bnState = (C: number, dev: E.DeviceName): E.BatchNormState => ({
  gamma: E.tensor(Float32Array.from({ length: C }, (_, i) => 0.8 + 0.1 * i), [C], { device: dev, requiresGrad: true }),
  beta: E.tensor(Float32Array.from({ length: C }, (_, i) => 0.1 * i), [C], { device: dev, requiresGrad: true }),
  runningMean: E.zeros([C], { device: dev }),
  runningVar: E.fill([C], 1, dev),
});

export const GRAD_CASES: GradCase[] = [
  { name: 'conv3d 3^3 same', inputs: [{ shape: [1, 3, 4, 3, 2] }, { shape: [3, 3, 3, 2, 3] }], f: ([x, w]) => E.conv3d(x, w), h: 0.5, rtol: 1e-3 },
  { name: 'conv3d 2^3 stride 2', inputs: [{ shape: [2, 4, 4, 2, 3] }, { shape: [2, 2, 2, 3, 2] }], f: ([x, w]) => E.conv3d(x, w, { stride: [2, 2, 2] }), h: 0.5, rtol: 1e-3 },
  { name: 'conv3dTranspose 2^3 stride 2', inputs: [{ shape: [1, 2, 3, 2, 3] }, { shape: [2, 2, 2, 2, 3] }], f: ([x, w]) => E.conv3dTranspose(x, w, { stride: [2, 2, 2] }), h: 0.5, rtol: 1e-3 },
  { name: 'conv3dTranspose 3^3 stride 1', inputs: [{ shape: [1, 3, 3, 2, 2] }, { shape: [3, 3, 3, 3, 2] }], f: ([x, w]) => E.conv3dTranspose(x, w), h: 0.5, rtol: 1e-3 },
  { name: 'biasAdd', inputs: [{ shape: [2, 3, 4] }, { shape: [4] }], f: ([x, b]) => E.biasAdd(x, b), h: 0.5, rtol: 1e-3 },
  { name: 'relu', inputs: [{ shape: [50] }], f: ([x]) => E.relu(x), h: 1e-3, rtol: 1e-2, awayFromZero: 0.05 },
  { name: 'add (1->C broadcast)', inputs: [{ shape: [2, 3, 4] }, { shape: [2, 3, 1] }], f: ([a, b]) => E.add(a, b), h: 0.5, rtol: 1e-3 },
  { name: 'concat', inputs: [{ shape: [2, 3, 2] }, { shape: [2, 3, 3] }], f: ([a, b]) => E.concat(a, b), h: 0.5, rtol: 1e-3 },
  { name: 'split', inputs: [{ shape: [2, 5] }], f: ([x]) => { const [a, b] = E.split(x, 2); return E.concat(E.scale(b, 2), a); }, h: 0.5, rtol: 1e-3 },
  { name: 'scale', inputs: [{ shape: [7] }], f: ([x]) => E.scale(x, -1.5), h: 0.5, rtol: 1e-3 },
  // Through fp16 and back: the derivative is 1 up to fp16 rounding of x ± h (~5e-4).
  { name: 'cast f32 -> f16 -> f32', inputs: [{ shape: [7] }], f: ([x]) => E.cast(E.cast(x, 'f16'), 'f32'), h: 0.5, rtol: 1e-2 },
  {
    name: 'batchNorm (training)', inputs: [{ shape: [2, 3, 2, 3], lo: -2, hi: 2 }],
    f: ([x], dev) => E.batchNorm(x, bnState(3, dev), { training: true }), h: 1e-2, rtol: 2e-2,
  },
  {
    name: 'instance norm (batchNorm perSample)', inputs: [{ shape: [3, 2, 3, 2, 3], lo: -2, hi: 2 }],
    f: ([x], dev) => E.batchNorm(x, bnState(3, dev), { training: true, perSample: true }), h: 1e-2, rtol: 2e-2,
    cpuOnly: 'per-sample statistics have CPU kernels only',
  },
  {
    name: 'diceLoss', inputs: [{ shape: [2, 3, 2, 2, 3], lo: -2, hi: 2 }], labels: [2, 3, 2, 2],
    f: ([x], dev, lab) => E.diceLoss(x, E.tensor(lab, [2, 3, 2, 2], { device: dev })).loss, h: 1e-2, rtol: 2e-2,
  },
  {
    name: 'diceLoss + cross-entropy', inputs: [{ shape: [2, 2, 2, 3, 3], lo: -2, hi: 2 }], labels: [2, 2, 2, 3],
    f: ([x], dev, lab) => E.diceLoss(x, E.tensor(lab, [2, 2, 2, 3], { device: dev }), { ceWeight: 1 }).loss, h: 1e-2, rtol: 2e-2,
  },
];

/**
 * The native ops no gradient goes through, each with the reason. Every other op of native.ops()
 * must be run by the gradient checks (grad.test.ts traces what they run and asserts it).
 */
export const NON_DIFFERENTIABLE: Record<string, string> = {
  batchnorm_infer: 'inference only (training uses batchnorm_train)',
  bias_bn_relu_infer: 'inference only (training uses bias_bn_relu_train)',
  softmax: 'prediction output; the training softmax is inside dice_loss and dice_loss_bwd',
  argmax: 'integer output',
  fill_uniform: 'initialiser, writes in place',
  fill_const: 'initialiser and backward seed, writes in place',
  sum_all: 'metric reduction, read on the host',
  axpy: 'in-place update after the backward',
  rmsprop_step: 'optimizer update, in place',
  adam_step: 'optimizer update, in place',
  sgd_step: 'optimizer update, in place',
  amp_unscale: 'AMP gradient unscale and finite check, in place',
};

/** Records the name of every native op run from now on into `seen`; returns the undo. */
export function traceOps(native: { run: (op: string, ...rest: never[]) => unknown }, seen: Set<string>): () => void {
  const orig = native.run;
  native.run = ((op: string, ...rest: never[]) => (seen.add(op), orig.call(native, op, ...rest))) as typeof orig;
  return () => { native.run = orig; };
}
