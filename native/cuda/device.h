// The CUDA backend's internal surface: the current device's stream, status checks that turn
// every CUDA error into a VnetError, the caching allocator and the run-time switches.
// Included by the host files in native/cuda/ and by the kernels in kernels/*.cu (native/cuda/kernels/).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "../error.h"
#include "../ops.h"

namespace vnet::cuda {

// The stream every op is queued on (one per process/device; init() must have run).
cudaStream_t stream();
int device_index();
int sm_count();

[[noreturn]] void throw_cuda(cudaError_t e, const char* call, const char* file, int line);

// The oldest NVIDIA driver branch that runs a CUDA `cuda_major`.x runtime (NVIDIA's minor
// version compatibility table: 13.x >= 580, 12.x >= 525, 11.x >= 450).
int min_driver_branch(int cuda_major);
// Why a driver reporting CUDA version `drv` (1000*major + 10*minor; 0: no driver) cannot run
// the runtime `rt` this addon was built with, or "" when it can.
std::string driver_problem(int drv, int rt);

// Caching allocator (allocator.cc): size-binned free lists, stream-ordered reuse on the one
// stream. dev_alloc throws VNET_E_OOM after emptying the cache and retrying once.
void* dev_alloc(size_t bytes);
void dev_free(void* p, size_t bytes);
int64_t dev_cached_bytes();
// Private pools for CUDA Graph captures (graph.cc): allocations between pool_begin and pool_end
// come from pool `id`, which stays reserved until pool_release.
void pool_begin(int id);
void pool_end();
void pool_release(int id);

// Scratch memory for one op, returned to the cache when the op has been queued (reuse is safe
// because every op runs on the same stream).
class Scratch {
 public:
  Scratch() = default;
  explicit Scratch(size_t bytes) : bytes_(bytes), p_(bytes ? dev_alloc(bytes) : nullptr) {}
  ~Scratch() { if (p_) dev_free(p_, bytes_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  Scratch(Scratch&& o) noexcept : bytes_(o.bytes_), p_(o.p_) { o.p_ = nullptr; o.bytes_ = 0; }
  Scratch& operator=(Scratch&& o) noexcept {
    if (this != &o) {
      if (p_) dev_free(p_, bytes_);
      bytes_ = o.bytes_;
      p_ = o.p_;
      o.p_ = nullptr;
      o.bytes_ = 0;
    }
    return *this;
  }
  template <class T = void> T* get() const { return static_cast<T*>(p_); }
  size_t bytes() const { return bytes_; }

 private:
  size_t bytes_ = 0;
  void* p_ = nullptr;
};

// Run-time switches. deterministic: attrs.deterministic or the math mode (excludes
// non-deterministic cuDNN algorithms). tf32: the math mode for fp32 convs/GEMMs. The modes are
// set by set_math_modes (backend.h) and start from VNET_TF32 / VNET_DETERMINISTIC.
bool deterministic(const Attrs* attrs);
bool tf32_enabled();
// TF32 for this call: attrs.tf32 (0 or 1) when given, so one process can compare both (bench).
bool tf32_for(const Attrs* attrs);
// VNET_CONV_GEMM=1 sends the 2x2x2 stride-2 convs to cuBLAS (default: cuDNN).
bool conv_gemm_enabled();

// Timing/ordering events on the op stream.
class Event {
 public:
  Event();
  ~Event();
  void record();
  float ms_since(const Event& start);  // synchronises on this event
 private:
  cudaEvent_t e_ = nullptr;
};

}  // namespace vnet::cuda

#define VNET_CUDA_CHECK(call)                                                         \
  do {                                                                                \
    cudaError_t vnet_e_ = (call);                                                     \
    if (vnet_e_ != cudaSuccess) ::vnet::cuda::throw_cuda(vnet_e_, #call, __FILE__, __LINE__); \
  } while (0)

// After every launch: a bad configuration or a sticky error surfaces here, named by kernel.
#define VNET_CUDA_LAUNCH_CHECK(kernel_name)                                               \
  do {                                                                                    \
    cudaError_t vnet_e_ = cudaGetLastError();                                             \
    if (vnet_e_ != cudaSuccess) ::vnet::cuda::throw_cuda(vnet_e_, "launch " kernel_name, __FILE__, __LINE__); \
  } while (0)
