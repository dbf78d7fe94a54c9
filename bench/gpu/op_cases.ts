// One table of op cases for CPU-vs-CUDA parity: shapes, attributes and tolerance per precision.
// The CPU backend is the oracle; the jest test (test/cuda_ops.test.ts) and the jest-free GPU
// runner (bench/gpu/run_checks.ts) both run this table.
import type { Attrs, DType, Handle, NativeAddon, NativeTensor } from '../../bindings/native.js';

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
  { name: 'channel_sum', op: 'channel_sum', inputs: [x5(16)], precisions: ['f32', 'f16'], tol: { f32: F32, f16: F16 } },
  { name: 'channel_sum_wide', op: 'channel_sum', inputs: [{ shape: [3, 2, 2, 300], kind: 'float' }], precisions: ['f32'], tol: { f32: F32 } },
  { name: 'relu', op: 'relu', inputs: [x5(16)], precisions: ['f32', 'f16'], tol: { f32: 0, f16: 0 } },
  { name: 'relu_bwd', op: 'relu_bwd', inputs: [x5(16), x5(16)], precisions: ['f32', 'f16'], tol: { f32: 0, f16: 0 } },
  { name: 'add', op: 'add', inputs: [x5(16), x5(16)], precisions: ['f32', 'f16'], tol: { f32: F32, f16: F16 } },
  { name: 'add_bcast', op: 'add', inputs: [x5(16), x5(1)], precisions: ['f32', 'f16'], tol: { f32: F32, f16: F16 } },
  { name: 'sum_channels', op: 'sum_channels', inputs: [x5(16)], precisions: ['f32', 'f16'], tol: { f32: F32, f16: F16 } },
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
  { name: 'amp_unscale', op: 'amp_unscale', inputs: [vec(1000)], attrs: { inv_scale: 1 / 1024 }, precisions: ['f32'], tol: { f32: 0 }, inPlace: [0] },
  {
    name: 'amp_unscale_inf', op: 'amp_unscale', inputs: [{ shape: [1000], kind: 'f32', inject: Infinity }],
    attrs: { inv_scale: 1 / 1024 }, precisions: ['f32'], tol: { f32: 0 }, inPlace: [0],
  },
];

// ---- fp16 bits <-> numbers (round to nearest even), as native/half.h -----------------------
const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

export function toHalfBits(v: number): number {
  f32buf[0] = v;
  const x = u32buf[0];
  const sign = (x >>> 16) & 0x8000;
  const e = (x >>> 23) & 0xff;
  let man = x & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  const exp = e - 127 + 15;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    man |= 0x800000;
    const shift = 14 - exp;
    let h = man >>> shift;
    const rem = man & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = sign | (exp << 10) | (man >>> 13);
  const rem = man & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return h;
}

export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 31) return man ? NaN : sign * Infinity;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

// ---- running one case ---------------------------------------------------------------------
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

interface HostInput {
  data: Float32Array | Int32Array;
  shape: number[];
  dtype: DType; // dtype on the device under test
}

function makeInputs(c: OpCase, p: Precision): HostInput[] {
  const r = rng(hash(c.name));
  return c.inputs.map((s) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (s.kind === 'labels') {
      const d = new Int32Array(n);
      for (let i = 0; i < n; i++) d[i] = Math.floor(r() * (s.classes ?? 2));
      return { data: d, shape: s.shape, dtype: 'i32' as DType };
    }
    const lo = s.lo ?? (s.kind === 'positive' ? 0.5 : -1), hi = s.hi ?? (s.kind === 'positive' ? 2 : 1);
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = lo + (hi - lo) * r();
    if (s.inject !== undefined && n > 0) d[0] = s.inject;
    const dtype: DType = s.kind === 'float' ? p : 'f32';
    // Both devices see the same values: round to fp16 first where the device gets fp16.
    if (dtype === 'f16') for (let i = 0; i < n; i++) d[i] = fromHalfBits(toHalfBits(d[i]));
    return { data: d, shape: s.shape, dtype };
  });
}

