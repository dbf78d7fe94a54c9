// Dispatch for the CPU convolutions: the fast kernels (conv3d_fast.cc, chosen by geometry and
// ISA) when they cover the call, the reference loops otherwise. VNET_CONV=ref forces the
// reference everywhere (for testing and comparing).
#include <cstdlib>
#include <cstring>

#include "../env.h"
#include "conv3d.h"
#include "conv3d_fast.h"

namespace vnet::cpu {

namespace {
bool force_ref() {
  static const bool ref = [] {
    const char* e = env::get("VNET_CONV");
    return e && !std::strcmp(e, "ref");
  }();
  return ref;
}
}  // namespace

void conv3d_fprop_f32(const ConvGeom& g, const float* x, const float* w, float* y) {
  if (force_ref() || !conv3d_fprop_fast(g, x, w, y)) conv3d_fprop_ref(g, x, w, y);
}
void conv3d_dgrad_f32(const ConvGeom& g, const float* dy, const float* w, float* dx) {
  if (force_ref() || !conv3d_dgrad_fast(g, dy, w, dx)) conv3d_dgrad_ref(g, dy, w, dx);
}
void conv3d_wgrad_f32(const ConvGeom& g, const float* x, const float* dy, float* dw) {
  if (force_ref() || !conv3d_wgrad_fast(g, x, dy, dw)) conv3d_wgrad_ref(g, x, dy, dw);
}

}  // namespace vnet::cpu
