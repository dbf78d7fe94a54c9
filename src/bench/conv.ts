// The convolution microbenchmark behind `vnet-native bench conv`: for each problem, batch,
// direction, dtype and math mode, checks every algorithm's result once against the portable CPU
// reference loops, then times the ones that passed (native/conv_bench.h: the kernel alone in
// the timed region), and reports median / p10 / p90, GFLOP/s on the dense count and the
// fraction of the device's peak.
import os from 'node:os';
import * as E from '../engine/index.js';
import { Rng } from '../data/rng.js';
import { RunError } from '../config/options.js';
import { percentile } from './stats.js';
import { BenchInputError, DIRECTIONS, denseFlops, denseMacs, engineCall, geometry, operandShapes, type ConvProblem, type Direction } from './problem.js';

export type BenchDType = 'f32' | 'f16';
export type BenchMath = 'fp32' | 'tf32';

export interface BenchOptions {
  problems: ConvProblem[];
  batches?: number[]; // overrides each problem's N
  directions: Direction[];
  dtypes: BenchDType[];
  maths: BenchMath[];
  device: 'cpu' | 'cuda';
  threads?: number;
  algo: string; // auto, all, or (CPU) a comma list of direct, winograd, winograd4, reference
  warmup: number;
  minReps: number;
  minTime: number; // seconds
  maxReps: number;
  checkLimit: number; // multiply-adds; larger problems skip the correctness check
}

export interface BenchRow {
  layer: string;
  shape: { input: number[]; filters: number; kernel: number[]; stride: number[]; pad: string; transposed: boolean };
  batch: number;
  direction: Direction;
  dtype: BenchDType;
  math: string;
  device: 'cpu' | 'cuda';
  algo: string;
  chosen: boolean;
  ms_median: number | null;
  ms_p10: number | null;
  ms_p90: number | null;
  reps: number;
  gflops: number | null;
  peak_gflops: number;
  peak_fraction: number | null;
  check: 'ok' | 'skipped' | 'FAIL' | 'error';
  check_error?: number; // max |ours - reference| / max |reference|
  error?: string;
  ms: number | null; // = ms_median (the field name of the earlier bench script)
  threads?: number;
  peer_ms?: number;
  ratio?: number;
  peer_layout?: string;
}

/** Test hook: lets a test corrupt a result before it is compared (the guard must catch it). */
export interface BenchHooks {
  corrupt?: (row: { direction: Direction; algo: string }, out: Float32Array) => void;
}

// Max error over max |reference|: fp32 sums in another order; TF32 rounds inputs to 10 mantissa bits;
// f16 results are stored in 11 bits. A wrong kernel is off by O(1).
export const TOLERANCE: Record<string, number> = { fp32: 1e-4, tf32: 1e-2, fp16: 2e-2 };

/** Max |a - b| over max |b|: one number per comparison, scale-free. */
export function relError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    if (!(e <= d)) d = Number.isNaN(e) ? Infinity : e;
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / Math.max(m, 1e-30);
}

function randomData(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  const rng = new Rng(seed);
  for (let i = 0; i < n; i++) a[i] = rng.float() - 0.5;
  return a;
}

const dispose = (...ts: (E.Tensor | undefined)[]) => ts.forEach((t) => t?.dispose());

/** A result as f32 host values (f16 results go through a cast on their device). */
const hostValues = (t: E.Tensor) => t.toArray() as Float32Array;

/** The GPU's name, shape and peaks (GFLOP/s) by math, from its compute capability and clock. */
export const gpuPeak = E.timing.gpuPeak;

/** The peak the fraction is taken of, GFLOP/s, by device and math. */
export function peakFor(device: 'cpu' | 'cuda', math: string, threads: number): number {
  if (device === 'cpu') return cpuPeak(threads);
  const p = gpuPeak();
  return math === 'fp16' ? p.fp16 : math === 'tf32' ? p.tf32 : p.fp32;
}

