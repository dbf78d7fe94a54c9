// CPU side of the convolution benchmark (see conv_bench.h): the engine's fast kernel
// ("direct") and the portable loops ("reference"), each timed with a monotonic clock around
// the kernel call alone (the output is allocated before).
#include "../conv_bench.h"

#include <chrono>

#include "conv3d.h"
#include "conv3d_fast.h"
#include "../conv_geom.h"
#include "../error.h"

namespace vnet::cpu {

namespace {

using Kern = bool (*)(const ConvGeom&, const float*, const float*, float*);

bool ref_fprop(const ConvGeom& g, const float* a, const float* b, float* o) { return conv3d_fprop_ref(g, a, b, o), true; }
bool ref_dgrad(const ConvGeom& g, const float* a, const float* b, float* o) { return conv3d_dgrad_ref(g, a, b, o), true; }
bool ref_wgrad(const ConvGeom& g, const float* a, const float* b, float* o) { return conv3d_wgrad_ref(g, a, b, o), true; }

Kern pick(Op op, bool reference) {
  switch (op) {
    case Op::conv3d_fprop: return reference ? ref_fprop : conv3d_fprop_fast;
    case Op::conv3d_dgrad: return reference ? ref_dgrad : conv3d_dgrad_fast;
    case Op::conv3d_wgrad: return reference ? ref_wgrad : conv3d_wgrad_fast;
    default: throw_error(ErrorCode::VNET_E_INVALID_ARG, "conv bench: not a conv3d op");
  }
}

void check_call(const OpCall& c) {
  VNET_CHECK(c.in.size() == 2 && c.in[0] && c.in[1] && c.in[0]->storage && c.in[1]->storage, VNET_E_INVALID_ARG,
             "conv bench needs two live input tensors");
  for (auto& t : c.in) {
    VNET_CHECK(t->device == Device::CPU, VNET_E_DEVICE, "conv bench (cpu): inputs must be on the CPU");
    VNET_CHECK(t->dtype == DType::F32, VNET_E_DTYPE, "the CPU convolutions are f32 only");
  }
}

// One candidate: returns false (and no times) when the kernel does not cover the geometry.
bool time_kernel(Kern k, const OpCall& c, const ConvBenchOptions& o, ConvBenchResult& r) {
  const ConvGeom g = conv_geom_of(c);
  OpCall call = c;
  infer_outputs(call);
  r.out = call.out[0];
  const float* a = c.in[0]->data<float>();
  const float* b = c.in[1]->data<float>();
  float* y = r.out->data<float>();
  if (!k(g, a, b, y)) return false;  // the first warm-up call tells whether it applies
  for (int i = 1; i < o.warmup; i++) k(g, a, b, y);
  using clock = std::chrono::steady_clock;
  double total = 0;
  while (int(r.ms.size()) < o.max_reps && (int(r.ms.size()) < o.min_reps || total < o.min_ms)) {
    auto t0 = clock::now();
    k(g, a, b, y);
    double ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    r.ms.push_back(ms);
    total += ms;
  }
  return true;
}

}  // namespace

std::vector<ConvBenchResult> conv_bench(const OpCall& c, const ConvBenchOptions& o) {
  check_call(c);
  std::vector<ConvBenchResult> res;
  // The engine's dispatch (conv3d.cc): the fast kernel when it covers the call, else the loops.
  ConvBenchResult fast;
  fast.algo = "direct";
  const bool covered = time_kernel(pick(c.op, false), c, o, fast);
  if (covered) {
    fast.chosen = true;
    res.push_back(std::move(fast));
  }
  if (!covered || o.all) {
    ConvBenchResult ref;
    ref.algo = "reference";
    ref.chosen = !covered;
    time_kernel(pick(c.op, true), c, o, ref);
    res.push_back(std::move(ref));
  }
  return res;
}

TensorPtr conv_reference(const OpCall& c) {
  check_call(c);
  const ConvGeom g = conv_geom_of(c);
  OpCall call = c;
  infer_outputs(call);
  pick(c.op, true)(g, c.in[0]->data<float>(), c.in[1]->data<float>(), call.out[0]->data<float>());
  return call.out[0];
}

}  // namespace vnet::cpu
