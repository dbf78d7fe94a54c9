// The V-Net's trained tensors per layer, in ONNX's layouts: kernels from TF's (kd,kh,kw,a,b)
// to (b,a,kd,kh,kw), and batch norm either folded into the kernel and bias (with the engine's
// own inference formula, scale = γ/√(var+ε) and shift = β − mean·scale, in float64) or kept;
// instance normalisation's γ and β always stay with their own node (its statistics are the input's).
import type { VNet } from '../nn/index.js';

export interface BnStats {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
}

export interface UnitWeights {
  /** the layer's name in the V-Net (in.conv, down1.pool, ...). */
  name: string;
  kind: VNet['layers'][number]['kind'];
  /** ONNX layout: Conv (Cout, Cin, k, k, k); ConvTranspose (Cin, Cout, k, k, k). */
  kernel: Float32Array;
  dims: number[];
  bias: Float32Array;
  /** present when batch norm is kept as its own node. */
  bn?: BnStats;
  /** present for instance normalisation (ONNX InstanceNormalization: scale, bias). */
  instanceNorm?: Pick<BnStats, 'gamma' | 'beta'>;
  relu: boolean;
}

const f32 = (net: VNet, name: string, buffer = false): Float32Array => {
  const t = (buffer ? net.store.buffers : net.store.params).get(name);
  if (!t) throw new Error(`the V-Net has no ${buffer ? 'buffer' : 'parameter'} ${name}`);
  return Float32Array.from(t.toArray());
};

// TF (k0,k1,k2,a,b) -> (b,a,k0,k1,k2): the same permutation for a conv's (.., Cin, Cout) and a
// transposed conv's (.., Cout, Cin), since ONNX puts the conv's output / the tconv's input first.
function permuteKernel(w: Float32Array, shape: readonly number[]): { data: Float32Array; dims: number[] } {
  const [k0, k1, k2, a, b] = shape;
  const out = new Float32Array(w.length);
  const taps = k0 * k1 * k2;
  for (let t = 0; t < taps; t++)
    for (let i = 0; i < a; i++)
      for (let j = 0; j < b; j++) out[(j * a + i) * taps + t] = w[(t * a + i) * b + j];
  return { data: out, dims: [b, a, k0, k1, k2] };
}

/**
 * Every unit in the network's creation order (net.layers). Parameters were created unit by unit
 * (kernel, bias, then γ and β when the unit has batch norm), so they are read in that order,
 * by the names the checkpoint uses.
 */
export function unitWeights(net: VNet, bn: 'fold' | 'nodes'): UnitWeights[] {
  const names = [...net.store.params.keys()];
  let at = 0;
  const next = (suffix: string) => {
    const n = names[at++];
    if (!n?.endsWith(suffix)) throw new Error(`unexpected parameter order at ${n} (wanted */${suffix})`);
    return n;
  };
  const withBn = net.config.normalization !== 'none';
  return net.layers.map((l) => {
    const kName = next('kernel'), bName = next('bias');
    const kt = net.store.params.get(kName)!;
    const { data, dims } = permuteKernel(f32(net, kName), kt.shape);
    const bias = f32(net, bName);
    const u: UnitWeights = { name: l.name, kind: l.kind, kernel: data, dims, bias, relu: l.kind !== 'out' };
    if (l.kind === 'out' || !withBn) return u;
    const prefix = next('gamma').slice(0, -'gamma'.length);
    next('beta');
    if (net.config.normalization === 'instancenorm') return { ...u, instanceNorm: { gamma: f32(net, `${prefix}gamma`), beta: f32(net, `${prefix}beta`) } };
    const s: BnStats = { gamma: f32(net, `${prefix}gamma`), beta: f32(net, `${prefix}beta`), mean: f32(net, `${prefix}moving_mean`, true), variance: f32(net, `${prefix}moving_variance`, true) };
    if (bn === 'nodes') return { ...u, bn: s };
    fold(u, s, net.config.bnEps, l.kind === 'tconv');
    return u;
  });
}

// conv + bias then BN == conv with kernel·scale (per output channel) + (bias·scale + shift).
function fold(u: UnitWeights, s: BnStats, eps: number, transposed: boolean): void {
  const cout = u.bias.length;
  const scale = Float64Array.from(s.gamma, (g, k) => g / Math.sqrt(s.variance[k] + eps));
  const [d0, d1] = u.dims, per = u.kernel.length / (d0 * d1);
  for (let i = 0; i < d0; i++)
    for (let j = 0; j < d1; j++) {
      const k = transposed ? j : i; // the output channel's axis
      const base = (i * d1 + j) * per;
      for (let t = 0; t < per; t++) u.kernel[base + t] = u.kernel[base + t] * scale[k];
    }
  for (let k = 0; k < cout; k++) u.bias[k] = u.bias[k] * scale[k] + (s.beta[k] - s.mean[k] * scale[k]);
}
