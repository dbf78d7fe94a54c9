// The CUDA convolutions: cuDNN for every geometry (conv_cudnn.cc), cuBLAS GEMMs for the
// 2x2x2 stride-2 down/up convolutions when selected (conv_gemm.cc).
#pragma once
#include "../conv_geom.h"
#include "../ops.h"
#include "device.h"

namespace vnet::cuda {

void cudnn_conv(const OpCall& c, const ConvGeom& g);

// One cuDNN convolution in steps, so that a benchmark can time the library call alone
// (conv_bench.cc). The constructor puts the operands in cuDNN's layout (weights transposed,
// the input padded when TF padding is asymmetric, everything transposed to NCDHW when the
// plan is channels-first) and finds or reuses the cached plan; run() is the library call (with
// the plan's algorithm and math type when given -1) and returns cuDNN's status; finish() brings
// the result into the engine's layout in c.out[0].
class CudnnConv {
 public:
  struct Plan;
  CudnnConv(const OpCall& c, const ConvGeom& g);
  int algo() const;
  int math() const;
  size_t workspace() const;
  bool channels_first() const;  // no channels-last algorithm was acceptable
  // False when cuDNN does not offer `algo` under `math` for this problem.
  bool workspace_for(int algo, int math, size_t* bytes) const;
  int run(int algo, int math, void* ws, size_t ws_bytes) const;
  void finish() const;
  static const char* algo_name(Op op, int algo);

 private:
  void stage_channels_first();

  const OpCall& c_;
  ConvGeom g_;
  int64_t pin_[3] = {0, 0, 0};  // the input's D, H, W as cuDNN sees it (after explicit padding)
  Scratch wt_, xp_, dxp_;        // channels last: weights (K, taps, C), padded input, padded dx
  Scratch xcf_, dycf_, wcf_, outcf_;  // channels first: the operands and the result, NCDHW
  bool cf_ = false;
  const void* x_ = nullptr;
  const void* dy_ = nullptr;
  const void* w_ = nullptr;
  void* dst_ = nullptr;
  const Plan* plan_ = nullptr;
};

// True when the GEMM formulation covers g: 2x2x2 kernel, stride 2, no padding, exact tiling.
bool gemm_conv_applies(const ConvGeom& g);
void gemm_conv(const OpCall& c, const ConvGeom& g);

}  // namespace vnet::cuda
