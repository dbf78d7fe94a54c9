// The differentiable ops: each forward calls one native op and records its gradient, built
// from other native ops, right beside it. Shapes: activations (N, D, H, W, C); conv weights
// (kd, kh, kw, Cin, Cout).
import { native, type Attrs } from '../../bindings/native.js';
import { backward as tapeBackward, record } from './tape.js';
import { Tensor, VnetError, fromNative, tensor, zeros, type DType } from './tensor.js';

/** One row of the op profile: a native op, or a convolution direction at one shape. */
export interface OpProfileRow {
  op: string;
  calls: number;
  ms: number;
  /** Convolutions: the dense FLOP count of all calls (2 x multiply-adds, every tap counted). */
  flops?: number;
}

/** Per-op call counts and milliseconds, collected while profiling is on (CPU ops are synchronous;
 * on CUDA the times are launch times). Convolutions are keyed by direction and shape. */
export const opProfile = {
  enabled: false,
  stats: new Map<string, OpProfileRow>(),
  start(): void {
    this.stats.clear();
    this.enabled = true;
  },
  stop(): OpProfileRow[] {
    this.enabled = false;
    return [...this.stats.values()].map((s) => ({ ...s })).sort((a, b) => b.ms - a.ms);
  },
};

// A conv direction's profile key and dense FLOPs: 2 x (dy voxels x K) x taps x C, where dy is
// the K-channel side (y of fprop, the first input of dgrad, the second of wgrad) and w the
// (kd, kh, kw, C, K) weights (an input, or wgrad's output).
function convProfileKey(op: string, inputs: Tensor[], out: Tensor[], attrs: Attrs): { key: string; flops: number } | undefined {
  const dy = op === 'conv3d_fprop' ? out[0] : op === 'conv3d_dgrad' ? inputs[0] : op === 'conv3d_wgrad' ? inputs[1] : undefined;
  const w = op === 'conv3d_wgrad' ? out[0] : inputs[1];
  if (!dy || !w || w.shape.length !== 5) return undefined;
  const stride = Array.isArray(attrs.stride) ? (attrs.stride as number[]).join(',') : '1';
  const key = `${op} ${inputs[0].shape.join('x')} w ${w.shape.join('x')} s${stride}`;
  return { key, flops: (2 * dy.size * w.size) / w.shape[4] };
}

/** Runs a native op and wraps its outputs. */
export function runOp(op: string, inputs: Tensor[], attrs: Attrs = {}): Tensor[] {
  try {
    if (opProfile.enabled) {
      const t0 = performance.now();
      const out = native.run(op, inputs.map((t) => t.handle), attrs).map(fromNative);
      const ms = performance.now() - t0;
      const conv = op.startsWith('conv3d_') ? convProfileKey(op, inputs, out, attrs) : undefined;
      const key = conv?.key ?? op;
      const s = opProfile.stats.get(key) ?? { op: key, calls: 0, ms: 0, ...(conv ? { flops: 0 } : {}) };
      s.calls++;
      s.ms += ms;
      if (conv) s.flops = (s.flops ?? 0) + conv.flops;
      opProfile.stats.set(key, s);
      return out;
    }
    return native.run(op, inputs.map((t) => t.handle), attrs).map(fromNative);
  } catch (e) {
    const err = e as Error & { code?: string };
    throw new VnetError(err.message, err.code ?? 'VNET_E_INTERNAL');
  }
}

const one = (op: string, inputs: Tensor[], attrs: Attrs = {}): Tensor => runOp(op, inputs, attrs)[0];

export type Triple = [number, number, number];
export type Padding = 'same' | 'valid' | Triple;

/** Front and back padding per axis; 'same' follows TF (out = ceil(in / stride)). */
export function convPads(inSpatial: readonly number[], ksize: readonly number[], stride: Triple, padding: Padding): { pad: Triple; padBack: Triple } {
  const pad: Triple = [0, 0, 0];
  const padBack: Triple = [0, 0, 0];
  for (let i = 0; i < 3; i++) {
    if (padding === 'same') {
      const out = Math.ceil(inSpatial[i] / stride[i]);
      const total = Math.max((out - 1) * stride[i] + ksize[i] - inSpatial[i], 0);
      pad[i] = Math.floor(total / 2);
      padBack[i] = total - pad[i];
    } else if (padding !== 'valid') {
      pad[i] = padBack[i] = padding[i];
    }
  }
  return { pad, padBack };
}

export interface ConvOpts {
  stride?: Triple;
  padding?: Padding;
}

