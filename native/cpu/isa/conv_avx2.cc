// AVX2+FMA instance of the convolution kernels: direct (conv_fwd_body.h, conv_wgrad_body.h) and
// Winograd (winograd_body.h).
#include "simd_avx2.h"
#define VNET_MAX_RW 6
#define VNET_ISA_NS avx2
using Vec = VecAvx2;
#include "conv_fwd_body.h"
#include "conv_wgrad_body.h"
#include "winograd_body.h"

namespace vnet::cpu::VNET_ISA_NS {
const ConvIsaKernels kKernels = {KB, fwd_rows, wgrad_rows};
const WinoIsaKernels kWinoKernels = {KB, kMaxRw, wino_filter, wino_fprop, wino_wgrad, wino_filter_grad};
}

namespace vnet::cpu {
const ConvIsaKernels* conv_kernels_avx2() { return &avx2::kKernels; }
const WinoIsaKernels* wino_kernels_avx2() { return &avx2::kWinoKernels; }
}  // namespace vnet::cpu
