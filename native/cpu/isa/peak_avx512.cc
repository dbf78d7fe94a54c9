// AVX-512 instance of the FMA peak loop (see peak_body.h).
#include "simd_avx512.h"
#define VNET_ISA_NS avx512
using Vec = VecAvx512;
#include "peak_body.h"

namespace vnet::cpu {
double peak_fma_flops_avx512(double seconds) { return avx512::peak_fma_flops(seconds); }
}  // namespace vnet::cpu
