// Deterministic per-channel reductions over the rows of an (R, C) channels-last tensor, used by
// the bias gradient and batchnorm. Stage 1: each block sums a fixed slice of rows into
// part[blockIdx.y][v][c] (threads of a block cover several rows of the same channels, so warps
// read contiguous memory); stage 2 adds the slices in a fixed order, in double. No atomics:
// the same inputs give the same bits on every run.
#pragma once
#include "common.cuh"

namespace vnet::cuda {

struct ChannelGrid {
  int64_t R, C;
  int cb;            // channels per block tile (C, or 256 for wide tensors)
  int rp;            // rows handled side by side in one block
  int64_t rows_per;  // rows per block slice (a multiple of rp)
  dim3 grid;
};

inline ChannelGrid channel_grid(int64_t R, int64_t C) {
  ChannelGrid g;
  g.R = R;
  g.C = C;
  g.cb = int(C < kThreads ? C : kThreads);
  g.rp = kThreads / g.cb;
  int64_t tiles = (C + g.cb - 1) / g.cb;
  // About 64 rows per thread, at most 1024 slices.
  int64_t slices = (R + int64_t(g.rp) * 64 - 1) / (int64_t(g.rp) * 64);
  if (slices > 1024) slices = 1024;
  if (slices < 1) slices = 1;
  g.rows_per = (R + slices - 1) / slices;
  g.rows_per = (g.rows_per + g.rp - 1) / g.rp * g.rp;
  if (g.rows_per < g.rp) g.rows_per = g.rp;  // R == 0: one empty slice
  slices = (R + g.rows_per - 1) / g.rows_per;
  if (slices < 1) slices = 1;
  g.grid = dim3(unsigned(tiles), unsigned(slices));
  return g;
}

// F: __device__ void operator()(int64_t r, int64_t c, float* acc) adds NV values into acc.
template <int NV, class F>
__global__ void channel_partials_kernel(ChannelGrid g, F f, float* __restrict__ part) {
  VNET_SHARED(float, sm, [NV][kThreads]);
  int tid = threadIdx.x, lane = tid % g.cb, ro = tid / g.cb;
  int64_t c = int64_t(blockIdx.x) * g.cb + lane;
  float acc[NV];
#pragma unroll
  for (int v = 0; v < NV; v++) acc[v] = 0.f;
  if (ro < g.rp && c < g.C) {
    int64_t r0 = int64_t(blockIdx.y) * g.rows_per, r1 = r0 + g.rows_per < g.R ? r0 + g.rows_per : g.R;
    for (int64_t r = r0 + ro; r < r1; r += g.rp) f(r, c, acc);
  }
#pragma unroll
  for (int v = 0; v < NV; v++) sm[v][tid] = acc[v];
  __syncthreads();
  if (tid < g.cb && c < g.C) {
#pragma unroll
    for (int v = 0; v < NV; v++) {
      float s = 0.f;
      for (int k = 0; k < g.rp; k++) s += sm[v][tid + k * g.cb];
      part[(int64_t(blockIdx.y) * NV + v) * g.C + c] = s;
    }
  }
}

// sum[v][c] = Σ_slices part[slice][v][c], in double, fixed order.
__device__ inline double channel_total(const float* part, int slices, int NV, int v, int64_t C, int64_t c) {
  double s = 0;
  for (int k = 0; k < slices; k++) s += part[(int64_t(k) * NV + v) * C + c];
  return s;
}

template <int NV, class F>
void launch_channel_partials(const ChannelGrid& g, F f, float* part) {
  VNET_LAUNCH(g.grid, kThreads, 0, channel_partials_kernel<NV, F>)(g, f, part);
  VNET_CUDA_LAUNCH_CHECK("channel_partials_kernel");
}

}  // namespace vnet::cuda