function upload(native: NativeAddon, h: HostInput, dtype: DType, device: 'cpu' | 'cuda'): NativeTensor {
  if (dtype === 'f16') {
    const bits = new Uint16Array(h.data.length);
    for (let i = 0; i < bits.length; i++) bits[i] = toHalfBits(h.data[i]);
    return native.fromArray(bits, h.shape, 'f16', device);
  }
  return native.fromArray(h.data, h.shape, dtype, device);
}

function download(native: NativeAddon, t: NativeTensor): Float64Array {
  const a = native.toArray(t.handle);
  const out = new Float64Array(a.length);
  if (t.dtype === 'f16') for (let i = 0; i < a.length; i++) out[i] = fromHalfBits(a[i]);
  else for (let i = 0; i < a.length; i++) out[i] = a[i];
  return out;
}

export interface CaseResult {
  name: string;
  precision: Precision;
  pass: boolean;
  err: number;
  tol: number;
  detail?: string;
}

/** max|a−b| / max|b| over all compared tensors (NaN/Inf must match exactly). */
function compare(a: Float64Array, b: Float64Array, floor = 0): number {
  if (a.length !== b.length) return Infinity;
  let scale = floor, err = 0;
  for (let i = 0; i < b.length; i++) if (Number.isFinite(b[i])) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) {
    if (!Number.isFinite(b[i]) || !Number.isFinite(a[i])) {
      if (!(Object.is(a[i], b[i]) || (Number.isNaN(a[i]) && Number.isNaN(b[i])))) return Infinity;
      continue;
    }
    err = Math.max(err, Math.abs(a[i] - b[i]));
  }
  return scale > 0 ? err / scale : err;
}

/** One case on `device` against the CPU oracle (`device` 'cpu': the harness's own dry run). */
export function runCase(native: NativeAddon, c: OpCase, p: Precision, device: 'cpu' | 'cuda' = 'cuda'): CaseResult {
  const host = makeInputs(c, p);
  const held: Handle[] = [];
  const keep = (t: NativeTensor) => (held.push(t.handle), t);
  const tol = c.tol[p] ?? 0;
  try {
    const cpuIn = host.map((h) => keep(upload(native, h, c.cpuSameDtype ? h.dtype : h.dtype === 'f16' ? 'f32' : h.dtype, 'cpu')));
    const gpuIn = host.map((h) => keep(upload(native, h, h.dtype, device)));
    const cpuOut = native.run(c.op, cpuIn.map((t) => t.handle), c.attrs ?? {}).map(keep);
    const gpuOut = native.run(c.op, gpuIn.map((t) => t.handle), c.attrs ?? {}).map(keep);
    const pairs: [NativeTensor, NativeTensor, string][] = cpuOut.map((t, i) => [gpuOut[i], t, `output ${i}`]);
    for (const i of c.inPlace ?? []) pairs.push([gpuIn[i], cpuIn[i], `input ${i} (in place)`]);
    let worst = 0, where = '';
    for (const [g, cpu, label] of pairs) {
      const e = compare(download(native, g), download(native, cpu), c.scaleFloor);
      if (e > worst || Number.isNaN(e)) (worst = e), (where = label);
    }
    const pass = worst <= tol;
    return { name: c.name, precision: p, pass, err: worst, tol, detail: pass ? undefined : `worst at ${where}` };
  } catch (e) {
    const err = e as Error & { code?: string };
    return { name: c.name, precision: p, pass: false, err: NaN, tol, detail: `${err.code ?? 'Error'}: ${err.message}` };
  } finally {
    for (const h of held) native.dispose(h);
  }
}

export function runAll(native: NativeAddon, filter?: (c: OpCase) => boolean, device: 'cpu' | 'cuda' = 'cuda'): CaseResult[] {
  const res: CaseResult[] = [];
  for (const c of OP_CASES) {
    if (filter && !filter(c)) continue;
    for (const p of c.precisions) res.push(runCase(native, c, p, device));
  }
  return res;
}
