// Element-wise ops on CUDA: bias, ReLU and its gradient, add (with the (...,1) channel
// broadcast), scale, axpy, casts and fills. One templated body per op for f32 and f16,
// arithmetic in f32; fills use the CPU's counter RNG so values match it bit for bit.
#include "../../rng.h"
#include "common.cuh"
#include "kernels.h"

namespace vnet::cuda {

namespace {

struct Relu {
  __device__ float operator()(float x) const { return x > 0.f ? x : 0.f; }
};
struct Scale {
  float a;
  __device__ float operator()(float x) const { return a * x; }
};
struct ReluBwd {  // (dy, y)
  __device__ float operator()(float dy, float y) const { return y > 0.f ? dy : 0.f; }
};
struct Add {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct Axpy {  // (x, y) -> y + alpha x
  float alpha;
  __device__ float operator()(float x, float y) const { return y + alpha * x; }
};

template <class T, class F>
__global__ void map1_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, F f) {
  int64_t stride = int64_t(gridDim.x) * blockDim.x, n4 = n / 4;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4; i += stride) {
    F4 a = load4(x + 4 * i);
#pragma unroll
    for (int k = 0; k < 4; k++) a.v[k] = f(a.v[k]);
    store4(y + 4 * i, a);
  }
  for (int64_t i = n4 * 4 + blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    y[i] = from_f<T>(f(to_f(x[i])));
}

// y may alias b (axpy updates in place), so no __restrict__ on those.
template <class T, class F>
__global__ void map2_kernel(const T* a, const T* b, T* y, int64_t n, F f) {
  int64_t stride = int64_t(gridDim.x) * blockDim.x, n4 = n / 4;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4; i += stride) {
    F4 u = load4(a + 4 * i), v = load4(b + 4 * i);
#pragma unroll
    for (int k = 0; k < 4; k++) u.v[k] = f(u.v[k], v.v[k]);
    store4(y + 4 * i, u);
  }
  for (int64_t i = n4 * 4 + blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    y[i] = from_f<T>(f(to_f(a[i]), to_f(b[i])));
}

// y (R, C) = x (R, C) + b (C)
template <class T>
__global__ void bias_add_kernel(const T* __restrict__ x, const float* __restrict__ b, T* __restrict__ y,
                                int64_t n, int64_t C) {
  for (RowCol p(C); p.i < n; p.next(C)) y[p.i] = from_f<T>(to_f(x[p.i]) + b[p.c]);
}

// y (R, C) = a (R, C) + b (R, 1)
template <class T>
__global__ void add_bcast_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y,
                                 int64_t n, int64_t C) {
  for (RowCol p(C); p.i < n; p.next(C)) y[p.i] = from_f<T>(to_f(a[p.i]) + to_f(b[p.r]));
}

template <class T>
__global__ void fill_uniform_kernel(T* t, int64_t n, float lo, float hi, uint64_t seed) {
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  float span = __fsub_rn(hi, lo);
  // Explicit rounding (no fused multiply-add) so f32 values equal the CPU's exactly.
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    t[i] = from_f<T>(__fadd_rn(lo, __fmul_rn(span, uniform01(seed, uint64_t(i)))));
}

template <class T>
__global__ void fill_const_kernel(T* t, int64_t n, float v) {
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  T tv = from_f<T>(v);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride) t[i] = tv;
}

// Any of f32/f16/i32 to any; i32 <- float truncates toward zero like the CPU's C cast.
__global__ void cast_kernel(const void* src, void* dst, int64_t n, int from, int to) {
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride) {
    if (from == 2 && to == 2) {
      static_cast<int32_t*>(dst)[i] = static_cast<const int32_t*>(src)[i];
      continue;
    }
    float v = from == 0   ? static_cast<const float*>(src)[i]
              : from == 1 ? __half2float(static_cast<const __half*>(src)[i])
                          : float(static_cast<const int32_t*>(src)[i]);
    if (to == 0) static_cast<float*>(dst)[i] = v;
    else if (to == 1) static_cast<__half*>(dst)[i] = __float2half_rn(v);
    else static_cast<int32_t*>(dst)[i] = int32_t(v);
  }
}

template <class F>
void unary(const OpCall& c, F f, const char* name) {
  int64_t n = c.in[0]->numel();
  if (!n) return;
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    VNET_LAUNCH(grid_for(n / 4 + 1), kThreads, 0, map1_kernel<T>)(ptr<T>(c.in[0]), ptr<T>(c.out[0]), n, f);
  });
  VNET_CUDA_LAUNCH_CHECK("map1_kernel");
}

void relu(const OpCall& c) { unary(c, Relu{}, "relu"); }
void scale(const OpCall& c) { unary(c, Scale{float(c.attrs->f("alpha"))}, "scale"); }