// The CPU peak: threads × the best of 40 one-thread bursts of 10 ms of the engine's FMA loop.
// The kernels are timed in short calls, which other jobs on a shared machine interrupt far less
// often than a long loop on every core at once; one core at a time gets its full rate. (An
// all-core clock below the one-core clock makes this a little high: the fraction errs low.)
// Threads beyond the cores add no FMA units: the peak counts at most one per core.
const cpuPeaks = new Map<number, number>();
export function cpuPeak(threads: number): number {
  const units = Math.min(threads, os.availableParallelism());
  if (!cpuPeaks.has(threads)) cpuPeaks.set(threads, units * Math.max(...Array.from({ length: 40 }, () => E.timing.cpuPeakGflops(1, 0.01))));
  return cpuPeaks.get(threads)!;
}

/** Refuses what the device cannot run, naming the flag (usage) or the missing piece (environment). */
export function checkDevice(o: BenchOptions): void {
  if (o.device === 'cpu') {
    if (o.dtypes.includes('f16')) throw new BenchInputError('--dtype f16: the CPU convolutions are f32 only (f16 runs with --device cuda)');
    if (o.maths.includes('tf32')) throw new BenchInputError('--math tf32: TF32 exists only on GPUs (use --math fp32 on the CPU)');
    return;
  }
  const info = E.info();
  if (!info.cudaAvailable)
    throw new RunError(`--device cuda: no usable GPU (${info.cudaUnavailableReason ?? 'unknown reason'})`, 'VNET_E_DEVICE');
  try {
    E.useDevice({ device: 'cuda', index: 0 });
  } catch (e) {
    throw new RunError(`--device cuda: ${(e as Error).message}`, (e as { code?: string }).code ?? 'VNET_E_DEVICE');
  }
}

interface Operands { x: E.Tensor; w: E.Tensor; dy: E.Tensor; host: { x: Float32Array; w: Float32Array; dy: Float32Array } }

// Operands on the device in `dtype`, plus the f32 values the reference sees (rounded to f16
// first when the benchmark runs f16, so both sides start from the same numbers).
function makeOperands(shapes: { x: number[]; w: number[]; dy: number[] }, dtype: BenchDType, device: 'cpu' | 'cuda'): Operands {
  const out: Partial<Operands> = { host: {} as Operands['host'] };
  (['x', 'w', 'dy'] as const).forEach((k, i) => {
    const shape = shapes[k];
    const data = randomData(shape.reduce((a, b) => a * b, 1), 1 + i);
    let t = E.tensor(data, shape, { dtype });
    out.host![k] = hostValues(t);
    if (device === 'cuda') {
      const g = t.to('cuda');
      dispose(t);
      t = g;
    }
    out[k] = t;
  });
  return out as Operands;
}

const stats = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  return { med: percentile(s, 50), p10: percentile(s, 10), p90: percentile(s, 90) };
};

/** The (problem, batch) cases of a run, in order: each problem at each batch size. */
export function benchCases(o: BenchOptions): { p: ConvProblem; n: number }[] {
  return o.problems.flatMap((p0) => (o.batches ?? [p0.input[0]]).map((n) => ({ p: { ...p0, input: [n, p0.input[1], p0.input[2], p0.input[3], p0.input[4]] } as ConvProblem, n })));
}

