// AVX-512 instance of the Winograd kernels (winograd_body.h).
#include "simd_avx512.h"
#define VNET_MAX_RW 12
#define VNET_ISA_NS avx512
using Vec = VecAvx512;
#include "winograd_body.h"

namespace vnet::cpu::VNET_ISA_NS {
const WinoIsaKernels kWinoKernels = {KB, kMaxRw, wino_filter, wino_fprop, wino_wgrad, wino_filter_grad};
}

namespace vnet::cpu {
const WinoIsaKernels* wino_kernels_avx512() { return &avx512::kWinoKernels; }
}  // namespace vnet::cpu
