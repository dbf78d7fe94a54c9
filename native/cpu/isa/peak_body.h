// FMA peak loop shared by the ISA files: 12 independent accumulator chains (enough to cover
// the FMA latency on two pipes) run until `seconds` have passed; returns the FLOPs done.
// The including file defines VNET_ISA_NS and the vector type Vec before including this.
#pragma once

namespace vnet::cpu {
// Monotonic seconds, defined in peak.cc: keeps std::chrono templates (which the linker may
// share between translation units) out of the wide-vector builds.
double peak_now_seconds();
}  // namespace vnet::cpu

namespace vnet::cpu::VNET_ISA_NS {

inline double peak_fma_flops(double seconds) {
  using T = typename Vec::T;
  constexpr int kChains = 12;
  constexpr long kInner = 1 << 16;
  const float one = 1.0f, tiny = 1e-7f, mul = 0.9999999f;
  T acc[kChains];
  for (int i = 0; i < kChains; i++) acc[i] = Vec::bcast(&one);
  const T a = Vec::bcast(&mul), b = Vec::bcast(&tiny);
  double flops = 0;
  const double t0 = peak_now_seconds();
  do {
    for (long it = 0; it < kInner; it++) {
      for (int i = 0; i < kChains; i++) acc[i] = Vec::fma(acc[i], a, b);
    }
    flops += 2.0 * Vec::W * kChains * kInner;
  } while (peak_now_seconds() - t0 < seconds);
  T s = acc[0];
  for (int i = 1; i < kChains; i++) s = Vec::add(s, acc[i]);
  volatile float sink = Vec::hsum(s);
  (void)sink;
  return flops;
}

}  // namespace vnet::cpu::VNET_ISA_NS
