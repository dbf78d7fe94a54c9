// Dispatch for the CPU convolutions: the algorithm conv_algo_run picks (Winograd F(2³, 3³) or
// the direct kernels of conv3d_fast.cc), the reference loops where the direct kernels do not
// cover the call. VNET_CONV=ref forces the reference everywhere (for testing and comparing).
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

// fast(): the direct kernel (false when it does not cover the call); wino(m): Winograd F(m³, 3³).
template <class Fast, class Wino, class Ref>
ConvAlgo dispatch(ConvDir d, const ConvGeom& g, Fast fast, Wino wino, Ref ref) {
  if (force_ref()) return ref(), ConvAlgo::reference;
  bool fell_back = false;
  const ConvAlgo a = conv_algo_run(d, g, [&](ConvAlgo a) {
    if (a == ConvAlgo::winograd || a == ConvAlgo::winograd4) return wino(a == ConvAlgo::winograd ? 2 : 4);
    if (!(fell_back = !fast())) return true;
    ref();
    return true;
  });
  return a == ConvAlgo::direct && fell_back ? ConvAlgo::reference : a;
}
}  // namespace

ConvAlgo conv3d_fprop_f32(const ConvGeom& g, const float* x, const float* w, float* y, const WeightTag* tag) {
  return dispatch(
      ConvDir::fprop, g, [&] { return conv3d_fprop_fast(g, x, w, y); },
      [&](int m) { return conv3d_fprop_winograd(g, m, x, w, y, tag); }, [&] { conv3d_fprop_ref(g, x, w, y); });
}
ConvAlgo conv3d_dgrad_f32(const ConvGeom& g, const float* dy, const float* w, float* dx, const WeightTag* tag) {
  return dispatch(
      ConvDir::dgrad, g, [&] { return conv3d_dgrad_fast(g, dy, w, dx); },
      [&](int m) { return conv3d_dgrad_winograd(g, m, dy, w, dx, tag); }, [&] { conv3d_dgrad_ref(g, dy, w, dx); });
}
ConvAlgo conv3d_wgrad_f32(const ConvGeom& g, const float* x, const float* dy, float* dw) {
  return dispatch(
      ConvDir::wgrad, g, [&] { return conv3d_wgrad_fast(g, x, dy, dw); },
      [&](int m) { return conv3d_wgrad_winograd(g, m, x, dy, dw); }, [&] { conv3d_wgrad_ref(g, x, dy, dw); });
}

}  // namespace vnet::cpu
