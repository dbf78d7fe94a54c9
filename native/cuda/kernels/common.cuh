// Shared helpers for the hand-written kernels: the launch and shared-memory macros, fp16/fp32
// load and store with arithmetic in fp32, 4-wide vector access, launch sizing, and dtype
// dispatch for the op entry points. The same source compiles with nvcc for the GPU and with a
// plain C++ compiler for the host shim (native/cuda/host/, VNET_HOST_KERNELS).
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "../device.h"
#include "../launch_limits.h"
#include "../../ops.h"

// VNET_LAUNCH(grid, block, dynamic_smem, kernel)(args...): a launch on the op stream, checked
// against the launch limits first. VNET_SHARED(type, name, dims): a block-shared array.
#ifdef VNET_HOST_KERNELS
#include "../host/launch.h"
#else
#define VNET_LAUNCH(grid, block, smem, ...) \
  __VA_ARGS__<<<::vnet::cuda::checked_grid(#__VA_ARGS__, grid, block, smem), block, smem, ::vnet::cuda::stream()>>>
#define VNET_SHARED(type, name, dims) __shared__ type name dims
#define VNET_HOST_CHECK_ALIGN(p, bytes) ((void)0)
#endif

namespace vnet::cuda {

constexpr int kThreads = 256;

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
template <class T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }

struct F4 {
  float v[4];
};

// 4 consecutive elements; p must be 4-element aligned (tensor storage is 256-byte aligned).
__device__ __forceinline__ F4 load4(const float* p) {
  VNET_HOST_CHECK_ALIGN(p, 16);
  float4 a = *reinterpret_cast<const float4*>(p);
  return F4{{a.x, a.y, a.z, a.w}};
}
__device__ __forceinline__ F4 load4(const __half* p) {
  VNET_HOST_CHECK_ALIGN(p, 8);
  uint2 raw = *reinterpret_cast<const uint2*>(p);
  __half2 lo = *reinterpret_cast<__half2*>(&raw.x), hi = *reinterpret_cast<__half2*>(&raw.y);
  float2 a = __half22float2(lo), b = __half22float2(hi);
  return F4{{a.x, a.y, b.x, b.y}};
}
__device__ __forceinline__ void store4(float* p, const F4& f) {
  VNET_HOST_CHECK_ALIGN(p, 16);
  *reinterpret_cast<float4*>(p) = make_float4(f.v[0], f.v[1], f.v[2], f.v[3]);
}
__device__ __forceinline__ void store4(__half* p, const F4& f) {
  VNET_HOST_CHECK_ALIGN(p, 8);
  __half2 lo = __floats2half2_rn(f.v[0], f.v[1]), hi = __floats2half2_rn(f.v[2], f.v[3]);
  uint2 raw;
  raw.x = *reinterpret_cast<uint32_t*>(&lo);
  raw.y = *reinterpret_cast<uint32_t*>(&hi);
  *reinterpret_cast<uint2*>(p) = raw;
}

// Grid-stride loop over a channels-last (rows, C) tensor that keeps the channel (and row) of
// element i up to date with additions instead of a 64-bit division per element.
struct RowCol {
  int64_t i, r, c, step_r, step_c;
  __device__ RowCol(int64_t C) {
    int64_t stride = int64_t(gridDim.x) * blockDim.x;
    i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    r = i / C;
    c = i - r * C;
    step_r = stride / C;
    step_c = stride - step_r * C;
  }
  __device__ void next(int64_t C) {
    i += step_r * C + step_c;
    r += step_r;
    c += step_c;
    if (c >= C) c -= C, r++;
  }
};

// Grid size for a grid-stride loop over n items: enough blocks to fill the GPU, no more.
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  int64_t cap = int64_t(sm_count()) * 16;
  if (b > cap) b = cap;
  return unsigned(b < 1 ? 1 : b);
}

// Calls f(float{}) or f(__half{}) for the tensor's dtype (f32/f16 only).
template <class F>
void dispatch_float(DType dt, F&& f) {
  if (dt == DType::F32) f(float{});
  else if (dt == DType::F16) f(__half{});
  else throw_error(ErrorCode::VNET_E_DTYPE, std::string("kernel takes f32 or f16, got ") + dtype_name(dt));
}

template <class T> T* ptr(const TensorPtr& t) { return static_cast<T*>(t->storage->data); }

// Registration helpers: supports() predicates shared by the op files.
bool floats_only(const OpCall& c);  // every tensor f32/f16 (labels i32 allowed)

}  // namespace vnet::cuda