void relu_bwd(const OpCall& c) {
  int64_t n = c.in[0]->numel();
  if (!n) return;
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    VNET_LAUNCH(grid_for(n / 4 + 1), kThreads, 0, map2_kernel<T>)(ptr<T>(c.in[0]), ptr<T>(c.in[1]),
                                                                   ptr<T>(c.out[0]), n, ReluBwd{});
  });
  VNET_CUDA_LAUNCH_CHECK("map2_kernel<relu_bwd>");
}

void add(const OpCall& c) {
  int64_t n = c.in[0]->numel();
  if (!n) return;
  bool same = c.in[0]->shape == c.in[1]->shape;
  int64_t C = c.in[0]->dim(-1);
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    if (same)
      VNET_LAUNCH(grid_for(n / 4 + 1), kThreads, 0, map2_kernel<T>)(ptr<T>(c.in[0]), ptr<T>(c.in[1]),
                                                                     ptr<T>(c.out[0]), n, Add{});
    else
      VNET_LAUNCH(grid_for(n), kThreads, 0, add_bcast_kernel<T>)(ptr<T>(c.in[0]), ptr<T>(c.in[1]),
                                                                  ptr<T>(c.out[0]), n, C);
  });
  VNET_CUDA_LAUNCH_CHECK("add");
}

void axpy(const OpCall& c) {
  int64_t n = c.in[0]->numel();
  if (!n) return;
  float* y = ptr<float>(c.in[1]);
  VNET_LAUNCH(grid_for(n / 4 + 1), kThreads, 0, map2_kernel<float>)(ptr<float>(c.in[0]), y, y, n,
                                                                     Axpy{float(c.attrs->f("alpha", 1.0))});
  VNET_CUDA_LAUNCH_CHECK("map2_kernel<axpy>");
}

void bias_add(const OpCall& c) {
  int64_t n = c.in[0]->numel();
  if (!n) return;
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    VNET_LAUNCH(grid_for(n), kThreads, 0, bias_add_kernel<T>)(ptr<T>(c.in[0]), ptr<float>(c.in[1]),
                                                               ptr<T>(c.out[0]), n, c.in[0]->dim(-1));
  });
  VNET_CUDA_LAUNCH_CHECK("bias_add_kernel");
}

void fill_uniform(const OpCall& c) {
  int64_t n = c.in[0]->numel();
  if (!n) return;
  float lo = float(c.attrs->f("lo", 0.0)), hi = float(c.attrs->f("hi", 1.0));
  uint64_t seed = uint64_t(c.attrs->f("seed", 0.0));
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    VNET_LAUNCH(grid_for(n), kThreads, 0, fill_uniform_kernel<T>)(ptr<T>(c.in[0]), n, lo, hi, seed);
  });
  VNET_CUDA_LAUNCH_CHECK("fill_uniform_kernel");
}

void fill_const(const OpCall& c) {
  int64_t n = c.in[0]->numel();
  if (!n) return;
  float v = float(c.attrs->f("value"));
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    VNET_LAUNCH(grid_for(n), kThreads, 0, fill_const_kernel<T>)(ptr<T>(c.in[0]), n, v);
  });
  VNET_CUDA_LAUNCH_CHECK("fill_const_kernel");
}

void cast(const OpCall& c) {
  int64_t n = c.in[0]->numel();
  if (!n) return;
  VNET_LAUNCH(grid_for(n), kThreads, 0, cast_kernel)(c.in[0]->storage->data, c.out[0]->storage->data, n,
                                                      int(c.in[0]->dtype), int(c.out[0]->dtype));
  VNET_CUDA_LAUNCH_CHECK("cast_kernel");
}

}  // namespace

bool floats_only(const OpCall& c) {
  for (auto& t : c.in)
    if (t->dtype != DType::F32 && t->dtype != DType::F16 && t->dtype != DType::I32) return false;
  return true;
}

void register_elementwise_kernels() {
  register_kernel(Op::bias_add, Device::CUDA, {floats_only, bias_add});
  register_kernel(Op::relu, Device::CUDA, {floats_only, relu});
  register_kernel(Op::relu_bwd, Device::CUDA, {floats_only, relu_bwd});
  register_kernel(Op::add, Device::CUDA, {floats_only, add});
  register_kernel(Op::scale, Device::CUDA, {floats_only, scale});
  register_kernel(Op::axpy, Device::CUDA, {floats_only, axpy});
  register_kernel(Op::fill_uniform, Device::CUDA, {floats_only, fill_uniform});
  register_kernel(Op::fill_const, Device::CUDA, {floats_only, fill_const});
  register_kernel(Op::cast, Device::CUDA, {nullptr, cast});
}

}  // namespace vnet::cuda
