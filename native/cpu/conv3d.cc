// Dispatch for the CPU convolutions. The fast kernels (chosen by geometry and ISA) plug in
// here; anything they do not cover runs the reference loops.
#include "conv3d.h"

namespace vnet::cpu {

void conv3d_fprop_f32(const ConvGeom& g, const float* x, const float* w, float* y) {
  conv3d_fprop_ref(g, x, w, y);
}
void conv3d_dgrad_f32(const ConvGeom& g, const float* dy, const float* w, float* dx) {
  conv3d_dgrad_ref(g, dy, w, dx);
}
void conv3d_wgrad_f32(const ConvGeom& g, const float* x, const float* dy, float* dw) {
  conv3d_wgrad_ref(g, x, dy, dw);
}

}  // namespace vnet::cpu
