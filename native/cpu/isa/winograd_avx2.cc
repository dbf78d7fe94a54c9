// AVX2+FMA instance of the Winograd kernels (winograd_body.h).
#include "simd_avx2.h"
#define VNET_MAX_RW 6
#define VNET_ISA_NS avx2
using Vec = VecAvx2;
#include "winograd_body.h"

namespace vnet::cpu::VNET_ISA_NS {
const WinoIsaKernels kWinoKernels = {KB, kMaxRw, wino_filter, wino_fprop, wino_wgrad, wino_filter_grad};
}

namespace vnet::cpu {
const WinoIsaKernels* wino_kernels_avx2() { return &avx2::kWinoKernels; }
}  // namespace vnet::cpu
