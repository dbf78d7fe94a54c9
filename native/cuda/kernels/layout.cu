// Channel-axis layout ops (concat, split), row-wise softmax and argmax over the last axis, and
// the data movement the convolution paths need (weight transpose, pad/crop windows, 2x2x2
// stride-2 gather/scatter for the GEMM formulation).
#include "common.cuh"
#include "kernels.h"

namespace vnet::cuda {

namespace {

template <class T>
__global__ void concat_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y, int64_t n,
                              int64_t Ca, int64_t Cb) {
  const int64_t Ct = Ca + Cb;
  for (RowCol p(Ct); p.i < n; p.next(Ct)) y[p.i] = p.c < Ca ? a[p.r * Ca + p.c] : b[p.r * Cb + (p.c - Ca)];
}

template <class T>
__global__ void split_kernel(const T* __restrict__ x, T* __restrict__ a, T* __restrict__ b, int64_t n,
                             int64_t Ca, int64_t Cb) {
  const int64_t Ct = Ca + Cb;
  for (RowCol p(Ct); p.i < n; p.next(Ct)) {
    if (p.c < Ca) a[p.r * Ca + p.c] = x[p.i];
    else b[p.r * Cb + (p.c - Ca)] = x[p.i];
  }
}

// One thread per row: the class axis is short (2-4 classes in the V-Net).
template <class T>
__global__ void softmax_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t R, int64_t C) {
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < R; r += stride) {
    const T* xr = x + r * C;
    T* yr = y + r * C;
    float m = to_f(xr[0]);
    for (int64_t k = 1; k < C; k++) m = to_f(xr[k]) > m ? to_f(xr[k]) : m;
    float s = 0.f;
    for (int64_t k = 0; k < C; k++) s += expf(to_f(xr[k]) - m);
    for (int64_t k = 0; k < C; k++) yr[k] = from_f<T>(expf(to_f(xr[k]) - m) / s);
  }
}

template <class T>
__global__ void argmax_kernel(const T* __restrict__ x, int32_t* __restrict__ y, int64_t R, int64_t C) {
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < R; r += stride) {
    const T* xr = x + r * C;
    int32_t best = 0;
    float bv = to_f(xr[0]);
    for (int64_t k = 1; k < C; k++) {
      float v = to_f(xr[k]);
      if (v > bv) bv = v, best = int32_t(k);
    }
    y[r] = best;
  }
}

// Tiled transpose through shared memory (32x32 tiles, +1 column against bank conflicts); the
// grid's z walks a batch of matrices.
template <class T>
__global__ void transpose_kernel(const T* __restrict__ src, T* __restrict__ dst, int64_t rows, int64_t cols) {
  VNET_SHARED(T, tile, [32][33]);
  src += int64_t(blockIdx.z) * rows * cols;
  dst += int64_t(blockIdx.z) * rows * cols;
  int64_t c0 = int64_t(blockIdx.x) * 32, r0 = int64_t(blockIdx.y) * 32;
  for (int j = threadIdx.y; j < 32; j += blockDim.y) {
    int64_t r = r0 + j, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[j][threadIdx.x] = src[r * cols + c];
  }
  __syncthreads();
  for (int j = threadIdx.y; j < 32; j += blockDim.y) {
    int64_t c = c0 + j, r = r0 + threadIdx.x;
    if (r < rows && c < cols) dst[c * rows + r] = tile[threadIdx.x][j];
  }
}

template <class T>
__global__ void window_copy_kernel(const T* __restrict__ src, T* __restrict__ dst, int64_t n, int64_t C,
                                   int64_t SD, int64_t SH, int64_t SW, int64_t DD, int64_t DH, int64_t DW,
                                   int64_t od, int64_t oh, int64_t ow) {
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride) {
    int64_t c = i % C, t = i / C;
    int64_t w = t % DW; t /= DW;
    int64_t h = t % DH; t /= DH;
    int64_t d = t % DD, b = t / DD;
    int64_t sd = d + od, sh = h + oh, sw = w + ow;
    bool in = sd >= 0 && sd < SD && sh >= 0 && sh < SH && sw >= 0 && sw < SW;
    dst[i] = in ? src[(((b * SD + sd) * SH + sh) * SW + sw) * C + c] : T(0.f);
  }
}

// cols[m, tap*C + c] with m = ((n*OD+od)*OH+oh)*OW+ow, tap = (a*2+b)*2+e  <->  x[n,2od+a,2oh+b,2ow+e,c].
// Rows (m, tap) are tracked incrementally; m < 2^31 (cuBLAS takes int sizes), so 32-bit division.
template <class T, bool kGather>
__global__ void s2_kernel(const T* __restrict__ src, T* __restrict__ dst, int64_t total, uint32_t OD, uint32_t OH,
                          uint32_t OW, int64_t C) {
  for (RowCol p(C); p.i < total; p.next(C)) {
    uint32_t tap = uint32_t(p.r & 7), m = uint32_t(p.r >> 3);
    uint32_t ow = m % OW, r = m / OW;
    uint32_t oh = r % OH;
    r /= OH;
    uint32_t od = r % OD, nb = r / OD;
    int64_t xi = (((int64_t(nb) * 2 * OD + 2 * od + (tap >> 2)) * 2 * OH + 2 * oh + ((tap >> 1) & 1)) * 2 * OW +
                  2 * ow + (tap & 1)) * C + p.c;
    if (kGather) dst[p.i] = src[xi];
    else dst[xi] = src[p.i];
  }
}