/** 3-D convolution, x (N,D,H,W,Ci) * w (kd,kh,kw,Ci,Co) -> (N,OD,OH,OW,Co). */
export function conv3d(x: Tensor, w: Tensor, opts: ConvOpts = {}): Tensor {
  const stride = opts.stride ?? [1, 1, 1];
  const ks = w.shape.slice(0, 3);
  const inSpatial = x.shape.slice(1, 4);
  const { pad, padBack } = convPads(inSpatial, ks, stride, opts.padding ?? 'same');
  const y = one('conv3d_fprop', [x, w], { stride, pad, pad_back: padBack });
  return record(y, 'conv3d', [x, w], (dy) => [
    x.requiresGrad ? one('conv3d_dgrad', [dy, w], { stride, pad, in_shape: inSpatial }) : null,
    w.requiresGrad ? one('conv3d_wgrad', [x, dy], { stride, pad, ksize: ks }) : null,
  ]);
}

/**
 * Transposed 3-D convolution (the gradient of conv3d w.r.t. its input), x (N,D,H,W,Ci) ->
 * (N, D·s, H·s, W·s, Co) for 'same' padding; w (kd,kh,kw,Co,Ci) as TF stores it.
 */
export function conv3dTranspose(x: Tensor, w: Tensor, opts: ConvOpts & { outShape?: Triple } = {}): Tensor {
  const stride = opts.stride ?? [1, 1, 1];
  const ks = w.shape.slice(0, 3);
  const out: Triple = opts.outShape ?? [x.shape[1] * stride[0], x.shape[2] * stride[1], x.shape[3] * stride[2]];
  const { pad } = convPads(out, ks, stride, opts.padding ?? 'same');
  const y = one('conv3d_dgrad', [x, w], { stride, pad, in_shape: out });
  return record(y, 'conv3dTranspose', [x, w], (dy) => [
    x.requiresGrad ? one('conv3d_fprop', [dy, w], { stride, pad, pad_back: backPad(out, ks, stride, pad, x.shape) }) : null,
    w.requiresGrad ? one('conv3d_wgrad', [dy, x], { stride, pad, ksize: ks }) : null,
  ]);
}

// The back padding that makes a conv over `inSpatial` produce exactly xShape's spatial size.
function backPad(inSpatial: readonly number[], ks: readonly number[], stride: Triple, pad: Triple, xShape: readonly number[]): Triple {
  return [0, 1, 2].map((i) => (xShape[1 + i] - 1) * stride[i] + ks[i] - inSpatial[i] - pad[i]) as Triple;
}

export function biasAdd(x: Tensor, b: Tensor): Tensor {
  const y = one('bias_add', [x, b]);
  return record(y, 'biasAdd', [x, b], (dy) => [
    x.requiresGrad ? one('scale', [dy], { alpha: 1 }) : null,
    b.requiresGrad ? one('sum_over_rows', [dy]) : null,
  ]);
}

export function relu(x: Tensor): Tensor {
  const y = one('relu', [x]);
  return record(y, 'relu', [x], (dy) => [one('relu_bwd', [dy, y])]);
}

/** a + b, where b has the same shape or one channel broadcast over a's channels. */
export function add(a: Tensor, b: Tensor): Tensor {
  const y = one('add', [a, b]);
  const bcast = a.shape[a.rank - 1] !== b.shape[b.rank - 1];
  return record(y, 'add', [a, b], (dy) => [
    a.requiresGrad ? one('scale', [dy], { alpha: 1 }) : null,
    b.requiresGrad ? (bcast ? one('sum_over_channels', [dy]) : one('scale', [dy], { alpha: 1 })) : null,
  ]);
}

/** Concatenation along the channel (last) axis. */
export function concat(a: Tensor, b: Tensor): Tensor {
  const y = one('concat', [a, b]);
  const first = a.shape[a.rank - 1];
  return record(y, 'concat', [a, b], (dy) => runOp('split', [dy], { first }));
}

/** Splits the channel axis at `first`. */
export function split(x: Tensor, first: number): [Tensor, Tensor] {
  const [a, b] = runOp('split', [x], { first });
  // Each half's gradient needs the other's, so both record a node that zero-fills the other.
  record(a, 'split0', [x], (da) => [concatGrad(da, b.shape, 'after')]);
  record(b, 'split1', [x], (db) => [concatGrad(db, a.shape, 'before')]);
  return [a, b];
}

function concatGrad(g: Tensor, otherShape: readonly number[], where: 'before' | 'after'): Tensor {
  const z = fromNative(native.zeros([...otherShape], g.dtype, g.device));
  const out = where === 'after' ? one('concat', [g, z]) : one('concat', [z, g]);
  z.dispose();
  return out;
}

