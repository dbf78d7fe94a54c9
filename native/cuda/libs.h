// The loaded NVIDIA libraries: each loads once, on first use, and checks its version. cuDNN
// loads cuBLAS (with cuBLASLt) and NVRTC first, RTLD_GLOBAL, because it opens those by soname. A missing
// or too old library is VNET_E_LIBRARY naming the library, the folders tried and the version
// needed; *_info() report the same without throwing (for doctor).
#pragma once
#include <string>
#include <vector>

#include "cublas_api.h"
#include "cudnn_api.h"
#include "nccl_api.h"

namespace vnet::cuda {

struct LibFile {
  std::string path;
  std::string version;  // empty where the file has no version call
};

struct LibInfo {
  bool found = false;  // loaded and new enough
  std::string path;
  std::string version;  // "9.1.0"
  long version_num = 0;
  std::string error;  // why not found / too old
  std::vector<std::string> tried;
  // Loaded with RTLD_GLOBAL before the library itself: cuBLASLt for cuBLAS; cuBLASLt, NVRTC and
  // every cuDNN sub-library of its folder for cuDNN.
  std::vector<LibFile> preloaded;
};

const dnn::Api& cudnn();
const blas::Api& cublas();
const nccl::Api& nccl();
LibInfo cudnn_info();
LibInfo cublas_info();
LibInfo nccl_info();
LibInfo nvrtc_info();  // NVRTC: no API of ours, loaded for cuDNN's run-time compiled engines

// Per-process handles bound to the op stream (created on first use, after init()).
dnn::Handle cudnn_handle();
blas::Handle cublas_handle();

[[noreturn]] void throw_cudnn(int status, const char* call);
[[noreturn]] void throw_cublas(int status, const char* call);

}  // namespace vnet::cuda

#define VNET_CUDNN_CHECK(call)                                                     \
  do {                                                                             \
    ::vnet::dnn::Status vnet_s_ = (call);                                          \
    if (vnet_s_ != ::vnet::dnn::CUDNN_STATUS_SUCCESS) ::vnet::cuda::throw_cudnn(vnet_s_, #call); \
  } while (0)

#define VNET_CUBLAS_CHECK(call)                                                    \
  do {                                                                             \
    ::vnet::blas::Status vnet_s_ = (call);                                         \
    if (vnet_s_ != ::vnet::blas::CUBLAS_STATUS_SUCCESS) ::vnet::cuda::throw_cublas(vnet_s_, #call); \
  } while (0)
