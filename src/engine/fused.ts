// The V-Net's unit, conv (or transposed conv) → bias → batch norm → ReLU, as one tape node.
// Only what the backward pass needs is kept (the unit's input, the pre-norm activation, the
// output and the batch statistics); the conv output and the normalised values are freed at
// once, which cuts the activations held for backward by about half.
import { convPads, runOp, type BatchNormState, type Triple } from './ops.js';
import { record } from './tape.js';
import { zeros, type Tensor } from './tensor.js';

export interface ConvUnitOpts {
  stride: Triple;
  transposed: boolean;
  training: boolean;
  eps: number;
  momentum: number;
  /** Use the native fused bias+BN+ReLU kernels (--xla) rather than separate ops. */
  fused?: boolean;
  /**
   * Instance normalisation: statistics per sample and channel, in training and inference alike
   * (the running averages are neither read nor updated; the state's may be absent).
   */
  perSample?: boolean;
}

export function convBnRelu(x: Tensor, w: Tensor, b: Tensor, bn: BatchNormState | NormAffine, o: ConvUnitOpts): Tensor {
  const ks = w.shape.slice(0, 3);
  const inSpatial = x.shape.slice(1, 4);
  const outSpatial = (o.transposed ? inSpatial.map((d, i) => d * o.stride[i]) : inSpatial.map((d, i) => Math.ceil(d / o.stride[i]))) as Triple;
  // Geometry of the underlying convolution (for a transposed conv: the conv it is the adjoint of).
  const convIn = o.transposed ? outSpatial : (inSpatial as Triple);
  const { pad, padBack } = convPads(convIn, ks, o.stride, 'same');
  const conv = o.transposed
    ? runOp('conv3d_dgrad', [x, w], { stride: o.stride, pad, in_shape: outSpatial })[0]
    : runOp('conv3d_fprop', [x, w], { stride: o.stride, pad, pad_back: padBack })[0];
  if (o.fused && !o.perSample) return fusedTail(x, w, b, bn as BatchNormState, o, conv, { pad, padBack, ks, inSpatial });
  const pre = runOp('bias_add', [conv, b])[0];
  conv.dispose();
  if (o.perSample) return instanceNormTail(x, w, b, bn, o, pre, { pad, padBack, ks, inSpatial });
  const s = bn as BatchNormState;
  const ins = [pre, s.gamma, s.beta, s.runningMean, s.runningVar];
  if (!o.training) {
    const y = runOp('batchnorm_infer', ins, { eps: o.eps })[0];
    const out = runOp('relu', [y])[0];
    y.dispose();
    pre.dispose();
    return out;
  }
  const [y, mean, invstd] = runOp('batchnorm_train', ins, { eps: o.eps, momentum: o.momentum });
  return reluTail(x, w, b, bn, o, pre, y, mean, invstd, {}, { pad, padBack, ks, inSpatial });
}

/** The per-channel scale and shift of a normalisation (batch norm's also has running averages). */
export interface NormAffine {
  gamma: Tensor;
  beta: Tensor;
}

// Instance normalisation (batchnorm_train's per-sample statistics), the same in inference.
function instanceNormTail(x: Tensor, w: Tensor, b: Tensor, bn: NormAffine, o: ConvUnitOpts, pre: Tensor, g: Geometry): Tensor {
  // The kernel's running-average inputs, unused with per_sample.
  const unused = [0, 1].map(() => zeros([bn.gamma.size], { device: pre.device }));
  const attrs = { eps: o.eps, per_sample: 1 };
  const [y, mean, invstd] = runOp('batchnorm_train', [pre, bn.gamma, bn.beta, ...unused], attrs);
  for (const t of unused) t.dispose();
  if (o.training) return reluTail(x, w, b, bn, o, pre, y, mean, invstd, attrs, g);
  const out = runOp('relu', [y])[0];
  for (const t of [y, pre, mean, invstd]) t.dispose();
  return out;
}