void concat(const OpCall& c) {
  int64_t n = c.out[0]->numel();
  if (!n) return;
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    VNET_LAUNCH(grid_for(n), kThreads, 0, concat_kernel<T>)(ptr<T>(c.in[0]), ptr<T>(c.in[1]), ptr<T>(c.out[0]), n,
                                                             c.in[0]->dim(-1), c.in[1]->dim(-1));
  });
  VNET_CUDA_LAUNCH_CHECK("concat_kernel");
}

void split(const OpCall& c) {
  int64_t n = c.in[0]->numel();
  if (!n) return;
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    VNET_LAUNCH(grid_for(n), kThreads, 0, split_kernel<T>)(ptr<T>(c.in[0]), ptr<T>(c.out[0]), ptr<T>(c.out[1]), n,
                                                            c.out[0]->dim(-1), c.out[1]->dim(-1));
  });
  VNET_CUDA_LAUNCH_CHECK("split_kernel");
}

void softmax(const OpCall& c) {
  int64_t C = c.in[0]->dim(-1), R = C ? c.in[0]->numel() / C : 0;
  if (!R) return;
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    VNET_LAUNCH(grid_for(R), kThreads, 0, softmax_kernel<T>)(ptr<T>(c.in[0]), ptr<T>(c.out[0]), R, C);
  });
  VNET_CUDA_LAUNCH_CHECK("softmax_kernel");
}

void argmax(const OpCall& c) {
  int64_t C = c.in[0]->dim(-1), R = C ? c.in[0]->numel() / C : 0;
  if (!R) return;
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    VNET_LAUNCH(grid_for(R), kThreads, 0, argmax_kernel<T>)(ptr<T>(c.in[0]), ptr<int32_t>(c.out[0]), R, C);
  });
  VNET_CUDA_LAUNCH_CHECK("argmax_kernel");
}

}  // namespace

void launch_transpose2d(const void* src, void* dst, int64_t rows, int64_t cols, DType dt, int64_t batch) {
  if (!rows || !cols || !batch) return;
  VNET_CHECK((cols + 31) / 32 < (int64_t(1) << 31) && (rows + 31) / 32 < 65536 && batch < 65536, VNET_E_SHAPE,
             "transpose too large: " + std::to_string(batch) + " x " + std::to_string(rows) + "x" + std::to_string(cols));
  dim3 grid(unsigned((cols + 31) / 32), unsigned((rows + 31) / 32), unsigned(batch)), block(32, 8);
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    VNET_LAUNCH(grid, block, 0, transpose_kernel<T>)(static_cast<const T*>(src), static_cast<T*>(dst), rows, cols);
  });
  VNET_CUDA_LAUNCH_CHECK("transpose_kernel");
}

void launch_window_copy(const void* src, void* dst, int64_t N, int64_t C, const int64_t s[3], const int64_t d[3],
                        const int64_t off[3], DType dt) {
  int64_t n = N * d[0] * d[1] * d[2] * C;
  if (!n) return;
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    VNET_LAUNCH(grid_for(n), kThreads, 0, window_copy_kernel<T>)(static_cast<const T*>(src), static_cast<T*>(dst), n, C,
                                                                  s[0], s[1], s[2], d[0], d[1], d[2], off[0], off[1], off[2]);
  });
  VNET_CUDA_LAUNCH_CHECK("window_copy_kernel");
}

void launch_s2_gather(const void* x, void* cols, int64_t N, int64_t OD, int64_t OH, int64_t OW, int64_t C, DType dt) {
  int64_t total = N * OD * OH * OW * 8 * C;
  if (!total) return;
  VNET_CHECK(N * OD * OH * OW < (int64_t(1) << 31), VNET_E_SHAPE, "too many output voxels for the GEMM conv path");
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    VNET_LAUNCH(grid_for(total), kThreads, 0, s2_kernel<T, true>)(static_cast<const T*>(x), static_cast<T*>(cols),
                                                                   total, uint32_t(OD), uint32_t(OH), uint32_t(OW), C);
  });
  VNET_CUDA_LAUNCH_CHECK("s2_kernel<gather>");
}

void launch_s2_scatter(const void* cols, void* x, int64_t N, int64_t OD, int64_t OH, int64_t OW, int64_t C, DType dt) {
  int64_t total = N * OD * OH * OW * 8 * C;
  if (!total) return;
  VNET_CHECK(N * OD * OH * OW < (int64_t(1) << 31), VNET_E_SHAPE, "too many output voxels for the GEMM conv path");
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    VNET_LAUNCH(grid_for(total), kThreads, 0, s2_kernel<T, false>)(static_cast<const T*>(cols), static_cast<T*>(x),
                                                                    total, uint32_t(OD), uint32_t(OH), uint32_t(OW), C);
  });
  VNET_CUDA_LAUNCH_CHECK("s2_kernel<scatter>");
}

void register_layout_kernels() {
  register_kernel(Op::concat, Device::CUDA, {floats_only, concat});
  register_kernel(Op::split, Device::CUDA, {floats_only, split});
  register_kernel(Op::softmax, Device::CUDA, {floats_only, softmax});
  register_kernel(Op::argmax, Device::CUDA, {floats_only, argmax});
}

}  // namespace vnet::cuda
