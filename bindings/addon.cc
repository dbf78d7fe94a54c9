// The addon's entry: registers the kernels once, then each file of the binding exports its
// functions (tensors.cc, device.cc, collective.cc, timing.cc; typed in native.ts).
#include <mutex>

#include "../native/backend.h"
#include "napi_util.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static std::once_flag once;
  std::call_once(once, [] {
    vnet::register_cpu_kernels();
#ifdef VNET_WITH_CUDA
    vnet::register_cuda_kernels();
#endif
  });
  vnet::bind::export_tensors(env, exports);
  vnet::bind::export_device(env, exports);
  vnet::bind::export_collective(env, exports);
  vnet::bind::export_timing(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(vnet_native, Init)
