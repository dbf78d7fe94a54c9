// FMA peak measurement for the benchmarks (portable fallback: scalar chains).
#include <chrono>

#include "../threadpool.h"
#include "cpu_features.h"

namespace vnet::cpu {

double measure_peak_gflops(int threads, double seconds) {
  (void)threads;
  auto t0 = std::chrono::steady_clock::now();
  double flops = 0;
  float a[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  do {
    for (int i = 0; i < 1 << 20; i++)
      for (int j = 0; j < 8; j++) a[j] = a[j] * 0.999999f + 1e-7f;
    flops += 2.0 * 8 * (1 << 20);
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < seconds);
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return a[0] > 0 ? flops / dt / 1e9 : 0;
}

}  // namespace vnet::cpu