interface Geometry { pad: Triple; padBack: Triple; ks: number[]; inSpatial: number[] }

// ReLU after a normalisation, and the unit's backward through both and the convolution.
function reluTail(x: Tensor, w: Tensor, b: Tensor, bn: NormAffine, o: ConvUnitOpts, pre: Tensor, y: Tensor, mean: Tensor, invstd: Tensor,
  bwdAttrs: Record<string, number>, { pad, padBack, ks, inSpatial }: Geometry): Tensor {
  const out = runOp('relu', [y])[0];
  y.dispose();
  return record(out, 'convBnRelu', [x, w, b, bn.gamma, bn.beta], (dout) => {
    const dy = runOp('relu_bwd', [dout, out])[0];
    const [dpre, dgamma, dbeta] = runOp('batchnorm_bwd', [dy, pre, bn.gamma, mean, invstd], bwdAttrs);
    dy.dispose();
    // The bias before batch norm cancels in its output (the batch mean moves with it, and so
    // does the running mean it is normalised by at inference), so its gradient, the sum of
    // dpre over all rows, is zero up to rounding: no pass over dpre to sum rounding noise.
    // So it does before instance normalisation (each sample's mean moves with it).
    const db = zeros(b.shape, { dtype: b.dtype, device: b.device });
    let dx: Tensor | null = null;
    if (x.requiresGrad)
      dx = o.transposed
        ? runOp('conv3d_fprop', [dpre, w], { stride: o.stride, pad, pad_back: padBack })[0]
        : runOp('conv3d_dgrad', [dpre, w], { stride: o.stride, pad, in_shape: inSpatial })[0];
    const dw = o.transposed
      ? runOp('conv3d_wgrad', [dpre, x], { stride: o.stride, pad, ksize: ks })[0]
      : runOp('conv3d_wgrad', [x, dpre], { stride: o.stride, pad, ksize: ks })[0];
    dpre.dispose();
    // The saved activations are needed by no one else once this node has run.
    pre.dispose();
    mean.dispose();
    invstd.dispose();
    return [dx, dw, db, dgamma, dbeta];
  });
}

// The same unit with the native fused kernels: the conv output itself is what backward keeps.
function fusedTail(x: Tensor, w: Tensor, b: Tensor, bn: BatchNormState, o: ConvUnitOpts, conv: Tensor,
  g: { pad: Triple; padBack: Triple; ks: number[]; inSpatial: number[] }): Tensor {
  const ins = [conv, b, bn.gamma, bn.beta, bn.runningMean, bn.runningVar];
  if (!o.training) {
    const out = runOp('bias_bn_relu_infer', ins, { eps: o.eps })[0];
    conv.dispose();
    return out;
  }
  const [out, mean, invstd] = runOp('bias_bn_relu_train', ins, { eps: o.eps, momentum: o.momentum });
  return record(out, 'convBnRelu', [x, w, b, bn.gamma, bn.beta], (dout) => {
    const [dconv, db, dgamma, dbeta] = runOp('bias_bn_relu_bwd', [dout, out, conv, b, bn.gamma, mean, invstd]);
    let dx: Tensor | null = null;
    if (x.requiresGrad)
      dx = o.transposed
        ? runOp('conv3d_fprop', [dconv, w], { stride: o.stride, pad: g.pad, pad_back: g.padBack })[0]
        : runOp('conv3d_dgrad', [dconv, w], { stride: o.stride, pad: g.pad, in_shape: g.inSpatial })[0];
    const dw = o.transposed
      ? runOp('conv3d_wgrad', [dconv, x], { stride: o.stride, pad: g.pad, ksize: g.ks })[0]
      : runOp('conv3d_wgrad', [x, dconv], { stride: o.stride, pad: g.pad, ksize: g.ks })[0];
    dconv.dispose();
    conv.dispose();
    mean.dispose();
    invstd.dispose();
    return [dx, dw, db, dgamma, dbeta];
  });
}
