// AVX2+FMA instance of the direct convolution kernels (conv_fwd_body.h, conv_wgrad_body.h).
#include "simd_avx2.h"
#define VNET_MAX_RW 6
#define VNET_ISA_NS avx2
using Vec = VecAvx2;
#include "conv_fwd_body.h"
#include "conv_wgrad_body.h"

namespace vnet::cpu::VNET_ISA_NS {
const ConvIsaKernels kKernels = {KB, fwd_rows, wgrad_rows};
}

namespace vnet::cpu {
const ConvIsaKernels* conv_kernels_avx2() { return &avx2::kKernels; }
}  // namespace vnet::cpu
