// A trained V-Net as an ONNX model in inference mode: the graph mirrors VNet.forward (the
// input block's 1 -> 16 broadcast add, strided-conv downsampling, transposed-conv upsampling,
// concat-then-residual decoder) with the engine's exact padding, and the model's metadata says
// how to feed it (input shape, per-volume z-score, resampling, label names).
import path from 'node:path';
import { convPads, type Triple } from '../engine/index.js';
import type { VNet } from '../nn/index.js';
import { packageVersion, writeFileAtomicSync } from '../data/index.js';
import { checkExportOutput } from './output.js';
import { RunError, type ModelConfigFile } from '../config/options.js';
import { loadModel } from '../infer/model.js';
import { GraphBuilder, encodeModel, type Dims } from './onnx-graph.js';
import { unitWeights, type UnitWeights } from './weights.js';

/** Opsets the graph is written for: 13 (Softmax over one axis) up to 21. */
export const ONNX_OPSETS = { min: 13, max: 21, default: 17 } as const;

export interface ExportOptions {
  /** ONNX opset (default 17). */
  opset?: number;
  /** 'dynamic' (default) or a fixed batch size. */
  batch?: 'dynamic' | number;
  /** 'ndhwc' (default, the engine's layout; a Transpose to NCDHW inside) or 'ncdhw'. */
  layout?: 'ndhwc' | 'ncdhw';
  /** 'probabilities' (softmax over the classes, default) or 'logits'. */
  output?: 'probabilities' | 'logits';
  /**
   * Batch norm 'fold'ed into the convolutions (default) or kept as BatchNormalization nodes
   * with the moving statistics (bench/onnx.ts measures both).
   */
  batchNorm?: 'fold' | 'nodes';
  /** Also write the bytes here (atomically). */
  file?: string;
}

/** What exportOnnx needs: the network and its config.json (as loadModel returns them). */
export interface ExportableModel {
  net: VNet;
  config: ModelConfigFile;
}

function checkOptions(o: ExportOptions): Required<Omit<ExportOptions, 'file'>> {
  const opset = o.opset ?? ONNX_OPSETS.default;
  if (!Number.isInteger(opset) || opset < ONNX_OPSETS.min || opset > ONNX_OPSETS.max)
    throw new RunError(`--opset ${opset}: unsupported; the export writes opsets ${ONNX_OPSETS.min} to ${ONNX_OPSETS.max} (default ${ONNX_OPSETS.default})`, 'VNET_E_BAD_FLAG');
  const batch = o.batch ?? 'dynamic';
  if (batch !== 'dynamic' && !(Number.isInteger(batch) && batch >= 1))
    throw new RunError(`--batch ${batch}: give 'dynamic' or a positive integer`, 'VNET_E_BAD_FLAG');
  const layout = o.layout ?? 'ndhwc';
  if (layout !== 'ndhwc' && layout !== 'ncdhw') throw new RunError(`--layout ${layout}: choose ndhwc or ncdhw`, 'VNET_E_BAD_FLAG');
  const output = o.output ?? 'probabilities';
  if (output !== 'probabilities' && output !== 'logits') throw new RunError(`output ${output}: choose probabilities or logits`, 'VNET_E_BAD_FLAG');
  const batchNorm = o.batchNorm ?? 'fold';
  if (batchNorm !== 'fold' && batchNorm !== 'nodes') throw new RunError(`batchNorm ${batchNorm}: choose fold or nodes`, 'VNET_E_BAD_FLAG');
  return { opset, batch, layout, output, batchNorm };
}

/** The --batch flag: 'dynamic' or a positive integer. */
export function parseBatch(s: string): 'dynamic' | number {
  if (s === 'dynamic') return s;
  if (!/^[1-9][0-9]*$/.test(s)) throw new RunError(`--batch ${s}: give 'dynamic' or a positive integer`, 'VNET_E_BAD_FLAG');
  return Number(s);
}


