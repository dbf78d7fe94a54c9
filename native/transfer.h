// Host <-> device copies for tensors (reading a CUDA tensor synchronises its stream).
#pragma once
#include "tensor.h"

namespace vnet {

void copy_from_host(Tensor& t, const void* src, size_t nbytes);
void copy_to_host(const Tensor& t, void* dst);
TensorPtr copy_to(const TensorPtr& t, Device d);

}  // namespace vnet
