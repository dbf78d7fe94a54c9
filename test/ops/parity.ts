// Runs one case of the op table (test/ops/table.ts) on a device against the CPU oracle, with
// the fp16 bit conversions (as native/half.h) both sides need. Used by test/cuda_ops.test.ts and
// the jest-free GPU runner (bench/gpu/run_checks.ts).
import type { DType, Handle, NativeAddon, NativeTensor } from '../../bindings/native.js';
import { OP_CASES, type OpCase, type Precision } from './table.js';

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
