// AVX-512 instance of the direct convolution kernels (conv_fwd_body.h, conv_wgrad_body.h).
#include "simd_avx512.h"
#define VNET_MAX_RW 12
#define VNET_ISA_NS avx512
using Vec = VecAvx512;
#include "conv_fwd_body.h"
#include "conv_wgrad_body.h"

namespace vnet::cpu::VNET_ISA_NS {
const ConvIsaKernels kKernels = {KB, fwd_rows, wgrad_rows};
}

namespace vnet::cpu {
const ConvIsaKernels* conv_kernels_avx512() { return &avx512::kKernels; }
}  // namespace vnet::cpu
