// The benchmarks' native side, on engine tensors: timed calls of one convolution per algorithm
// (native/conv_bench.h: the kernel alone in the timed region), the portable CPU reference loops
// they are checked against, and the CPU's and GPU's peak GFLOP/s.
import { native, type Attrs, type ConvBenchOptions } from '../../bindings/native.js';
import { fromNative, type Tensor } from './tensor.js';

export type { ConvBenchOptions };

/** One algorithm's timed calls (ms each); `out` its result (the caller disposes it), or why it failed. */
export interface ConvTiming { algo: string; chosen: boolean; ms: number[]; out?: Tensor; error?: string }

/** Times the conv3d_* op `op` on `inputs` with each algorithm (the engine's choice, or all with `all`). */
export function convTimings(op: string, inputs: readonly Tensor[], attrs: Attrs, opts: ConvBenchOptions): ConvTiming[] {
  return native.convBench(op, inputs.map((t) => t.handle), attrs, opts).map((r) => ({ ...r, out: r.out ? fromNative(r.out) : undefined }));
}

/** The conv3d_* op by the portable CPU reference loops (f32 CPU tensors): the benchmarks' oracle. */
export function convReference(op: string, inputs: readonly Tensor[], attrs: Attrs): Tensor {
  return fromNative(native.convReference(op, inputs.map((t) => t.handle), attrs));
}

/** GFLOP/s of the engine's FMA loop on `threads` threads for `seconds`. */
export function cpuPeakGflops(threads: number, seconds: number): number {
  return native.cpuPeakGflops(threads, seconds);
}

/** The GPU's name and dense peaks in GFLOP/s (SM count x maximum clock x a per-SM rate by compute capability). */
export function gpuPeak(): ReturnType<typeof native.gpuPeak> {
  return native.gpuPeak();
}
