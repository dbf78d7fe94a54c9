// FMA peak measurement for the benchmarks: the best ISA's FMA chains on `threads` threads.
#include <algorithm>
#include <chrono>
#include <vector>

#include "../threadpool.h"
#include "cpu_features.h"

namespace vnet::cpu {

double peak_now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double peak_fma_flops_avx2(double seconds);    // isa/peak_avx2.cc
double peak_fma_flops_avx512(double seconds);  // isa/peak_avx512.cc

namespace {
// Baseline fallback: 8 scalar chains (what the compiler makes of them without AVX).
double peak_fma_flops_portable(double seconds) {
  // Starting values the compiler cannot see: from constant 1s the chains sit at a fixed point
  // (1 * 0.9999999f + 1e-7f == 1 in float), the loop folds away and the "peak" was 67 TFLOP/s.
  volatile float seed = 0.5f;
  float a[8];
  for (int j = 0; j < 8; j++) a[j] = seed + 0.01f * float(j);
  double flops = 0;
  auto t0 = std::chrono::steady_clock::now();
  do {
    for (int i = 0; i < 1 << 16; i++)
      for (int j = 0; j < 8; j++) a[j] = a[j] * 0.9999999f + 1e-7f;
    flops += 2.0 * 8 * (1 << 16);
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < seconds);
  volatile float sink = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
  (void)sink;
  return flops;
}
}  // namespace

double measure_peak_gflops(int threads, double seconds) {
  threads = std::max(1, threads);
  seconds = std::max(0.01, seconds);
  const Isa isa = detect_isa();
  std::vector<double> flops(threads, 0.0);
  auto t0 = std::chrono::steady_clock::now();
  // One task per thread; with fewer pool threads the tasks queue, and FLOPs / wall time
  // still gives what the pool can do.
  parallel_tasks(threads, [&](int t) {
    flops[t] = isa == Isa::Avx512 ? peak_fma_flops_avx512(seconds)
               : isa == Isa::Avx2 ? peak_fma_flops_avx2(seconds)
                                  : peak_fma_flops_portable(seconds);
  });
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double total = 0;
  for (double f : flops) total += f;
  return total / dt / 1e9;
}

}  // namespace vnet::cpu
