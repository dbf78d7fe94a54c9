// Registers every CUDA kernel (called once when the addon loads; touches no GPU) and routes
// the conv ops: cuBLAS for the 2x2x2 stride-2 geometry when VNET_CONV_GEMM=1 or attrs
// engine='gemm', cuDNN otherwise.
#include "kernels/kernels.h"
#include "conv.h"
#include "device.h"

namespace vnet {

namespace cuda {

namespace {

bool conv_supports(const OpCall& c) {
  return c.in[0]->dtype == DType::F32 || c.in[0]->dtype == DType::F16;
}

void conv_run(const OpCall& c) {
  ConvGeom g = conv_geom_of(c);
  if (g.N == 0) return;
  std::string engine = c.attrs->s("engine", "");
  VNET_CHECK(engine.empty() || engine == "cudnn" || engine == "gemm", VNET_E_INVALID_ARG,
             "engine must be 'cudnn' or 'gemm', got '" + engine + "'");
  bool gemm = engine == "gemm" || (engine.empty() && conv_gemm_enabled());
  if (gemm && gemm_conv_applies(g)) {
    gemm_conv(c, g);
    return;
  }
  VNET_CHECK(engine != "gemm", VNET_E_UNSUPPORTED,
             "engine 'gemm' covers only 2x2x2 stride-2 unpadded convolutions with even input sizes");
  cudnn_conv(c, g);
}

}  // namespace

void register_conv_kernels() {
  register_kernel(Op::conv3d_fprop, Device::CUDA, {conv_supports, conv_run});
  register_kernel(Op::conv3d_dgrad, Device::CUDA, {conv_supports, conv_run});
  register_kernel(Op::conv3d_wgrad, Device::CUDA, {conv_supports, conv_run});
}

}  // namespace cuda

void register_cuda_kernels() {
  cuda::register_conv_kernels();
  cuda::register_elementwise_kernels();
  cuda::register_reduce_kernels();
  cuda::register_layout_kernels();
  cuda::register_batchnorm_kernels();
  cuda::register_loss_kernels();
  cuda::register_optim_kernels();
}

}  // namespace vnet
