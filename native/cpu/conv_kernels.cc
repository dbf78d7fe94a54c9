// conv3d_* kernels on the CPU (fp32).
#include "conv3d.h"
#include "kernels.h"

namespace vnet::cpu {

namespace {

// The weights' storage and write version: the key of their cached Winograd transforms.
WeightTag tag_of(const TensorPtr& w) { return WeightTag{w->storage, w->storage->id, w->storage->version.load()}; }

void fprop(const OpCall& c) {
  ConvGeom g = conv_geom_of(c);
  const WeightTag tag = tag_of(c.in[1]);
  conv3d_fprop_f32(g, c.in[0]->data<float>(), c.in[1]->data<float>(), c.out[0]->data<float>(), &tag);
}
void dgrad(const OpCall& c) {
  ConvGeom g = conv_geom_of(c);
  const WeightTag tag = tag_of(c.in[1]);
  conv3d_dgrad_f32(g, c.in[0]->data<float>(), c.in[1]->data<float>(), c.out[0]->data<float>(), &tag);
}
void wgrad(const OpCall& c) {
  ConvGeom g = conv_geom_of(c);
  conv3d_wgrad_f32(g, c.in[0]->data<float>(), c.in[1]->data<float>(), c.out[0]->data<float>());
}

}  // namespace

void register_conv() {
  register_kernel(Op::conv3d_fprop, Device::CPU, {all_f32, fprop});
  register_kernel(Op::conv3d_dgrad, Device::CPU, {all_f32, dgrad});
  register_kernel(Op::conv3d_wgrad, Device::CPU, {all_f32, wgrad});
}

}  // namespace vnet::cpu
