// Benchmark statistics: true throughput (images over time) and percentiles, and the
// reference's figures (mean of per-step rates, mean + z·σ/√n "percentiles"), labelled as such.
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

function percentile(sorted: number[], p: number): number {
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

export function formatBench(mode: string, s: BenchStats, peakRssMb: number): string {
  const f = (v: number) => v.toFixed(2);
  return [
    `${mode} benchmark, batch ${s.batchSize}, ${s.steps} timed steps`,
    `  throughput           ${f(s.throughput)} images/s (total images / total time)`,
    `  throughput (ref)     ${f(s.throughputMeanOfRates)} images/s (mean of per-step rates, the reference's "Throughput Avg")`,
    `  latency mean         ${f(s.latencyMeanMs)} ms per batch`,
    `  latency p50/p90/p95/p99  ${f(s.p50Ms)} / ${f(s.p90Ms)} / ${f(s.p95Ms)} / ${f(s.p99Ms)} ms`,
    `  ref. bounds 90/95/99 ${f(s.refConfidenceBoundsMs['90'])} / ${f(s.refConfidenceBoundsMs['95'])} / ${f(s.refConfidenceBoundsMs['99'])} ms (mean + z·σ/√n: confidence bounds, not percentiles)`,
    `  peak resident memory ${peakRssMb.toFixed(0)} MB`,
  ].join('\n');
}