/** Every direction, dtype and math of one case; rows come out through `onRow` as they finish. */
export function benchCase(o: BenchOptions, p: ConvProblem, n: number, onRow: (r: BenchRow) => void, hooks: BenchHooks = {}): { rows: BenchRow[]; checkSkipped: boolean } {
  const threads = E.info().threads;
  const rows: BenchRow[] = [];
  const g = geometry(p, n);
  const doCheck = denseMacs(g) <= o.checkLimit;
  for (const dtype of o.dtypes) {
    const ops = makeOperands(operandShapes(g), dtype, o.device);
    try {
      for (const d of o.directions) {
        const call = engineCall(p, g, d);
        const inputs = call.inputs.map((k) => ops[k]);
        let ref: Float32Array | undefined;
        if (doCheck) {
          const hx = call.inputs.map((k) => E.tensor(ops.host[k], ops[k].shape));
          const r = E.timing.convReference(call.op, hx, call.attrs);
          ref = hostValues(r);
          dispose(r, ...hx);
        }
        const maths = dtype === 'f16' ? ['fp16'] : o.maths;
        for (const math of maths) {
          const attrs = o.device === 'cuda' && dtype === 'f32' ? { ...call.attrs, tf32: math === 'tf32' ? 1 : 0 } : call.attrs;
          const bench = (opts: E.timing.ConvBenchOptions) => E.timing.convTimings(call.op, inputs, attrs, { ...opts, all: o.algo === 'all', algo: o.algo });
          // The check first: one call per algorithm, its result against the reference.
          const verdict = new Map<string, { check: BenchRow['check']; chosen: boolean; err?: number; error?: string }>();
          for (const r of bench({ warmup: 0, minReps: 1, maxReps: 1, minMs: 0 })) {
            if (r.error || !r.out) verdict.set(r.algo, { check: 'error', chosen: r.chosen, error: r.error ?? 'no result' });
            else if (!ref) verdict.set(r.algo, { check: 'skipped', chosen: r.chosen });
            else {
              const got = hostValues(r.out);
              hooks.corrupt?.({ direction: d, algo: r.algo }, got);
              const e = relError(got, ref);
              verdict.set(r.algo, { check: e <= TOLERANCE[math] ? 'ok' : 'FAIL', chosen: r.chosen, err: e });
            }
            dispose(r.out);
          }
          const passed = [...verdict.values()].some((v) => v.check === 'ok' || v.check === 'skipped');
          const timed = passed ? bench({ warmup: o.warmup, minReps: o.minReps, maxReps: o.maxReps, minMs: o.minTime * 1000 }) : [];
          const peak = peakFor(o.device, math, threads);
          for (const [algo, v] of verdict) {
            const t = timed.find((r) => r.algo === algo);
            const ok = (v.check === 'ok' || v.check === 'skipped') && t && !t.error && t.ms.length > 0;
            const st = ok ? stats(t.ms) : undefined;
            const gflops = st ? denseFlops(g) / (st.med * 1e6) : null;
            const row: BenchRow = {
              layer: p.name, shape: { input: [...p.input], filters: p.filters, kernel: [...p.kernel], stride: [...p.stride], pad: p.pad, transposed: p.transposed },
              batch: n, direction: d, dtype, math, device: o.device, algo, chosen: v.chosen,
              ms_median: st?.med ?? null, ms_p10: st?.p10 ?? null, ms_p90: st?.p90 ?? null, reps: ok ? t.ms.length : 0,
              gflops, peak_gflops: peak, peak_fraction: gflops === null ? null : gflops / peak,
              check: v.check, ...(v.err !== undefined ? { check_error: v.err } : {}),
              ...(v.error || t?.error ? { error: v.error ?? t?.error } : {}),
              ms: st?.med ?? null, threads: o.device === 'cpu' ? threads : undefined,
            };
            rows.push(row);
            onRow(row);
          }
          for (const r of timed) dispose(r.out);
        }
      }
    } finally {
      dispose(ops.x, ops.w, ops.dy);
    }
  }
  return { rows, checkSkipped: !doCheck };
}

export const checkSkippedNote = (names: string[], limit: number) =>
  `correctness check skipped for ${names.join(', ')}: more than ${limit.toExponential(1)} multiply-adds (raise --check_limit to check them)`;

/** Runs every case; rows come out in order through `onRow` as they finish. */
export function runConvBench(o: BenchOptions, onRow: (r: BenchRow) => void, note: (s: string) => void = () => {}, hooks: BenchHooks = {}): BenchRow[] {
  checkDevice(o);
  if (o.threads) E.useDevice({ threads: o.threads });
  const rows: BenchRow[] = [];
  const skipped: string[] = [];
  for (const { p, n } of benchCases(o)) {
    const r = benchCase(o, p, n, onRow, hooks);
    rows.push(...r.rows);
    if (r.checkSkipped) skipped.push(`${p.name}@${n}`);
  }
  if (skipped.length) note(checkSkippedNote(skipped, o.checkLimit));
  return rows;
}

export { DIRECTIONS };
