// Benchmark statistics, for train and predict --benchmark, bench conv and the bench/ scripts:
// true throughput (images over time) and percentiles, the reference's figures (mean of per-step
// rates, mean + z·σ/√n "percentiles") labelled as such, the op profile table, peak memory.
import fs from 'node:fs';
import * as E from '../engine/index.js';

export interface BenchStats {
  batchSize: number;
  steps: number;
  throughput: number; // images / s over the timed steps
  throughputMeanOfRates: number; // the reference's "Throughput Avg"
  latencyMeanMs: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  refConfidenceBoundsMs: { '90': number; '95': number; '99': number };
}

/** The p-th percentile (0..100) of sorted values, linearly interpolated. */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const r = (p / 100) * (sorted.length - 1), lo = Math.floor(r), hi = Math.ceil(r);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (r - lo);
}

/** `stepMs` are the durations of the timed steps (after warm-up), each of `batchSize` images. */
export function benchStats(stepMs: number[], batchSize: number): BenchStats {
  const n = stepMs.length;
  const total = stepMs.reduce((a, b) => a + b, 0);
  const mean = total / n;
  const std = Math.sqrt(stepMs.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  const sorted = [...stepMs].sort((a, b) => a - b);
  const bound = (z: number) => mean + (z * std) / Math.sqrt(n);
  return {
    batchSize,
    steps: n,
    throughput: (batchSize * n * 1000) / total,
    throughputMeanOfRates: stepMs.reduce((a, ms) => a + (batchSize * 1000) / ms, 0) / n,
    latencyMeanMs: mean,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    refConfidenceBoundsMs: { '90': bound(1.645), '95': bound(1.96), '99': bound(2.576) },
  };
}

/** The engine's tensor memory on the CPU: the most ever live at once, and what its allocator keeps for reuse now. */
export interface TensorMemory { peakMb: number; cachedMb: number }

export function formatBench(mode: string, s: BenchStats, peakRssMb: number, mem?: TensorMemory): string {
  const f = (v: number) => v.toFixed(2);
  return [
    `${mode} benchmark, batch ${s.batchSize}, ${s.steps} timed steps`,
    `  throughput           ${f(s.throughput)} images/s (total images / total time)`,
    `  throughput (ref)     ${f(s.throughputMeanOfRates)} images/s (mean of per-step rates, the reference's "Throughput Avg")`,
    `  latency mean         ${f(s.latencyMeanMs)} ms per batch`,
    `  latency p50/p90/p95/p99  ${f(s.p50Ms)} / ${f(s.p90Ms)} / ${f(s.p95Ms)} / ${f(s.p99Ms)} ms`,
    `  ref. bounds 90/95/99 ${f(s.refConfidenceBoundsMs['90'])} / ${f(s.refConfidenceBoundsMs['95'])} / ${f(s.refConfidenceBoundsMs['99'])} ms (mean + z·σ/√n: confidence bounds, not percentiles)`,
    `  peak resident memory ${peakRssMb.toFixed(0)} MB`,
    ...(mem ? [`  tensor memory        ${mem.peakMb.toFixed(0)} MB at most live at once, ${mem.cachedMb.toFixed(0)} MB kept by the allocator for reuse`] : []),
  ].join('\n');
}

/** A row of the op profile (src/engine/ops.ts opProfile.stop()). */
export interface ProfileRow {
  op: string;
  calls: number;
  ms: number;
  flops?: number;
}

/**
 * The per-op time table of `--benchmark --profile`: each op (each convolution by direction and
 * shape) per step, its share of the step and, for convolutions, GFLOP/s on the dense count;
 * `stepMs` is the total time of the `steps` profiled steps. What the ops do not cover (the
 * autograd tape, JS, data) is the "outside ops" line.
 */
export function formatProfile(rows: ProfileRow[], steps: number, stepMs: number, device: string): string {
  const per = (v: number) => v / Math.max(1, steps);
  const pct = (ms: number) => ((100 * ms) / Math.max(1e-9, stepMs)).toFixed(1).padStart(5);
  const gf = (r: ProfileRow) => (r.flops !== undefined && r.ms > 0 ? (r.flops / r.ms / 1e6).toFixed(0) : '').padStart(7);
  const opMs = rows.reduce((a, r) => a + r.ms, 0);
  const convs = rows.filter((r) => r.flops !== undefined);
  const conv = convs.reduce((a, r) => ({ ms: a.ms + r.ms, flops: a.flops + (r.flops ?? 0) }), { ms: 0, flops: 0 });
  const width = Math.max(24, ...rows.map((r) => r.op.length));
  const line = (name: string, calls: string, ms: number, g: string) =>
    `  ${name.padEnd(width)} ${calls.padStart(6)} ${per(ms).toFixed(2).padStart(9)} ${pct(ms)} ${g}`;
  const out = [
    `op profile, ${steps} steps, ${per(stepMs).toFixed(1)} ms per step (${device}${device === 'cpu' ? '' : ': launch times, not kernel times'})`,
    `  ${'op'.padEnd(width)} ${'calls'.padStart(6)} ${'ms/step'.padStart(9)} ${'%step'.padStart(5)} ${'GFLOP/s'.padStart(7)}`,
    ...rows.map((r) => line(r.op, (r.calls / Math.max(1, steps)).toFixed(0), r.ms, gf(r))),
    line('all convolutions', '', conv.ms, gf({ op: '', calls: 0, ms: conv.ms, flops: conv.flops })),
    line('all ops', '', opMs, ''.padStart(7)),
    line('outside ops (tape, JS, data)', '', Math.max(0, stepMs - opMs), ''.padStart(7)),
  ];
  return out.join('\n');
}

/**
 * This process's peak resident memory. On Linux from VmHWM: getrusage's maxRSS would include the
 * peak of the process that forked this one (Linux carries it over exec), e.g. a rank's launcher.
 */
export function peakRssMb(): number {
  try {
    const kb = /VmHWM:\s*(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kb) return Number(kb) / 1024;
  } catch {
    /* not Linux: fall back */
  }
  return process.resourceUsage().maxRSS / 1024;
}

/** The engine's CPU tensor memory for the benchmark report. */
export function tensorMemoryMb(): { peakMb: number; cachedMb: number } {
  const m = E.memory().cpu;
  return { peakMb: m.peakBytes / 2 ** 20, cachedMb: m.cachedBytes / 2 ** 20 };
}
