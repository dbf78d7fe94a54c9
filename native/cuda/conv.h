// The CUDA convolutions: cuDNN for every geometry (conv_cudnn.cc), cuBLAS GEMMs for the
// 2x2x2 stride-2 down/up convolutions when selected (conv_gemm.cc).
#pragma once
#include "../conv_geom.h"
#include "../ops.h"

namespace vnet::cuda {

void cudnn_conv(const OpCall& c, const ConvGeom& g);

// True when the GEMM formulation covers g: 2x2x2 kernel, stride 2, no padding, exact tiling.
bool gemm_conv_applies(const ConvGeom& g);
void gemm_conv(const OpCall& c, const ConvGeom& g);

}  // namespace vnet::cuda
