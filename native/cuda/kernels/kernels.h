// The launchers that host code elsewhere in native/cuda/ calls directly (the convolution paths'
// data movement), and each op family's registration. Every launcher queues its kernels on the
// op stream and checks the launch.
#pragma once
#include <cstdint>

#include "../../tensor.h"

namespace vnet::cuda {

// dst[b] (cols, rows) = transpose of src[b] (rows, cols) for each of `batch` consecutive
// matrices; elements of `dt` (f32 or f16). batch <= 65535 (the grid's z).
void launch_transpose2d(const void* src, void* dst, int64_t rows, int64_t cols, DType dt, int64_t batch = 1);

// Window copy between NDHWC volumes of the same N and C: dst[n,d,h,w,c] = src[n,d+od,h+oh,w+ow,c]
// where that lies inside src, else 0 (pads with od<0, crops with od>0).
void launch_window_copy(const void* src, void* dst, int64_t N, int64_t C, const int64_t src_dhw[3],
                        const int64_t dst_dhw[3], const int64_t off[3], DType dt);

// 2x2x2 stride-2 windows <-> rows: cols (N*OD*OH*OW, 8*C) gathers x (N,2OD,2OH,2OW,C);
// scatter is the inverse (every element written exactly once).
void launch_s2_gather(const void* x, void* cols, int64_t N, int64_t OD, int64_t OH, int64_t OW, int64_t C, DType dt);
void launch_s2_scatter(const void* cols, void* x, int64_t N, int64_t OD, int64_t OH, int64_t OW, int64_t C, DType dt);

// Fused inference block y = relu((x + bias) * scale + shift), scale/shift per channel from
// BN's running statistics (gamma / sqrt(var + eps), beta - mean * scale): the CUDA kernel of
// the bias_bn_relu_infer op (batchnorm.cu).
void launch_bias_bn_relu_infer(const void* x, const float* bias, const float* gamma, const float* beta,
                               const float* rmean, const float* rvar, float eps, void* y, int64_t rows,
                               int64_t C, DType dt);

void register_elementwise_kernels();
void register_reduce_kernels();
void register_layout_kernels();
void register_batchnorm_kernels();
void register_loss_kernels();
void register_optim_kernels();
void register_conv_kernels();  // native/cuda/register.cc

}  // namespace vnet::cuda
