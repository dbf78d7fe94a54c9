// Checks of the host shim itself (barriers, warp shuffles, ballots, atomics, shared memory,
// launch limits, graph capture) and of the pure cuDNN algorithm choice (conv_choice.h) with
// synthetic result lists. Built as build/Release/vnet_host_tests with VNET_HOST_KERNELS=ON and
// run by test/cuda-host/shim.test.ts; prints one line per check and "N passed, M failed".
#include <cuda_runtime.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "native/cuda/conv_choice.h"
#include "native/cuda/host/launch.h"
#include "native/cuda/launch_limits.h"
#include "native/error.h"

namespace vnet::cuda {
cudaStream_t stream() {
  static cudaStream_t s = [] {
    cudaStream_t x = nullptr;
    cudaStreamCreateWithFlags(&x, cudaStreamNonBlocking);
    return x;
  }();
  return s;
}
}  // namespace vnet::cuda

namespace {

int g_pass = 0, g_fail = 0;

void check(bool ok, const std::string& what) {
  (ok ? g_pass : g_fail)++;
  std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
}

// Runs f; returns the VnetError message it threw ("" when none).
std::string error_of(const std::function<void()>& f, vnet::ErrorCode* code = nullptr) {
  try {
    f();
  } catch (const vnet::VnetError& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ---- kernels ---------------------------------------------------------------------------------
__global__ void block_sum(const float* x, float* out, int n) {
  VNET_SHARED(float, sm, [256]);
  int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
  sm[t] = i < n ? x[i] : 0.f;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (t < w) sm[t] += sm[t + w];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = sm[0];
}

__global__ void warp_ops(const int* x, int* down, int* xr, int* up, unsigned* bal) {
  int t = threadIdx.x, v = x[t];
  int s = v;
  for (int d = 16; d > 0; d /= 2) s += __shfl_down_sync(0xffffffffu, s, d);
  down[t] = s;  // lane 0 of each warp: the warp's sum
  int b = v;
  for (int m = 1; m < 32; m *= 2) b += __shfl_xor_sync(0xffffffffu, b, m);
  xr[t] = b;  // every lane: the warp's sum
  int p = v;
  for (int d = 1; d < 32; d *= 2) {
    int o = __shfl_up_sync(0xffffffffu, p, d);
    if (int(threadIdx.x % 32) >= d) p += o;
  }
  up[t] = p;  // inclusive prefix sum within the warp
  unsigned bb = __ballot_sync(0xffffffffu, v % 2);
  if (t % 32 == 0) bal[t / 32] = bb;
}

__global__ void count_atomic(int* counter, int* order) {
  if (threadIdx.x == 0) order[blockIdx.x] = atomicAdd(counter, 1);
  atomicAdd(counter + 1, 1);
}

__global__ void divergent(float* out) {
  VNET_SHARED(float, sm, [64]);
  if (threadIdx.x < 16) return;
  sm[threadIdx.x] = 1.f;
  __syncthreads();
  out[threadIdx.x] = sm[63 - threadIdx.x];
}

__global__ void mixed_waits(float*) {
  if (threadIdx.x % 2) __syncthreads();
  else __syncwarp();
}

__global__ void too_much_shared(float* out) {
  VNET_SHARED(float, big, [13000]);
  big[threadIdx.x] = 1.f;
  out[0] = big[0];
}

__global__ void read_unwritten(float* out) {
  VNET_SHARED(float, sm, [32]);
  if (threadIdx.x == 0) sm[0] = 1.f;
  __syncthreads();
  out[threadIdx.x] = sm[threadIdx.x];
}

__global__ void misaligned(const float* p, float* out) {
  VNET_HOST_CHECK_ALIGN(p + 1, 16);
  out[0] = p[0];
}

__global__ void add_one(float* x, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) x[i] += 1.f;
}

void shim_checks() {
  // A shared-memory tree reduction with __syncthreads, 3 blocks of 256 threads, a tail.
  std::vector<float> x(700), out(3, -1.f);
  for (size_t i = 0; i < x.size(); i++) x[i] = float(i % 7);
  VNET_LAUNCH(3, 256, 0, block_sum)(x.data(), out.data(), int(x.size()));
  float want[3] = {0, 0, 0};
  for (size_t i = 0; i < x.size(); i++) want[i / 256] += x[i];
  check(out[0] == want[0] && out[1] == want[1] && out[2] == want[2], "__syncthreads tree reduction over 3 blocks with a tail");

  // Warp shuffles and ballots over two warps.
  std::vector<int> v(64), down(64), xr(64), up(64);
  std::vector<unsigned> bal(2);
  for (int i = 0; i < 64; i++) v[size_t(i)] = (i * 37) % 11;
  VNET_LAUNCH(1, 64, 0, warp_ops)(v.data(), down.data(), xr.data(), up.data(), bal.data());
  bool ok = true;
  for (int w = 0; w < 2; w++) {
    int sum = 0, pre = 0;
    unsigned b = 0;
    for (int l = 0; l < 32; l++) sum += v[size_t(w * 32 + l)], b |= unsigned(v[size_t(w * 32 + l)] % 2) << l;
    ok = ok && down[size_t(w * 32)] == sum && bal[size_t(w)] == b;
    for (int l = 0; l < 32; l++) {
      pre += v[size_t(w * 32 + l)];
      ok = ok && xr[size_t(w * 32 + l)] == sum && up[size_t(w * 32 + l)] == pre;
    }
  }
  check(ok, "__shfl_down_sync / __shfl_xor_sync / __shfl_up_sync / __ballot_sync within each warp");

  // Atomics from every thread of every block; blocks run last to first.
  int counter[2] = {0, 0};
  std::vector<int> order(4);
  VNET_LAUNCH(4, 128, 0, count_atomic)(counter, order.data());
  check(counter[1] == 512 && counter[0] == 4, "atomicAdd from 512 threads of 4 blocks");
  check(order[3] == 0 && order[0] == 3, "blocks run last to first (no kernel may rely on block order)");

  std::vector<float> o64(64);
  std::string e = error_of([&] { VNET_LAUNCH(1, 64, 0, divergent)(o64.data()); });
  check(has(e, "divergent barrier") && has(e, "divergent"), "a __syncthreads that some threads skip is an error: " + e);
  e = error_of([&] { VNET_LAUNCH(1, 64, 0, mixed_waits)(o64.data()); });
  check(has(e, "deadlock"), "threads waiting at different barriers are a deadlock: " + e);
  e = error_of([&] { VNET_LAUNCH(1, 32, 0, too_much_shared)(o64.data()); });
  check(has(e, "above 48 KiB"), "more than 48 KiB of static shared memory is an error: " + e);
  std::vector<float> o32(32, 0.f);
  VNET_LAUNCH(1, 32, 0, read_unwritten)(o32.data());
  check(o32[0] == 1.f && o32[1] != o32[1], "shared memory no thread wrote reads as NaN");
  alignas(16) float a16[8] = {0};
  e = error_of([&] { VNET_LAUNCH(1, 1, 0, misaligned)(a16, o64.data()); });
  check(has(e, "misaligned 16-byte access"), "a misaligned vector access is an error: " + e);

  // Launch limits, before anything runs.
  vnet::ErrorCode code = vnet::ErrorCode::VNET_E_INTERNAL;
  e = error_of([&] { VNET_LAUNCH(dim3(1, 70000), 32, 0, add_one)(o64.data(), 0); }, &code);
  check(code == vnet::ErrorCode::VNET_E_SHAPE && has(e, "grid y or z above 65535") && has(e, "add_one"), "grid y above 65535: " + e);
  e = error_of([&] { VNET_LAUNCH(1, dim3(32, 33), 0, add_one)(o64.data(), 0); });
  check(has(e, "more than 1024 threads"), "1056 threads per block: " + e);
  e = error_of([&] { VNET_LAUNCH(1, 32, 49 * 1024, add_one)(o64.data(), 0); });
  check(has(e, "above 48 KiB"), "49 KiB of dynamic shared memory: " + e);

  // Graph capture: launches are recorded, replayed by each launch, and a synchronisation
  // inside the capture invalidates it.
  cudaStream_t s = vnet::cuda::stream();
  std::vector<float> g(100, 0.f);
  cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
  VNET_LAUNCH(2, 32, 0, add_one)(g.data(), 100);
  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture(s, &graph);
  const bool nothing_ran = g[0] == 0.f && g[99] == 0.f;
  cudaGraphExec_t exec = nullptr;
  cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphLaunch(exec, s);
  cudaGraphLaunch(exec, s);
  check(nothing_ran && g[0] == 2.f && g[99] == 2.f, "a captured launch runs only when the graph is launched, once per launch");
  cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
  cudaError_t sync = cudaStreamSynchronize(s);
  cudaGraph_t bad = nullptr;
  cudaError_t end = cudaStreamEndCapture(s, &bad);
  check(sync == cudaErrorStreamCaptureUnsupported && end == cudaErrorStreamCaptureInvalidated && !bad,
        "synchronising inside a capture invalidates it");
  cudaGetLastError();
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
}

// ---- the cuDNN algorithm choice -------------------------------------------------------------
using vnet::cuda::AlgoChoice;
using vnet::cuda::AlgoQuery;
using vnet::cuda::AlgoResult;
using vnet::cuda::AlgoSearch;
using vnet::cuda::ConvLayout;

constexpr size_t MiB = size_t(1) << 20;

struct Fake {
  explicit Fake(std::function<AlgoQuery(ConvLayout, AlgoSearch)> a) : answer(std::move(a)) {}
  std::function<AlgoQuery(ConvLayout, AlgoSearch)> answer;
  std::vector<std::string> asked;
  AlgoChoice choose(bool det = false, bool tensor = true, bool find = true) {
    return vnet::cuda::choose_conv_algo(
        [&](ConvLayout l, AlgoSearch s) {
          asked.push_back(std::string(l == ConvLayout::ChannelsLast ? "last" : "first") + "/" + (s == AlgoSearch::Find ? "find" : "heur"));
          return answer(l, s);
        },
        det, tensor, find, "forward", "conv3d_fprop N=2 8x8x8x16 -> 8x8x8x32, kernel 5x5x5");
  }
};

void choice_checks() {
  const AlgoResult fast_big{1, 0, 2048 * MiB, true, 1}, slow_small{0, 0, 0, true, 0}, nondet{4, 0, MiB, false, 0},
      unsupported{6, 3000, 0, true, 0};
  {
    Fake f{[&](ConvLayout, AlgoSearch) { return AlgoQuery{{unsupported, fast_big, slow_small}, 1024 * MiB}; }};
    AlgoChoice c = f.choose();
    check(c.algo == 0 && c.layout == ConvLayout::ChannelsLast && c.search == AlgoSearch::Find && f.asked.size() == 1,
          "find: the first result that succeeded and fits the workspace wins");
  }
  {
    Fake f{[&](ConvLayout, AlgoSearch s) {
      return s == AlgoSearch::Find ? AlgoQuery{{fast_big}, 64 * MiB} : AlgoQuery{{nondet, slow_small}, 1024 * MiB};
    }};
    AlgoChoice c = f.choose(false);
    check(c.algo == 4 && c.search == AlgoSearch::Heuristics, "find offers nothing within its workspace: heuristics");
    Fake d{f.answer};
    c = d.choose(true);
    check(c.algo == 0 && c.search == AlgoSearch::Heuristics, "deterministic: a non-deterministic result is passed over");
  }
  {
    Fake f{[&](ConvLayout l, AlgoSearch) {
      return l == ConvLayout::ChannelsLast ? AlgoQuery{{unsupported}, 1024 * MiB} : AlgoQuery{{slow_small}, 1024 * MiB};
    }};
    AlgoChoice c = f.choose();
    check(c.layout == ConvLayout::ChannelsFirst && c.search == AlgoSearch::Find &&
              f.asked == std::vector<std::string>{"last/find", "last/heur", "first/find"},
          "nothing channels-last: the channels-first formulation, asked in order");
  }
  {
    Fake f{[&](ConvLayout l, AlgoSearch) -> AlgoQuery {
      if (l == ConvLayout::ChannelsLast) throw vnet::VnetError(vnet::ErrorCode::VNET_E_CUDNN, "CUDNN_STATUS_NOT_SUPPORTED");
      return AlgoQuery{{slow_small}, 0};
    }};
    AlgoChoice c = f.choose(false, true, false);
    check(c.layout == ConvLayout::ChannelsFirst && c.search == AlgoSearch::Heuristics &&
              f.asked == std::vector<std::string>{"last/heur", "first/heur"},
          "without find only the heuristics are asked; a search that throws counts as offering nothing");
  }
  {
    Fake f{[&](ConvLayout, AlgoSearch) { return AlgoQuery{{AlgoResult{1, 0, 0, true, 1}, AlgoResult{2, 0, 0, true, 0}}, MiB}; }};
    AlgoChoice c = f.choose(false, false);
    check(c.algo == 2 && c.math == vnet::cuda::kMathFma, "without tensor ops: tensor-op results are passed over and the math is FMA");
    Fake t{f.answer};
    c = t.choose(false, true);
    check(c.algo == 1 && c.math == 1, "with tensor ops: the reported math type is kept");
  }
  {
    Fake f{[&](ConvLayout, AlgoSearch s) { return s == AlgoSearch::Find ? AlgoQuery{{fast_big}, 64 * MiB} : AlgoQuery{{}, 1024 * MiB}; }};
    vnet::ErrorCode code = vnet::ErrorCode::VNET_E_INTERNAL;
    std::string e = error_of([&] { f.choose(true); }, &code);
    check(code == vnet::ErrorCode::VNET_E_UNSUPPORTED && has(e, "N=2 8x8x8x16 -> 8x8x8x32") && has(e, "that is deterministic") &&
              has(e, "channels-last timed search: algo 1 needs 2048 MiB of workspace") && has(e, "channels-first heuristics: no algorithm"),
          "nothing anywhere: an error naming the geometry and every search's answer: " + e);
  }
}

}  // namespace

int main() {
  shim_checks();
  choice_checks();
  std::printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
