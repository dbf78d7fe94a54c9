// AVX2+FMA instance of the FMA peak loop (see peak_body.h).
#include "simd_avx2.h"
#define VNET_ISA_NS avx2
using Vec = VecAvx2;
#include "peak_body.h"

namespace vnet::cpu {
double peak_fma_flops_avx2(double seconds) { return avx2::peak_fma_flops(seconds); }
}  // namespace vnet::cpu