export function scale(x: Tensor, alpha: number): Tensor {
  const y = one('scale', [x], { alpha });
  return record(y, 'scale', [x], (dy) => [one('scale', [dy], { alpha })]);
}

export function cast(x: Tensor, dtype: DType): Tensor {
  const y = one('cast', [x], { dtype });
  return record(y, 'cast', [x], (dy) => [one('cast', [dy], { dtype: x.dtype })]);
}

export function sumAll(x: Tensor): Tensor {
  return one('sum_all', [x]);
}

export function softmax(x: Tensor): Tensor {
  return one('softmax', [x]);
}

export function argmax(x: Tensor): Tensor {
  return one('argmax', [x]);
}

/** Batch-norm moving-average momentum: the reference's (TF's) 0.99. */
export const DEFAULT_BN_MOMENTUM = 0.99;

export interface BatchNormState {
  gamma: Tensor;
  beta: Tensor;
  runningMean: Tensor;
  runningVar: Tensor;
}

/**
 * Batch norm over all axes but the last; in training it updates the running averages. With
 * perSample (instance normalisation) the statistics are each sample's, in training and
 * inference alike, and the running averages are untouched.
 */
export function batchNorm(x: Tensor, s: BatchNormState, opts: { training: boolean; eps?: number; momentum?: number; perSample?: boolean }): Tensor {
  const eps = opts.eps ?? 1e-3;
  const ins = [x, s.gamma, s.beta, s.runningMean, s.runningVar];
  if (!opts.training && !opts.perSample) return one('batchnorm_infer', ins, { eps });
  const bwdAttrs: Record<string, number> = opts.perSample ? { per_sample: 1 } : {};
  const [y, mean, invstd] = runOp('batchnorm_train', ins, { eps, momentum: opts.momentum ?? DEFAULT_BN_MOMENTUM, ...bwdAttrs });
  return record(y, 'batchNorm', [x, s.gamma, s.beta], (dy) => {
    const [dx, dgamma, dbeta] = runOp('batchnorm_bwd', [dy, x, s.gamma, mean, invstd], bwdAttrs);
    return [dx, dgamma, dbeta];
  });
}

export interface DiceLossOpts {
  /** The reference's ε in numerator and denominator. */
  eps?: number;
  /** Weight of an added mean cross-entropy term (0: the reference's pure dice loss). */
  ceWeight?: number;
}

/**
 * Softmax over classes, then Σ_c (1 − mean_b dice[b,c]) (+ ceWeight · CE), from logits
 * (N,...,C) and integer labels (N,...). Returns the scalar loss and the probabilities
 * (which carry no gradient) and per-sample stats (N,C,2) [intersection, union].
 */
export function diceLoss(logits: Tensor, labels: Tensor, opts: DiceLossOpts = {}): { loss: Tensor; probs: Tensor; stats: Tensor } {
  const eps = opts.eps ?? 1e-6;
  const ceWeight = opts.ceWeight ?? 0;
  const [loss, probs, stats] = runOp('dice_loss', [logits, labels], { eps, ce_weight: ceWeight });
  record(loss, 'diceLoss', [logits], (dl) => {
    // dL stays on the device (no host read), so the whole backward can be captured as a CUDA Graph.
    const g = one('dice_loss_bwd', [probs, labels, stats, dl], { eps, ce_weight: ceWeight });
    return [logits.dtype === 'f32' ? g : castNoGrad(g, logits.dtype)];
  });
  return { loss, probs, stats };
}

function castNoGrad(g: Tensor, dtype: DType): Tensor {
  const c = one('cast', [g], { dtype });
  g.dispose();
  return c;
}

/**
 * Back-propagates a scalar into every leaf's .grad. The seed is `gradScale` (default 1), or a
 * tensor of root's shape whose values are read on the device (a CUDA Graph replays it with
 * whatever it holds then, e.g. the current loss scale).
 */
export function backward(root: Tensor, gradScale: number | Tensor = 1): void {
  if (typeof gradScale !== 'number') {
    tapeBackward(root, gradScale, (a, b) => one('add', [a, b]));
    return;
  }
  // Made on the device (zeros + fill), never copied from the host, for the same reason.
  const seed = zeros(root.shape, { device: root.device, dtype: root.dtype });
  if (gradScale !== 0) runOp('fill_const', [seed], { value: gradScale });
  try {
    tapeBackward(root, seed, (a, b) => one('add', [a, b]));
  } finally {
    seed.dispose();
  }
}
