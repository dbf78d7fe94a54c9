// doctor_json(): what this machine offers the CUDA backend (driver, runtime, each GPU, cuDNN,
// cuBLAS, NCCL, NVRTC: each file's path and version, what was preloaded), as JSON. Works
// without a driver or GPU: it then says what is missing. Fields that are unknown are left out
// (never null), so every consumer can print what is there.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "../backend.h"
#include "device.h"
#include "libs.h"

namespace vnet::cuda {

namespace {

std::string q(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += char(c);
        }
    }
  }
  return o + "\"";
}

std::string ver(int v) {  // CUDA's 1000*major + 10*minor
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

// The kernel module's release ("580.65.06"), where the driver publishes it.
std::string driver_release() {
  std::ifstream f("/proc/driver/nvidia/version");
  std::string line;
  if (!std::getline(f, line)) return "";
  const size_t k = line.find("Kernel Module");
  if (k == std::string::npos) return "";
  size_t a = line.find_first_of("0123456789", k);
  if (a == std::string::npos) return "";
  size_t b = line.find_first_not_of("0123456789.", a);
  return line.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

std::string lib_json(const LibInfo& li) {
  std::string s = "{\"found\":" + std::string(li.found ? "true" : "false");
  if (!li.path.empty()) s += ",\"path\":" + q(li.path);
  if (!li.version.empty()) s += ",\"version\":" + q(li.version);
  if (!li.preloaded.empty()) {
    s += ",\"preloaded\":[";
    for (size_t i = 0; i < li.preloaded.size(); i++)
      s += std::string(i ? "," : "") + "{\"path\":" + q(li.preloaded[i].path) +
           (li.preloaded[i].version.empty() ? "" : ",\"version\":" + q(li.preloaded[i].version)) + "}";
    s += "]";
  }
  if (!li.found) {
    s += ",\"error\":" + q(li.error);
    s += ",\"tried\":[";
    for (size_t i = 0; i < li.tried.size(); i++) s += (i ? "," : "") + q(li.tried[i]);
    s += "]";
  }
  return s + "}";
}

}  // namespace

std::string doctor_json() {
  std::string s = "{\"compiled\":true";
  int drv = 0, rt = 0;
  cudaDriverGetVersion(&drv);
  cudaRuntimeGetVersion(&rt);
  cudaGetLastError();
  s += ",\"runtime\":" + q(ver(rt));
  s += ",\"minDriver\":" + std::to_string(min_driver_branch(rt / 1000));
  if (drv) s += ",\"driver\":" + q(ver(drv));
  const std::string release = driver_release();
  if (!release.empty()) s += ",\"driverRelease\":" + q(release);
  const std::string problem = driver_problem(drv, rt);
  s += ",\"driverStatus\":" + q(drv == 0 ? "missing" : problem.empty() ? "ok" : "too old");
  std::string why;
  bool avail = available(&why);
  s += ",\"available\":" + std::string(avail ? "true" : "false");
  if (!avail) s += ",\"reason\":" + q(why);
  s += ",\"gpus\":[";
  if (avail) {
    int n = 0, cur = -1;
    cudaGetDeviceCount(&n);
    cudaGetDevice(&cur);
    for (int i = 0; i < n; i++) {
      cudaDeviceProp p{};
      if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
        cudaGetLastError();
        continue;
      }
      size_t fr = 0, tot = 0;
      // Free memory needs a context on that device; skip devices that refuse one.
      bool have_free = cudaSetDevice(i) == cudaSuccess && cudaMemGetInfo(&fr, &tot) == cudaSuccess;
      cudaGetLastError();
      s += std::string(i ? "," : "") + "{\"index\":" + std::to_string(i) + ",\"name\":" + q(p.name) +
           ",\"computeCapability\":" + q(std::to_string(p.major) + "." + std::to_string(p.minor)) +
           ",\"sms\":" + std::to_string(p.multiProcessorCount) +
           ",\"totalBytes\":" + std::to_string(p.totalGlobalMem) +
           (have_free ? ",\"freeBytes\":" + std::to_string(fr) : std::string()) + "}";
    }
    if (cur >= 0) cudaSetDevice(cur);
    cudaGetLastError();
  }
  s += "]";
  s += ",\"cudnn\":" + lib_json(cudnn_info());
  s += ",\"cublas\":" + lib_json(cublas_info());
  s += ",\"nccl\":" + lib_json(nccl_info());
  s += ",\"nvrtc\":" + lib_json(nvrtc_info());
  s += ",\"settings\":{\"tf32\":" + std::string(tf32_enabled() ? "true" : "false") +
       ",\"deterministic\":" + std::string(deterministic(nullptr) ? "true" : "false") +
       ",\"convGemm\":" + std::string(conv_gemm_enabled() ? "true" : "false") + "}";
  return s + "}";
}

}  // namespace vnet::cuda
