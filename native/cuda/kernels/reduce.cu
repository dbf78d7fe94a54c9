// Reductions on CUDA: sum_over_rows (bias gradient, (R,C) -> (C)), sum_over_channels ((R,C) -> (R,1),
// the gradient of the 1->C broadcast) and sum_all. All deterministic (fixed summation order).
#include "channel_reduce.cuh"
#include "kernels.h"

namespace vnet::cuda {

namespace {

template <class T>
struct SumX {
  const T* x;
  __device__ void operator()(int64_t r, int64_t c, float* acc) const { acc[0] += to_f(x[r * gC + c]); }
  int64_t gC;
};

__global__ void sum_over_rows_finalize(const float* part, int slices, int64_t C, float* out) {
  int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c < C) out[c] = float(channel_total(part, slices, 1, 0, C, c));
}

// One thread per row, summing its channels in order (as the CPU does).
template <class T>
__global__ void sum_over_channels_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t R, int64_t C) {
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < R; r += stride) {
    float s = 0.f;
    for (int64_t k = 0; k < C; k++) s += to_f(x[r * C + k]);
    y[r] = from_f<T>(s);
  }
}

// Block partial sums in double, then one block adds them in order.
template <class T>
__global__ void sum_all_partials(const T* __restrict__ x, int64_t n, double* part) {
  VNET_SHARED(double, sm, [kThreads]);
  double s = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    s += to_f(x[i]);
  sm[threadIdx.x] = s;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w /= 2) {
    if (int(threadIdx.x) < w) sm[threadIdx.x] += sm[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) part[blockIdx.x] = sm[0];
}

__global__ void sum_all_finalize(const double* part, int nb, float* out) {
  if (threadIdx.x == 0 && blockIdx.x == 0) {
    double s = 0;
    for (int i = 0; i < nb; i++) s += part[i];
    out[0] = float(s);
  }
}

void sum_over_rows(const OpCall& c) {
  int64_t C = c.in[0]->dim(-1), R = c.in[0]->numel() / (C ? C : 1);
  if (!C) return;
  ChannelGrid g = channel_grid(R, C);
  Scratch part(sizeof(float) * g.grid.y * C);
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    launch_channel_partials<1>(g, SumX<T>{ptr<T>(c.in[0]), C}, part.get<float>());
  });
  VNET_LAUNCH(unsigned((C + kThreads - 1) / kThreads), kThreads, 0, sum_over_rows_finalize)(
      part.get<float>(), int(g.grid.y), C, ptr<float>(c.out[0]));
  VNET_CUDA_LAUNCH_CHECK("sum_over_rows_finalize");
}

void sum_over_channels(const OpCall& c) {
  int64_t C = c.in[0]->dim(-1), R = c.in[0]->numel() / (C ? C : 1);
  if (!R) return;
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    VNET_LAUNCH(grid_for(R), kThreads, 0, sum_over_channels_kernel<T>)(ptr<T>(c.in[0]), ptr<T>(c.out[0]), R, C);
  });
  VNET_CUDA_LAUNCH_CHECK("sum_over_channels_kernel");
}

void sum_all(const OpCall& c) {
  int64_t n = c.in[0]->numel();
  unsigned nb = n ? grid_for(n) : 1;
  if (nb > 1024) nb = 1024;
  Scratch part(sizeof(double) * nb);
  if (n) {
    dispatch_float(c.in[0]->dtype, [&](auto tag) {
      using T = decltype(tag);
      VNET_LAUNCH(nb, kThreads, 0, sum_all_partials<T>)(ptr<T>(c.in[0]), n, part.get<double>());
    });
    VNET_CUDA_LAUNCH_CHECK("sum_all_partials");
  } else {
    VNET_CUDA_CHECK(cudaMemsetAsync(part.get(), 0, sizeof(double), stream()));
  }
  VNET_LAUNCH(1, 32, 0, sum_all_finalize)(part.get<double>(), int(nb), ptr<float>(c.out[0]));
  VNET_CUDA_LAUNCH_CHECK("sum_all_finalize");
}

}  // namespace

void register_reduce_kernels() {
  register_kernel(Op::sum_over_rows, Device::CUDA, {floats_only, sum_over_rows});
  register_kernel(Op::sum_over_channels, Device::CUDA, {floats_only, sum_over_channels});
  register_kernel(Op::sum_all, Device::CUDA, {floats_only, sum_all});
}

}  // namespace vnet::cuda
