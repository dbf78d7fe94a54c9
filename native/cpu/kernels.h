// CPU kernel registration: each file registers its op family; register.cc calls them all.
#pragma once
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

// Elements per parallel chunk for cheap element-wise loops.
constexpr int64_t kGrain = 1 << 14;

}  // namespace vnet::cpu
