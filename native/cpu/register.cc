// Registers every CPU kernel.
#include "kernels.h"

namespace vnet {

namespace cpu {
bool all_f32(const OpCall& c) {
  for (auto& t : c.in)
    if (t->dtype == DType::F16) return false;
  for (auto& t : c.out)
    if (t->dtype == DType::F16) return false;
  return true;
}
}  // namespace cpu

void register_cpu_kernels() {
  cpu::register_conv();
  cpu::register_elementwise();
  cpu::register_batchnorm();
  cpu::register_loss();
  cpu::register_optim();
}

}  // namespace vnet
