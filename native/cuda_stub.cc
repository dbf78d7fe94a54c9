// Stand-in for the CUDA backend in builds without nvcc: every entry reports that CUDA was not
// compiled in, with the code VNET_E_DEVICE.
#include "backend.h"
#include "conv_bench.h"
#include "error.h"

namespace vnet::cuda {

namespace {
[[noreturn]] void not_built() {
  throw_error(ErrorCode::VNET_E_DEVICE,
              "this build of vnet-native has no CUDA backend (nvcc was not found when it was "
              "built; rebuild with VNET_CUDA=ON on a machine with the CUDA toolkit)");
}
}  // namespace

bool compiled() { return false; }
bool available(std::string* why) {
  if (why) *why = "the addon was built without CUDA";
  return false;
}
void init(int) { not_built(); }
void memcpy_h2d(void*, const void*, size_t) { not_built(); }
void memcpy_d2h(void*, const void*, size_t) { not_built(); }
void memcpy_d2d(void*, const void*, size_t) { not_built(); }
void synchronize() {}
void memset_zero(void*, size_t) { not_built(); }
// Kept so that the modes read back as set; no op uses them without CUDA.
namespace {
bool g_tf32 = true, g_det = false;
}
void set_math_modes(int tf32, int det) {
  if (tf32 >= 0) g_tf32 = tf32 != 0;
  if (det >= 0) g_det = det != 0;
}
bool tf32_enabled() { return g_tf32; }
bool deterministic_mode() { return g_det; }
int graph_begin() { not_built(); }
int graph_end() { not_built(); }
void graph_abort() {}
void graph_launch(int) { not_built(); }
void graph_destroy(int) {}
std::string nccl_unique_id() { not_built(); }
void nccl_init(int, int, const std::string&) { not_built(); }
void nccl_all_reduce_flat(const std::vector<Tensor*>&, bool) { not_built(); }
void nccl_broadcast(Tensor&, int) { not_built(); }
void nccl_finalize() {}

std::vector<ConvBenchResult> conv_bench(const OpCall&, const ConvBenchOptions&) { not_built(); }
GpuPeak gpu_peak() { not_built(); }

std::string doctor_json() {
  return "{\"compiled\":false,\"available\":false,\"reason\":\"the addon was built without CUDA (nvcc was not found when it "
         "was built)\",\"gpus\":[]}";
}

}  // namespace vnet::cuda
