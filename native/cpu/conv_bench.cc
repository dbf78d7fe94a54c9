// CPU side of the convolution benchmark (see conv_bench.h): the engine's dispatch ("auto", the
// row named after the algorithm it picked), the direct kernels, Winograd F(2³, 3³) and F(4³, 3³)
// and the portable loops, each timed with a monotonic clock around the kernel call alone (the
// output is allocated before; Winograd's filter transform is part of each call, as in training).
#include "../conv_bench.h"

#include <chrono>
#include <sstream>

#include "conv3d.h"
#include "conv3d_fast.h"
#include "../conv_geom.h"
#include "../error.h"

namespace vnet::cpu {

namespace {

using Kern = std::function<bool(const ConvGeom&, const float*, const float*, float*)>;

ConvDir dir_of(Op op) {
  switch (op) {
    case Op::conv3d_fprop: return ConvDir::fprop;
    case Op::conv3d_dgrad: return ConvDir::dgrad;
    case Op::conv3d_wgrad: return ConvDir::wgrad;
    default: throw_error(ErrorCode::VNET_E_INVALID_ARG, "conv bench: not a conv3d op");
  }
}

// One algorithm's kernel for the call's direction; *used receives what the engine's dispatch ran.
Kern pick(ConvDir d, ConvAlgo a, bool engine, ConvAlgo* used) {
  if (engine)
    return [d, used](const ConvGeom& g, const float* p, const float* q, float* o) {
      *used = d == ConvDir::fprop ? conv3d_fprop_f32(g, p, q, o) : d == ConvDir::dgrad ? conv3d_dgrad_f32(g, p, q, o)
                                                                                      : conv3d_wgrad_f32(g, p, q, o);
      return true;
    };
  const int m = a == ConvAlgo::winograd4 ? 4 : 2;
  return [d, a, m](const ConvGeom& g, const float* p, const float* q, float* o) {
    switch (a) {
      case ConvAlgo::direct:
        return d == ConvDir::fprop ? conv3d_fprop_fast(g, p, q, o) : d == ConvDir::dgrad ? conv3d_dgrad_fast(g, p, q, o)
                                                                                        : conv3d_wgrad_fast(g, p, q, o);
      case ConvAlgo::reference:
        if (d == ConvDir::fprop) conv3d_fprop_ref(g, p, q, o);
        else if (d == ConvDir::dgrad) conv3d_dgrad_ref(g, p, q, o);
        else conv3d_wgrad_ref(g, p, q, o);
        return true;
      default:
        return d == ConvDir::fprop   ? conv3d_fprop_winograd(g, m, p, q, o, nullptr)
               : d == ConvDir::dgrad ? conv3d_dgrad_winograd(g, m, p, q, o, nullptr)
                                     : conv3d_wgrad_winograd(g, m, p, q, o);
    }
  };
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
bool time_kernel(const Kern& k, const OpCall& c, const ConvBenchOptions& o, ConvBenchResult& r) {
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

ConvAlgo algo_from_name(const std::string& s) {
  for (ConvAlgo a : {ConvAlgo::direct, ConvAlgo::winograd, ConvAlgo::winograd4, ConvAlgo::reference})
    if (s == conv_algo_name(a)) return a;
  throw_error(ErrorCode::VNET_E_INVALID_ARG,
              "conv bench: unknown algorithm '" + s + "' (auto, all, direct, winograd, winograd4, reference)");
}

}  // namespace

std::vector<ConvBenchResult> conv_bench(const OpCall& c, const ConvBenchOptions& o) {
  check_call(c);
  const ConvDir d = dir_of(c.op);
  std::vector<ConvBenchResult> res;
  // The engine's dispatch runs first: under auto it measures the candidates at its first use
  // of the shape, and its pick is the row marked chosen.
  ConvAlgo used = ConvAlgo::direct;
  ConvBenchResult engine;
  time_kernel(pick(d, used, true, &used), c, o.algo == "auto" ? o : ConvBenchOptions{0, 1, 0, 1}, engine);
  if (o.algo == "auto") {
    engine.algo = conv_algo_name(used);
    engine.chosen = true;
    res.push_back(std::move(engine));
    return res;
  }
  std::vector<ConvAlgo> algos;
  if (o.algo == "all" || o.all) {
    algos = {ConvAlgo::direct, ConvAlgo::winograd, ConvAlgo::winograd4, ConvAlgo::reference};
  } else {
    std::stringstream ss(o.algo);
    for (std::string s; std::getline(ss, s, ',');) algos.push_back(algo_from_name(s));
  }
  for (ConvAlgo a : algos) {
    ConvBenchResult r;
    r.algo = conv_algo_name(a);
    r.chosen = a == used;
    if (!time_kernel(pick(d, a, false, nullptr), c, o, r)) {
      if (o.algo == "all" || o.all) continue;  // only what supports the problem
      r.ms.clear();
      r.error = std::string(conv_algo_name(a)) + " does not cover this convolution" +
                (a == ConvAlgo::winograd || a == ConvAlgo::winograd4 ? " (Winograd: 3x3x3, stride 1, pads 0..2, AVX2 or AVX-512)" : "");
    }
    res.push_back(std::move(r));
  }
  return res;
}

TensorPtr conv_reference(const OpCall& c) {
  check_call(c);
  const ConvGeom g = conv_geom_of(c);
  OpCall call = c;
  infer_outputs(call);
  pick(dir_of(c.op), ConvAlgo::reference, false, nullptr)(g, c.in[0]->data<float>(), c.in[1]->data<float>(),
                                                         call.out[0]->data<float>());
  return call.out[0];
}

}  // namespace vnet::cpu