/** Returns the ONNX bytes of the model (and writes them to `o.file` when given). */
export function exportOnnx(model: ExportableModel, o: ExportOptions = {}): Uint8Array {
  const opts = checkOptions(o);
  const { net, config } = model;
  const c = net.config;
  const units = new Map(unitWeights(net, opts.batchNorm).map((u) => [u.name, u]));
  const g = new GraphBuilder();
  const [D, H, W] = c.inputShape;
  const N: number | string = opts.batch === 'dynamic' ? 'batch' : opts.batch;
  const ncdhw = opts.layout === 'ncdhw';
  const input = g.name('image');
  let grid: Triple = [D, H, W];

  // One unit: Conv / ConvTranspose with the engine's 'same' geometry, BN, ReLU.
  const apply = (name: string, x: string): string => {
    const u = units.get(name)!;
    const k = u.dims[2], stride = u.kind === 'pool' || u.kind === 'tconv' ? 2 : 1;
    const s: Triple = [stride, stride, stride], ks: Triple = [k, k, k];
    const w = g.constant(`${name}.kernel`, u.dims, u.kernel), b = g.constant(`${name}.bias`, [u.bias.length], u.bias);
    let y: string;
    if (u.kind === 'tconv') {
      const out = grid.map((d) => d * stride) as Triple;
      const { pad } = convPads(out, ks, s, 'same');
      // ONNX: out = s(in-1) + k - begin - end + output_padding; pick end (or extra) to hit `out`.
      const end = grid.map((d, i) => s[i] * (d - 1) + ks[i] - pad[i] - out[i]);
      y = g.node('ConvTranspose', [x, w, b], { kernel_shape: ks, strides: s, pads: [...pad, ...end.map((e) => Math.max(e, 0))], output_padding: end.map((e) => Math.max(-e, 0)) });
      grid = out;
    } else {
      const { pad, padBack } = convPads(grid, ks, s, 'same');
      y = g.node('Conv', [x, w, b], { kernel_shape: ks, strides: s, pads: [...pad, ...padBack] });
      grid = grid.map((d) => Math.ceil(d / stride)) as Triple;
    }
    if (u.bn) y = batchNorm(g, name, u, y, c.bnEps);
    if (u.instanceNorm) y = instanceNorm(g, name, u.instanceNorm, y, c.bnEps);
    return u.relu ? g.node('Relu', [y]) : y;
  };
  const residual = (prefix: string, depth: number, r: string): string => {
    let y = r;
    for (let j = 0; j < depth; j++) y = apply(`${prefix}.res${j + 1}`, y);
    return g.node('Add', [y, r]);
  };

  const x = ncdhw ? input : g.node('Transpose', [input], { perm: [0, 4, 1, 2, 3] });
  const Cin = net.inChannels;
  let cur = g.node('Add', [apply('in.conv', x), inputResidual(g, x, Cin, c.baseFilters)]);
  const skips = [cur];
  c.downscaleBlocks.forEach((depth, i) => {
    cur = residual(`down${i + 1}`, depth, apply(`down${i + 1}.pool`, cur));
    skips.push(cur);
  });
  skips.pop();
  c.upscaleBlocks.forEach((depth, i) => {
    const skip = skips.pop()!;
    cur = residual(`up${i + 1}`, depth, g.node('Concat', [apply(`up${i + 1}.tconv`, cur), skip], { axis: 1 }));
  });
  let y = apply('out.conv', apply('out.tconv', cur));
  const outName = opts.output;
  if (outName === 'probabilities') y = g.node('Softmax', [y], { axis: 1 }, ncdhw ? outName : undefined);
  if (!ncdhw) y = g.node('Transpose', [y], { perm: [0, 2, 3, 4, 1] }, outName);
  else if (outName === 'logits') y = g.node('Identity', [y], {}, outName);

  const C = c.nClasses;
  const inDims: Dims = ncdhw ? [N, Cin, D, H, W] : [N, D, H, W, Cin];
  const outDims: Dims = ncdhw ? [N, C, D, H, W] : [N, D, H, W, C];
  const bytes = encodeModel(g, {
    graphName: 'vnet',
    input: { name: input, dims: inDims },
    output: { name: outName, dims: outDims },
    opset: opts.opset,
    producerVersion: packageVersion(),
    docString: `V-Net 3D segmentation exported by vnet-native: ${outName} ${opts.layout.toUpperCase()} for an image ${opts.layout.toUpperCase()} of ${D}x${H}x${W} voxels`,
    metadata: metadata(config, opts, inDims, outDims),
  });
  if (o.file) writeFileAtomicSync(o.file, bytes);
  return bytes;
}

/**
 * The input block's residual, as the engine's: one channel broadcasts over the filters (the Add
 * does it); C channels tile, filter j taking channel j mod C, by a fixed 1³ convolution of 0/1.
 */
function inputResidual(g: GraphBuilder, x: string, C: number, filters: number): string {
  if (C === 1) return x;
  const w = new Float32Array(filters * C);
  for (let j = 0; j < filters; j++) w[j * C + (j % C)] = 1;
  return g.node('Conv', [x, g.constant('in.residual.tile', [filters, C, 1, 1, 1], w)], { kernel_shape: [1, 1, 1] });
}

