// CUDA side of the convolution benchmark (see conv_bench.h). Each algorithm's calls are
// bracketed by events on the op stream; the weights are transposed and the input padded
// before (CudnnConv), the workspace allocated before, so the timed region holds the library
// call alone (the GEMM path's gather/scatter kernels are part of that path and are timed).
// `all`: every cuDNN algorithm whose workspace query succeeds for the problem, under the
// row's math type, plus the cuBLAS GEMM path where it applies; the engine's choice is marked.
#include "../conv_bench.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>

#include "../backend.h"
#include "../conv_geom.h"
#include "../env.h"
#include "../error.h"
#include "conv.h"
#include "device.h"
#include "libs.h"

namespace vnet::cuda {

namespace {

// Queues rounds of back-to-back calls, each between two events, and reads the times after one
// synchronisation per round, so host work between calls stays off the GPU's timeline.
void time_launches(const std::function<void()>& launch, const ConvBenchOptions& o, std::vector<double>& ms) {
  constexpr int kRound = 64;
  for (int i = 0; i < o.warmup; i++) launch();
  synchronize();
  std::vector<std::unique_ptr<Event>> ev;
  for (int i = 0; i < 2 * kRound; i++) ev.push_back(std::make_unique<Event>());
  double total = 0;
  int round = std::max(1, std::min(o.min_reps, kRound));
  while (int(ms.size()) < o.max_reps && (int(ms.size()) < o.min_reps || total < o.min_ms)) {
    const int n = std::min(round, o.max_reps - int(ms.size()));
    for (int i = 0; i < n; i++) {
      ev[2 * i]->record();
      launch();
      ev[2 * i + 1]->record();
    }
    for (int i = 0; i < n; i++) {
      const double t = ev[2 * i + 1]->ms_since(*ev[2 * i]);
      ms.push_back(t);
      total += t;
    }
    const double per = total / double(ms.size());
    const double left = o.min_ms - total;
    round = left > 0 && per > 0 ? int(std::min<double>(kRound, std::max(1.0, left / per + 1))) : 1;
  }
}

TensorPtr snapshot(const Tensor& t) {
  TensorPtr s = make_tensor(t.shape, t.dtype, Device::CUDA);
  memcpy_d2d(s->storage->data, t.storage->data, t.nbytes());
  return s;
}

const char* math_name(int m) {
  switch (m) {
    case dnn::CUDNN_DEFAULT_MATH: return "default";
    case dnn::CUDNN_TENSOR_OP_MATH: return "tensor_op";
    case dnn::CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "tensor_op_conversion";
    default: return "fma";
  }
}

int algo_count(Op op) {
  if (op == Op::conv3d_fprop) return int(dnn::CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
  if (op == Op::conv3d_dgrad) return int(dnn::CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
  return int(dnn::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
}

void time_cudnn(CudnnConv& conv, const OpCall& c, int algo, int math, bool chosen, const ConvBenchOptions& o,
                std::vector<ConvBenchResult>& res) {
  ConvBenchResult r;
  r.algo = std::string("cudnn:") + CudnnConv::algo_name(c.op, algo) + "/" + math_name(math);
  r.chosen = chosen;
  try {
    size_t bytes = 0;
    if (!conv.workspace_for(algo, math, &bytes)) return;  // not offered for this problem
    Scratch ws(bytes);
    const int st = conv.run(algo, math, ws.get(), bytes);
    if (st != dnn::CUDNN_STATUS_SUCCESS) {
      r.error = std::string("cuDNN status ") + std::to_string(st);
    } else {
      time_launches([&] { conv.run(algo, math, ws.get(), bytes); }, o, r.ms);
      conv.finish();
      r.out = snapshot(*c.out[0]);
    }
  } catch (const VnetError& e) {
    r.error = e.what();
    r.ms.clear();
  }
  res.push_back(std::move(r));
}

}  // namespace

std::vector<ConvBenchResult> conv_bench(const OpCall& c0, const ConvBenchOptions& o) {
  VNET_CHECK(c0.in.size() == 2 && c0.in[0] && c0.in[1] && c0.in[0]->storage && c0.in[1]->storage, VNET_E_INVALID_ARG,
             "conv bench needs two live input tensors");
  for (auto& t : c0.in)
    VNET_CHECK(t->device == Device::CUDA, VNET_E_DEVICE, "conv bench (cuda): inputs must be on the GPU");
  const ConvGeom g = conv_geom_of(c0);
  const std::string engine = c0.attrs->s("engine", "");
  const bool gemm_route = (engine == "gemm" || (engine.empty() && conv_gemm_enabled())) && gemm_conv_applies(g);
  std::vector<ConvBenchResult> res;

  if (gemm_conv_applies(g) && (gemm_route || o.all)) {
    OpCall c = c0;
    infer_outputs(c);
    ConvBenchResult r;
    r.algo = "gemm";
    r.chosen = gemm_route;
    r.out = c.out[0];
    try {
      time_launches([&] { gemm_conv(c, g); }, o, r.ms);
    } catch (const VnetError& e) {
      r.error = e.what();
      r.ms.clear();
    }
    res.push_back(std::move(r));
  }
  if (gemm_route && !o.all) return res;

  OpCall c = c0;
  infer_outputs(c);
  CudnnConv conv(c, g);  // the engine's plan: found once per geometry and cached
  const int chosen_algo = conv.algo(), chosen_math = conv.math();
  time_cudnn(conv, c, chosen_algo, chosen_math, !gemm_route, o, res);
  if (o.all) {
    const DType dt = c.in[0]->dtype;
    const int math = dt == DType::F16 ? dnn::CUDNN_TENSOR_OP_MATH
                     : tf32_for(c.attrs) ? dnn::CUDNN_DEFAULT_MATH
                                         : dnn::CUDNN_FMA_MATH;
    for (int a = 0; a < algo_count(c.op); a++)
      if (a != chosen_algo || math != chosen_math) time_cudnn(conv, c, a, math, false, o, res);
  }
  return res;
}

GpuPeak gpu_peak() {
  GpuPeak p;
  const int dev = device_index();
  cudaDeviceProp prop;
  VNET_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  int khz = 0;
  VNET_CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, dev));
  p.name = prop.name;
  p.major = prop.major;
  p.minor = prop.minor;
  p.sms = prop.multiProcessorCount;
  p.max_clock_mhz = khz / 1000.0;
  const char* given = env::get("VNET_GPU_CLOCK_MHZ");
  const double mhz = given && *given ? std::atof(given) : 0;
  p.clock_mhz = mhz > 0 ? mhz : p.max_clock_mhz;
  p.clock_source = mhz > 0 ? "VNET_GPU_CLOCK_MHZ" : "max";
  // Dense FLOPs per SM per clock (2 per multiply-add) from NVIDIA's architecture documents:
  // fp32 FMA lanes, and fp16 tensor-core rate with fp32 accumulation; TF32 is half the fp16
  // rate on sm_80 and newer (no TF32 before: the fp32 rate).
  const int cc = p.major * 10 + p.minor;
  const double fp32 = cc >= 86 || cc == 90 || cc >= 100 ? 256 : 128;
  const double fp16 = cc >= 100 ? 8192 : cc >= 90 ? 4096 : cc == 80 ? 2048 : cc >= 70 ? 1024 : 0;
  const double ghz_sms = p.sms * p.clock_mhz / 1000.0;
  p.fp32 = fp32 * ghz_sms;
  p.fp16 = fp16 > 0 ? fp16 * ghz_sms : p.fp32;
  p.tf32 = cc >= 80 ? p.fp16 / 2 : p.fp32;
  return p;
}

}  // namespace vnet::cuda
