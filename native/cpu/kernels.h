// CPU kernel registration: each file registers its op family; register.cc calls them all.
#pragma once
#include <vector>

#include "../error.h"
#include "../ops.h"
#include "../threadpool.h"

namespace vnet::cpu {

void register_conv();
void register_elementwise();
void register_batchnorm();
void register_loss();
void register_optim();
void register_fused();

// CPU kernels compute in fp32; fp16 tensors are converted by `cast` (AMP storage only).
bool all_f32(const OpCall& c);

// Per-channel mean and biased variance of an (R, C) matrix (two passes, double sums).
void channel_moments(const float* x, int64_t R, int64_t C, std::vector<double>& mean, std::vector<double>& var);

// Batch-norm backward over an (R, C) matrix whose batch mean is `center`, optionally through a
// ReLU (g = dy where relu_out > 0, else 0; relu_out may be null). Writes dx, dgamma, dbeta and,
// when asked, the per-channel coefficients of dx = g·a + x·b + d.
struct BnBwdCoefs {
  std::vector<float> a, b, d;
};
void bn_backward(const float* dy, const float* relu_out, const float* x, const float* center, const float* gamma,
                 const float* invstd, int64_t R, int64_t C, float* dx, float* dgamma, float* dbeta,
                 BnBwdCoefs* coefs = nullptr);

// Elements per parallel chunk for cheap element-wise loops.
constexpr int64_t kGrain = 1 << 14;

}  // namespace vnet::cpu