function batchNorm(g: GraphBuilder, name: string, u: UnitWeights, x: string, eps: number): string {
  const s = u.bn!, n = s.gamma.length;
  const ins = [s.gamma, s.beta, s.mean, s.variance].map((v, i) => g.constant(`${name}.bn.${['scale', 'bias', 'mean', 'var'][i]}`, [n], v));
  return g.node('BatchNormalization', [x, ...ins], { epsilon: { float: eps } });
}

function instanceNorm(g: GraphBuilder, name: string, s: NonNullable<UnitWeights['instanceNorm']>, x: string, eps: number): string {
  const n = s.gamma.length;
  return g.node('InstanceNormalization', [x, g.constant(`${name}.in.scale`, [n], s.gamma), g.constant(`${name}.in.bias`, [n], s.beta)], { epsilon: { float: eps } });
}

function metadata(config: ModelConfigFile, o: Required<Omit<ExportOptions, 'file'>>, inDims: Dims, outDims: Dims): Record<string, string> {
  const [x, y, z] = config.model.inputShape;
  // Models trained with --resize none (full resolution) are run by sliding window.
  const native = (config.model as { resize?: string }).resize === 'none';
  // Several channels or another normalisation than the reference's: the per-channel list.
  const intensity = config.model.intensity ?? ((config.model.inChannels ?? 1) > 1 ? Array.from({ length: config.model.inChannels ?? 1 }, () => ({ scheme: 'zscore' })) : undefined);
  return {
    producer: 'vnet-native',
    vnet_native_version: packageVersion(),
    opset: String(o.opset),
    labels: JSON.stringify(Object.fromEntries(config.labels.map((l) => [l.value, l.name]))),
    input_name: 'image',
    input_layout: o.layout.toUpperCase(),
    input_shape: JSON.stringify(inDims),
    output_name: o.output,
    output_layout: o.layout.toUpperCase(),
    output_shape: JSON.stringify(outDims),
    output: o.output === 'probabilities' ? 'softmax probabilities over the classes (channel axis)' : 'logits (apply softmax over the channel axis for probabilities)',
    batch_norm: config.model.normalization === 'instancenorm' ? 'none: InstanceNormalization nodes (statistics per sample and channel)'
      : o.batchNorm === 'fold' ? 'folded into the convolutions (moving statistics)' : 'BatchNormalization nodes with the moving statistics',
    resize: native
      ? `none: the model was trained at the volumes' own resolution (--resize none); z-score the whole volume, then slide ${x}x${y}x${z} windows over it (vnet-native predict: overlap 0.5, each window's probabilities weighted by a Gaussian centred on it and averaged per voxel), then argmax`
      : `resample the NIfTI volume (x, y, z) = (D, H, W) linearly to ${x}x${y}x${z} (output voxel i samples input index i*old/new on each axis, anchored at voxel 0, 0 beyond the last half voxel); for the mask, resample the probabilities back to the original shape on the same anchored grid (linear, edges clamped), then argmax`,
    input_channels: String(config.model.inChannels ?? 1),
    normalization: intensity
      ? `per channel${native ? '' : ', after resampling'}: ${JSON.stringify(intensity)} (zscore: (v - mean) / std over the channel's whole volume, population std; ct: clip to [lo, hi], then (v - mean) / std with the stored training statistics; none: as is)`
      : `z-score per volume${native ? '' : ' after resampling'}: (v - mean) / std over the whole volume, population std (ddof 0); a constant volume becomes 0`,
    preprocessing: JSON.stringify({
      ...(native ? { resize: 'none', window: [x, y, z], inference: 'sliding_window' } : { resize: 'linear', input_shape: [x, y, z] }),
      ...(intensity ? { channels: intensity.length, normalization: intensity } : { normalization: 'zscore_per_volume' }),
    }),
  };
}

/** Loads the model in `modelDir` and writes its ONNX export (default `<modelDir>/model.onnx`). */
export async function exportModelDir(modelDir: string, o: ExportOptions = {}): Promise<{ file: string; bytes: number }> {
  const file = o.file ?? path.join(modelDir, 'model.onnx');
  checkOptions(o); // bad flags first, named as such
  checkExportOutput(file, modelDir);
  const model = await loadModel(modelDir);
  try {
    return { file, bytes: exportOnnx(model, { ...o, file }).length };
  } finally {
    model.net.dispose();
  }
}
