// Kernel launches on the host shim: VNET_LAUNCH(grid, block, smem, kernel)(args...) checks the
// launch against the hardware limits (as on the GPU, kernels/launch.h), then runs every thread
// of every block (executor.cc), or records the launch while the stream is being captured into a
// CUDA Graph (runtime.cc). VNET_SHARED declares a block-shared array.
#pragma once
#include <cuda_runtime.h>

#include <functional>
#include <string>
#include <utility>

namespace vnet::host {

// Runs `body` once per thread of the grid now, or records it into the stream's capture.
void launch(cudaStream_t s, const char* name, dim3 grid, dim3 block, size_t smem, std::function<void()> body);

template <class F>
struct Launch {
  const char* name;
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
  F fn;
  template <class... A>
  void operator()(A... args) const {
    F f = fn;
    launch(stream, name, grid, block, smem, [f, args...]() { f(args...); });
  }
};
template <class F>
Launch<F> make_launch(const char* name, dim3 grid, dim3 block, size_t smem, cudaStream_t s, F f) {
  return Launch<F>{name, grid, block, smem, s, std::move(f)};
}

}  // namespace vnet::host

#define VNET_LAUNCH(grid, block, smem, ...)                                                       \
  ::vnet::host::make_launch(#__VA_ARGS__, ::vnet::cuda::checked_grid(#__VA_ARGS__, grid, block, smem), \
                            block, smem, ::vnet::cuda::stream(), [](auto... vnet_a) { __VA_ARGS__(vnet_a...); })
#define VNET_SHARED(type, name, dims) \
  static thread_local type name dims; \
  ::vnet::host::note_shared(&name, sizeof(name))
#define VNET_HOST_CHECK_ALIGN(p, bytes) ::vnet::host::check_align(p, bytes, #p)

namespace vnet::host {
void check_align(const void* p, size_t bytes, const char* what);
void log_line(const std::string& line);  // to $VNET_HOST_CUDA_LOG when set (runtime.cc)
}
