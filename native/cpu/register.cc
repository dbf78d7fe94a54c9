// Registers every CPU kernel. The CPU computes in fp32 only; fp16 tensors (AMP's storage type)
// are widened to fp32 around each kernel and the fp16 results narrowed back, in one place here,
// so every op takes fp16 with fp32 arithmetic.
#include <vector>

#include "../transfer.h"
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

namespace {

Kernel g_f32[kNumOps];

TensorPtr convert(const TensorPtr& t, DType to) {
  Attrs a;
  a.str["dtype"] = dtype_name(to);
  OpCall c{Op::cast, {t}, {make_tensor(t->shape, to, Device::CPU)}, &a};
  find_kernel(Op::cast, Device::CPU)->run(c);
  return c.out[0];
}

void widened_run(const OpCall& c) {
  const Kernel& k = g_f32[int(c.op)];
  if (all_f32(c)) return k.run(c);
  OpCall w{c.op, c.in, c.out, c.attrs};
  for (auto& t : w.in)
    if (t->dtype == DType::F16) t = convert(t, DType::F32);
  for (auto& t : w.out)
    if (t->dtype == DType::F16) t = make_tensor(t->shape, DType::F32, Device::CPU);
  k.run(w);
  auto narrow_into = [](const TensorPtr& dst, const TensorPtr& src) {
    TensorPtr h = convert(src, DType::F16);
    std::swap(dst->storage, h->storage);  // the caller's tensor takes the fp16 values
  };
  for (size_t i = 0; i < c.out.size(); i++)
    if (c.out[i]->dtype == DType::F16) narrow_into(c.out[i], w.out[i]);
  // Ops that write into their inputs: their fp16 inputs are narrowed back after the kernel.
  if (op_mutates_inputs(c.op))
    for (size_t i = 0; i < c.in.size(); i++)
      if (c.in[i]->dtype == DType::F16) narrow_into(c.in[i], w.in[i]);
}

}  // namespace
}  // namespace cpu

void register_cpu_kernels() {
  cpu::register_conv();
  cpu::register_elementwise();
  cpu::register_batchnorm();
  cpu::register_loss();
  cpu::register_optim();
  cpu::register_fused();
  for (int i = 0; i < kNumOps; i++) {
    const Kernel* k = find_kernel(Op(i), Device::CPU);
    if (!k || Op(i) == Op::cast) continue;
    cpu::g_f32[i] = *k;
    register_kernel(Op(i), Device::CPU, {nullptr, cpu::widened_run});
  }
}

}  // namespace vnet
