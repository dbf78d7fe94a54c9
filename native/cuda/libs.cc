// Loads cuDNN, cuBLAS and NCCL on first use (see libs.h and dynlib.h).
#include "libs.h"

#include <dlfcn.h>

#include <mutex>

#include "device.h"
#include "dynlib.h"

namespace vnet::cuda {

namespace {

template <class ApiT>
struct Loaded {
  std::once_flag once;
  ApiT api;
  LibInfo info;
};

std::string dotted(long major, long minor, long patch) {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

// "13.1.0" from major*10000 + minor*100 + patch (cuBLASLt, cuDNN 9, NCCL 2.9+).
std::string dotted5(long v) { return dotted(v / 10000, v % 10000 / 100, v % 100); }

// The version of a preloaded file where it has a version call (cuBLASLt, NVRTC).
std::string file_version(const Preloaded& p) {
  if (void* f = dlsym(p.handle, "cublasLtGetVersion")) return dotted5(long(reinterpret_cast<size_t (*)()>(f)()));
  if (void* f = dlsym(p.handle, "nvrtcVersion")) {
    int ma = 0, mi = 0;
    if (reinterpret_cast<int (*)(int*, int*)>(f)(&ma, &mi) == 0) return std::to_string(ma) + "." + std::to_string(mi);
  }
  return "";
}

void fill_tried(LibInfo& info, const LoadedLib& lib) {
  info.tried = lib.tried;
  info.path = lib.path;
  for (const Preloaded& p : lib.preloaded) info.preloaded.push_back({p.path, file_version(p)});
  if (!lib.handle) info.error = lib.error();
}

struct NvrtcState {
  std::once_flag once;
  LibInfo info;
};

// NVRTC has no API of ours: it is loaded (RTLD_GLOBAL) only so cuDNN's run-time compiled
// engines find it; CUDA 13 wheels keep it in nvidia/cu13/lib, older ones in nvidia/cuda_nvrtc/lib.
NvrtcState& nvrtc_state() {
  static auto* s = new NvrtcState();
  std::call_once(s->once, [] {
    LibSpec spec{"NVRTC", "VNET_NVRTC_PATH", {"cu13", "cuda_nvrtc"},
                 {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"}, {"libnvrtc-builtins.so.*"},
                 "NVRTC (for cuDNN's run-time compiled engines; optional)", true};
    LoadedLib lib = load_library(spec);
    fill_tried(s->info, lib);
    if (!lib.handle) return;
    s->info.version = file_version({lib.path, lib.handle});
    s->info.found = true;
  });
  return *s;
}

Loaded<dnn::Api>& cudnn_state() {
  static auto* s = new Loaded<dnn::Api>();
  std::call_once(s->once, [] {
    // cuDNN opens libcublasLt and libnvrtc by soname and its RUNPATH is only $ORIGIN: load them
    // first (RTLD_GLOBAL) from wherever they are, then every sub-library of cuDNN's own folder.
    const LibInfo& blas_first = cublas_info();
    const LibInfo& rtc_first = nvrtc_info();
    LibSpec spec{"cuDNN", "VNET_CUDNN_PATH", {"cudnn"},
                 {"libcudnn.so.9", "libcudnn.so.8", "libcudnn.so"},
                 {"libcudnn_*.so.9", "libcudnn_*.so.8"},
                 "cuDNN >= 8.0 (9.x preferred), with the legacy convolution API"};
    LoadedLib lib = load_library(spec);
    for (const LibFile& f : blas_first.preloaded) s->info.preloaded.push_back(f);
    if (rtc_first.found) s->info.preloaded.push_back({rtc_first.path, rtc_first.version});
    fill_tried(s->info, lib);
    if (!lib.handle) return;
    try {
#define VNET_X(name, ret, params) s->api.name = reinterpret_cast<dnn::PFN_##name>(find_symbol(lib, #name, true));
      VNET_CUDNN_FUNCS(VNET_X)
#undef VNET_X
    } catch (const VnetError& e) {
      s->info.error = e.what();
      return;
    }
    long v = long(s->api.cudnnGetVersion());
    s->info.version_num = v;
    s->info.version = v >= 90000 ? dotted(v / 10000, v % 10000 / 100, v % 100) : dotted(v / 1000, v % 1000 / 100, v % 100);
    if (v < long(dnn::kMinVersion)) {
      s->info.error = "cuDNN at " + lib.path + " is version " + s->info.version + "; vnet-native needs cuDNN >= 8.0 (9.x preferred)";
      return;
    }
    s->info.found = true;
  });
  return *s;
}

Loaded<blas::Api>& cublas_state() {
  static auto* s = new Loaded<blas::Api>();
  std::call_once(s->once, [] {
    // CUDA 13 wheels keep cuBLAS, cuBLASLt and NVRTC together in nvidia/cu13/lib.
    LibSpec spec{"cuBLAS", "VNET_CUBLAS_PATH", {"cublas", "cu13"},
                 {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"},
                 {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11"},
                 "cuBLAS >= 11.0 (with cublasGemmEx and compute types)", true};
    LoadedLib lib = load_library(spec);
    fill_tried(s->info, lib);
    if (!lib.handle) return;
    try {
#define VNET_X(name, ret, params) s->api.name = reinterpret_cast<blas::PFN_##name>(find_symbol(lib, #name, true));
      VNET_CUBLAS_FUNCS(VNET_X)
#undef VNET_X
#define VNET_X(name, ret, params) s->api.name = reinterpret_cast<blas::PFN_##name>(find_symbol(lib, #name, false));
      VNET_CUBLAS_OPTIONAL_FUNCS(VNET_X)
#undef VNET_X
    } catch (const VnetError& e) {
      s->info.error = e.what();
      return;
    }
    int ma = 0, mi = 0, pa = 0;
    s->api.cublasGetProperty(MAJOR_VERSION, &ma);
    s->api.cublasGetProperty(MINOR_VERSION, &mi);
    s->api.cublasGetProperty(PATCH_LEVEL, &pa);
    s->info.version_num = ma * 10000L + mi * 100L + pa;
    s->info.version = dotted(ma, mi, pa);
    if (s->info.version_num < blas::kMinVersion) {
      s->info.error = "cuBLAS at " + lib.path + " is version " + s->info.version + "; vnet-native needs cuBLAS >= 11.0";
      return;
    }
    s->info.found = true;
  });
  return *s;
}

Loaded<nccl::Api>& nccl_state() {
  static auto* s = new Loaded<nccl::Api>();
  std::call_once(s->once, [] {
    LibSpec spec{"NCCL", "VNET_NCCL_PATH", {"nccl"}, {"libnccl.so.2", "libnccl.so"}, {}, "NCCL >= 2.10"};
    LoadedLib lib = load_library(spec);
    fill_tried(s->info, lib);
    if (!lib.handle) return;
    try {
#define VNET_X(name, ret, params) s->api.name = reinterpret_cast<nccl::PFN_##name>(find_symbol(lib, #name, true));
      VNET_NCCL_FUNCS(VNET_X)
#undef VNET_X
    } catch (const VnetError& e) {
      s->info.error = e.what();
      return;
    }
    int v = 0;
    s->api.ncclGetVersion(&v);
    s->info.version_num = v;
    // 2.9+ encode major*10000 + minor*100 + patch; older ones major*1000 + minor*100 + patch.
    s->info.version = v >= 10000 ? dotted(v / 10000, v % 10000 / 100, v % 100) : dotted(v / 1000, v % 1000 / 100, v % 100);
    if (v < nccl::kMinVersion) {
      s->info.error = "NCCL at " + lib.path + " is version " + s->info.version + "; vnet-native needs NCCL >= 2.10";
      return;
    }
    s->info.found = true;
  });
  return *s;
}

template <class S>
const auto& api_or_throw(S& s) {
  if (!s.info.found) throw_error(ErrorCode::VNET_E_LIBRARY, s.info.error);
  return s.api;
}

}  // namespace

const dnn::Api& cudnn() { return api_or_throw(cudnn_state()); }
const blas::Api& cublas() { return api_or_throw(cublas_state()); }
const nccl::Api& nccl() { return api_or_throw(nccl_state()); }
LibInfo cudnn_info() { return cudnn_state().info; }
LibInfo cublas_info() { return cublas_state().info; }
LibInfo nccl_info() { return nccl_state().info; }
LibInfo nvrtc_info() { return nvrtc_state().info; }

void throw_cudnn(int status, const char* call) {
  const char* s = cudnn_state().api.cudnnGetErrorString ? cudnn_state().api.cudnnGetErrorString(dnn::Status(status)) : "?";
  throw_error(ErrorCode::VNET_E_CUDNN, std::string(call) + ": " + s + " (cuDNN status " + std::to_string(status) + ")");
}

void throw_cublas(int status, const char* call) {
  const auto& api = cublas_state().api;
  std::string s = api.cublasGetStatusString ? api.cublasGetStatusString(blas::Status(status)) : "cuBLAS error";
  if (status == blas::CUBLAS_STATUS_ALLOC_FAILED)
    throw_error(ErrorCode::VNET_E_OOM, std::string(call) + ": " + s);
  throw_error(ErrorCode::VNET_E_CUBLAS, std::string(call) + ": " + s + " (cuBLAS status " + std::to_string(status) + ")");
}

dnn::Handle cudnn_handle() {
  static std::mutex mu;
  static dnn::Handle h = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (!h) {
    const auto& api = cudnn();
    dnn::Handle nh = nullptr;
    VNET_CUDNN_CHECK(api.cudnnCreate(&nh));
    VNET_CUDNN_CHECK(api.cudnnSetStream(nh, stream()));
    h = nh;
  }
  return h;
}

blas::Handle cublas_handle() {
  static std::mutex mu;
  static blas::Handle h = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (!h) {
    const auto& api = cublas();
    blas::Handle nh = nullptr;
    VNET_CUBLAS_CHECK(api.cublasCreate_v2(&nh));
    int v = 0;
    VNET_CUBLAS_CHECK(api.cublasGetVersion_v2(nh, &v));
    VNET_CHECK(v >= blas::kMinVersion, VNET_E_LIBRARY,
               "cuBLAS reports version " + std::to_string(v) + "; vnet-native needs cuBLAS >= 11.0");
    VNET_CUBLAS_CHECK(api.cublasSetStream_v2(nh, stream()));
    h = nh;
  }
  return h;
}

}  // namespace vnet::cuda
