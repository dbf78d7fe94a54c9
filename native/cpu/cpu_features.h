// Run-time CPU feature detection: one build runs on any x86-64 and picks AVX-512, AVX2+FMA
// or the portable path when it starts (VNET_ISA=portable|avx2|avx512 forces a lower one).
#pragma once

namespace vnet::cpu {

enum class Isa { Portable = 0, Avx2 = 1, Avx512 = 2 };

Isa detect_isa();
const char* isa_name(Isa isa);

}  // namespace vnet::cpu

namespace vnet::cpu {
// Measures this machine's fp32 FMA peak in GFLOP/s on `threads` threads (best ISA), by running
// independent FMA chains for about `seconds`.
double measure_peak_gflops(int threads, double seconds);
}  // namespace vnet::cpu
