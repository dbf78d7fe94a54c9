// Convolution geometry: the one place where conv shapes, strides and padding are checked and
// held. Used by the shape rules, every backend's kernels and the benchmarks. (The padding of
// 'same' and 'valid' is worked out by the TypeScript layer, convPads in src/engine/ops.ts,
// which passes explicit pads and output sizes.)
#pragma once
#include <cstdint>
#include <vector>

#include "tensor.h"

namespace vnet {

// A 3-D convolution x (N,D,H,W,C) * w (kd,kh,kw,C,K) -> y (N,OD,OH,OW,K).
// Output voxel o reads input voxel o*s - pad_front + tap along each axis; taps falling outside
// [0, in) read zero. Transposed convolution is dgrad of this geometry.
struct ConvGeom {
  int64_t N = 0, D = 0, H = 0, W = 0, C = 0;  // input
  int64_t K = 0;                              // output channels
  int64_t kd = 1, kh = 1, kw = 1;             // kernel
  int64_t sd = 1, sh = 1, sw = 1;             // stride
  int64_t pd = 0, ph = 0, pw = 0;             // front padding (back padding is implied by O*)
  int64_t OD = 0, OH = 0, OW = 0;             // output

  int64_t in_numel() const { return N * D * H * W * C; }
  int64_t out_numel() const { return N * OD * OH * OW * K; }
  int64_t w_numel() const { return kd * kh * kw * C * K; }
};

// Builds and validates the geometry (throws VNET_E_SHAPE with the shapes on mismatch).
// x_shape (N,D,H,W,C), w_shape (kd,kh,kw,C,K), out_spatial (OD,OH,OW).
ConvGeom make_conv_geom(const Shape& x_shape, const Shape& w_shape,
                        const std::vector<int64_t>& stride, const std::vector<int64_t>& pad_front,
                        const std::vector<int64_t>& out_spatial);

}  // namespace vnet
