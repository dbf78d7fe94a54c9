// Timing of single convolutions for `vnet-native bench conv`: the kernel alone in the timed
// region (CPU: a monotonic clock around the kernel; CUDA: events on the op stream around the
// library call, with weights already in the library's layout and the workspace allocated
// before), one result per algorithm tried, each with its output so the caller can check it.
#pragma once
#include <string>
#include <vector>

#include "ops.h"

namespace vnet {

struct ConvBenchOptions {
  int warmup = 2;        // untimed calls before the timed ones
  int min_reps = 5;      // timed calls: at least this many ...
  double min_ms = 300;   // ... and at least this much time in total
  int max_reps = 10000;  // stop here whatever the time
  bool all = false;      // every algorithm that supports the problem, not only the engine's
  // CPU: "auto" (the engine's choice), "all", or a comma list of direct, winograd (F(2³, 3³)),
  // winograd4 (F(4³, 3³)) and reference.
  std::string algo = "auto";
};

struct ConvBenchResult {
  std::string algo;        // e.g. "direct", "winograd", "reference", "cudnn:IMPLICIT_PRECOMP_GEMM", "gemm"
  bool chosen = false;     // the one the engine runs for this call
  std::vector<double> ms;  // one entry per timed call
  TensorPtr out;           // the result of the last call, in the engine's layout
  std::string error;       // why this algorithm could not run (then ms is empty)
};

// `c` is a conv3d_* call with inputs and attributes set; outputs are allocated per algorithm.
namespace cpu {
std::vector<ConvBenchResult> conv_bench(const OpCall& c, const ConvBenchOptions& o);
// The portable reference loops (conv3d_ref.cc) on f32 CPU tensors: the correctness oracle.
TensorPtr conv_reference(const OpCall& c);
}  // namespace cpu

namespace cuda {
std::vector<ConvBenchResult> conv_bench(const OpCall& c, const ConvBenchOptions& o);
// The current GPU's dense peak in GFLOP/s (2 per multiply-add) from its SM count, a clock and
// a per-SM rate by compute capability: fp32 FMA, TF32 and fp16 tensor cores. The clock is
// VNET_GPU_CLOCK_MHZ when set (the GPU check passes the SM clock it measured under training
// load), else the maximum boost clock, which GPUs do not hold under sustained tensor-core work
// (an H100 SXM: 1980 MHz maximum, NVIDIA's own peak figures use 1830), so that peak reads high.
struct GpuPeak {
  std::string name;
  int major = 0, minor = 0, sms = 0;
  double clock_mhz = 0, max_clock_mhz = 0, fp32 = 0, tf32 = 0, fp16 = 0;
  std::string clock_source;  // "VNET_GPU_CLOCK_MHZ" or "max"
};
GpuPeak gpu_peak();
}  // namespace cuda

}  // namespace vnet
