// The training loss, with deep supervision when the model has it (--deep_supervision): the
// dice (+ CE) loss of the full-resolution output plus those of the decoder levels against
// labels subsampled to their grids, weighted as nnU-Net does (1, 1/2, 1/4, ... with the
// coarsest decoder level at 0 — it has no head — normalised to sum 1). Without it, the loss is
// exactly the reference's single term.
import * as E from '../engine/index.js';
import type { Shape3 } from '../data/nifti.js';
import type { VNet } from '../nn/index.js';
import { RunError, type RunOptions } from '../config/options.js';

/** nnU-Net's weights for `levels` decoder outputs (full resolution first): 1/2^i, last 0, normalised. */
export function deepSupervisionWeights(levels: number): number[] {
  const w = Array.from({ length: levels }, (_, i) => (levels > 1 && i === levels - 1 ? 0 : 1 / 2 ** i));
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / sum);
}

/** Labels (n, D, H, W) subsampled by `factor` on every axis: voxel i of the coarse grid takes voxel factor * i. */
export function subsampleLabels(labels: Int32Array, n: number, shape: Shape3, factor: number): Int32Array {
  const [D, H, W] = shape;
  const [d, h, w] = shape.map((s) => Math.floor(s / factor));
  const out = new Int32Array(n * d * h * w);
  let o = 0;
  for (let s = 0; s < n; s++)
    for (let x = 0; x < d; x++)
      for (let y = 0; y < h; y++) {
        const row = ((s * D + x * factor) * H + y * factor) * W;
        for (let z = 0; z < w; z++) out[o++] = labels[row + z * factor];
      }
  return out;
}

/**
 * The scalar training loss of a batch (images (n, D, H, W, 1), labels (n, D, H, W)): the one loss
 * of eager steps and of the captured step (captured-step.ts). Deep supervision also needs the labels on
 * the host, to subsample them for the decoder levels.
 */
export function trainingLoss(net: VNet, x: E.Tensor, y: E.Tensor, o: Pick<RunOptions, 'loss'>, hostLabels?: Int32Array): E.Tensor {
  const ceWeight = o.loss === 'dice_ce' ? 1 : 0;
  if (!net.config.deepSupervision) return E.diceLoss(net.forward(x), y, { ceWeight }).loss;
  if (!hostLabels) throw new RunError('deep supervision needs the labels on the host (it trains eagerly)', 'VNET_E_UNSUPPORTED');
  const labels = hostLabels, n = x.shape[0];
  const outs = net.forwardDeep(x);
  // The heads exist for every supervised level; the coarsest decoder level (weight 0) has none.
  const weights = deepSupervisionWeights(outs.length + 1);
  const shape = net.config.inputShape;
  let total: E.Tensor | undefined;
  outs.forEach((logits, i) => {
    const target = i === 0 ? y : E.tensor(subsampleLabels(labels, n, shape, 2 ** i), [n, ...logits.shape.slice(1, 4)], { device: net.store.device });
    const term = E.scale(E.diceLoss(logits, target, { ceWeight }).loss, weights[i]);
    total = total ? E.add(total, term) : term;
  });
  return total!;
}
