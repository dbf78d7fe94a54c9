// The engine's environment variables (see env.h): one table, read nowhere else.
#include "env.h"

#include <cstdlib>
#include <cstring>

#include "error.h"

namespace vnet::env {

namespace {

struct Var {
  const char* name;
  const char* what;
};

// Keep in step with the README's table (a test checks that every name here is listed there).
constexpr Var kVars[] = {
    {"VNET_NUM_THREADS", "CPU threads of the engine's pool (default: the hardware's, at most 256)"},
    {"VNET_SPIN_US", "microseconds an idle CPU worker spins before sleeping (default 50, at most 100000)"},
    {"VNET_ISA", "avx2 or portable: a slower CPU kernel path than the CPU supports"},
    {"VNET_CONV", "ref: the CPU convolutions run the reference loops only"},
    {"VNET_CONV_ALGO", "auto (default), direct or winograd: the CPU 3x3x3 convolution algorithm"},
    {"VNET_TF32", "0: strict fp32 convolutions on GPUs (default TF32)"},
    {"VNET_DETERMINISTIC", "1: only deterministic cuDNN algorithms by default"},
    {"VNET_CONV_GEMM", "1: 2x2x2 stride-2 convolutions on cuBLAS instead of cuDNN"},
    {"VNET_CUDNN_WORKSPACE_MB", "largest cuDNN workspace an algorithm may use (default 1024)"},
    {"VNET_GPU_CLOCK_MHZ", "the GPU clock the conv table's peak is taken at (default: the maximum boost clock)"},
    {"VNET_CUDNN_FIND", "0: cuDNN's heuristics instead of timing the algorithms"},
    {"VNET_CUDNN_PATH", "cuDNN: a library file or the folder holding it"},
    {"VNET_CUBLAS_PATH", "cuBLAS: a library file or the folder holding it"},
    {"VNET_NCCL_PATH", "NCCL: a library file or the folder holding it"},
    {"VNET_NVRTC_PATH", "NVRTC: a library file or the folder holding it"},
    {"VNET_LIB_SEARCH", "env: look for the NVIDIA libraries only where their *_PATH variable says"},
    {"VNET_LIB_ROOT", "a folder taken as / when searching for the NVIDIA libraries (tests)"},
};

bool listed(const char* name) {
  for (const Var& v : kVars)
    if (!std::strcmp(v.name, name)) return true;
  return false;
}

}  // namespace

const char* get(const char* name) {
  VNET_CHECK(listed(name), VNET_E_INTERNAL, std::string("environment variable ") + name + " is not in native/env.cc's table");
  return std::getenv(name);
}

bool flag(const char* name, bool dflt) {
  const char* v = get(name);
  if (!v || !*v) return dflt;
  return !(std::strcmp(v, "0") == 0 || std::strcmp(v, "false") == 0 || std::strcmp(v, "off") == 0);
}

}  // namespace vnet::env
