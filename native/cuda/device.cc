// Device selection, the op stream, host/device copies and the run-time switches. Nothing here
// touches the GPU until init() (the addon loads on machines without a driver).
#include "device.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "../backend.h"
#include "../env.h"

namespace vnet::cuda {

namespace {

struct DeviceState {
  std::mutex mu;
  bool ready = false;
  int index = -1;
  int sms = 0;
  cudaStream_t stream = nullptr;
};

DeviceState& dev() {
  static DeviceState* s = new DeviceState();  // never destroyed: no CUDA calls at exit
  return *s;
}

}  // namespace

[[noreturn]] void throw_cuda(cudaError_t e, const char* call, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  std::string msg = std::string(call) + ": " + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) +
                    ", " + file + ":" + std::to_string(line) + ")";
  throw VnetError(e == cudaErrorMemoryAllocation ? ErrorCode::VNET_E_OOM : ErrorCode::VNET_E_CUDA, msg);
}

bool compiled() { return true; }

int min_driver_branch(int cuda_major) { return cuda_major >= 13 ? 580 : cuda_major == 12 ? 525 : 450; }

std::string driver_problem(int drv, int rt) {
  const std::string needs = "this build of vnet-native uses the CUDA " + std::to_string(rt / 1000) +
                            " runtime and needs an NVIDIA driver of branch " + std::to_string(min_driver_branch(rt / 1000)) +
                            " or newer";
  if (drv == 0) return "no NVIDIA driver (libcuda.so.1 was not found or does not load); " + needs;
  // Minor-version compatibility: any driver of the runtime's major CUDA version will do.
  if (drv / 1000 < rt / 1000)
    return "NVIDIA driver too old: it supports CUDA " + std::to_string(drv / 1000) + "." + std::to_string(drv % 1000 / 10) +
           "; " + needs;
  return "";
}

bool available(std::string* why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (why) {
      int drv = 0, rt = 0;
      cudaDriverGetVersion(&drv);
      cudaRuntimeGetVersion(&rt);
      *why = driver_problem(drv, rt);
      if (why->empty()) *why = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
    }
    return false;
  }
  if (n == 0) {
    if (why) *why = "no CUDA device";
    return false;
  }
  return true;
}

void init(int index) {
  DeviceState& s = dev();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.ready) {
    VNET_CHECK(index == s.index, VNET_E_DEVICE,
               "CUDA is already initialised on device " + std::to_string(s.index) +
                   "; one process drives one GPU (asked for device " + std::to_string(index) + ")");
    return;
  }
  std::string why;
  VNET_CHECK(available(&why), VNET_E_DEVICE, "CUDA is not available: " + why);
  int n = 0;
  VNET_CUDA_CHECK(cudaGetDeviceCount(&n));
  VNET_CHECK(index >= 0 && index < n, VNET_E_DEVICE,
             "CUDA device " + std::to_string(index) + " does not exist (" + std::to_string(n) + " visible)");
  VNET_CUDA_CHECK(cudaSetDevice(index));
  VNET_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  VNET_CUDA_CHECK(cudaDeviceGetAttribute(&s.sms, cudaDevAttrMultiProcessorCount, index));
  s.index = index;
  set_device_allocator(Device::CUDA, DeviceAllocator{dev_alloc, dev_free, dev_cached_bytes});
  s.ready = true;
}

cudaStream_t stream() {
  DeviceState& s = dev();
  VNET_CHECK(s.ready, VNET_E_DEVICE, "CUDA was used before cuda::init()");
  return s.stream;
}
int device_index() { return dev().index; }
int sm_count() { return dev().sms > 0 ? dev().sms : 108; }

// Host memory here is pageable (JS buffers): an async H2D copy returns once the source has
// been staged, so the caller may free it; D2H must wait for the data, so it synchronises.
void memcpy_h2d(void* dst, const void* src, size_t n) {
  if (!n) return;
  VNET_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, stream()));
}
void memcpy_d2h(void* dst, const void* src, size_t n) {
  if (!n) return;
  VNET_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, stream()));
  VNET_CUDA_CHECK(cudaStreamSynchronize(stream()));
}
void memcpy_d2d(void* dst, const void* src, size_t n) {
  if (!n) return;
  VNET_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, stream()));
}
void synchronize() {
  if (!dev().ready) return;
  VNET_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

// The math modes: read from the environment once as the process default, then set by
// set_math_modes (the binding's setMathModes) for every later op. Atomic: ops may run on
// other threads (the data loader's workers do not, but a library caller's might).
namespace {
std::atomic<bool>& tf32_mode() {
  static std::atomic<bool> v{env::flag("VNET_TF32", true)};
  return v;
}
std::atomic<bool>& det_mode() {
  static std::atomic<bool> v{env::flag("VNET_DETERMINISTIC", false)};
  return v;
}
}  // namespace
void set_math_modes(int tf32, int det) {
  if (tf32 >= 0) tf32_mode() = tf32 != 0;
  if (det >= 0) det_mode() = det != 0;
}
bool deterministic_mode() { return det_mode(); }
bool deterministic(const Attrs* attrs) {
  if (attrs && attrs->f("deterministic", 0.0) != 0.0) return true;
  return det_mode();
}
bool tf32_enabled() { return tf32_mode(); }
bool tf32_for(const Attrs* attrs) {
  if (attrs && attrs->num.count("tf32")) return attrs->num.at("tf32") != 0.0;
  return tf32_enabled();
}
bool conv_gemm_enabled() { return env::flag("VNET_CONV_GEMM", false); }

Event::Event() { VNET_CUDA_CHECK(cudaEventCreate(&e_)); }
Event::~Event() { if (e_) cudaEventDestroy(e_); }
void Event::record() { VNET_CUDA_CHECK(cudaEventRecord(e_, stream())); }
float Event::ms_since(const Event& start) {
  VNET_CUDA_CHECK(cudaEventSynchronize(e_));
  float ms = 0;
  VNET_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e_, e_));
  return ms;
}

}  // namespace vnet::cuda
