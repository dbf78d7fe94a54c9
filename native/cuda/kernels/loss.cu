// Fused softmax + soft dice (+ optional cross-entropy) loss on CUDA, forward and backward,
// matching the CPU oracle: stats (N,C,2) = [I, U] per sample and class, loss
// Σ_c (1 − mean_n (2I+ε)/(U+ε)) + w·CE. Per-sample sums are deterministic (block partials in
// double, added in order by one thread).
#include "common.cuh"
#include "kernels.h"

namespace vnet::cuda {

namespace {

constexpr int kMaxClasses = 16;
constexpr int kMaxSlices = 256;

// grid (slices, N): each block sums 2C+1 values (I per class, U per class, CE) over its voxels.
template <class T>
__global__ void dice_fwd_kernel(const T* __restrict__ logits, const int32_t* __restrict__ labels,
                                float* __restrict__ probs, double* __restrict__ part, int64_t V, int C) {
  VNET_SHARED(double, sm, [kThreads]);
  const int nv = 2 * C + 1;
  int64_t n = blockIdx.y;
  float acc[2 * kMaxClasses + 1];
#pragma unroll
  for (int j = 0; j < 2 * kMaxClasses + 1; j++) acc[j] = 0.f;
  for (int64_t v = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; v < V; v += int64_t(gridDim.x) * blockDim.x) {
    const T* x = logits + (n * V + v) * C;
    float* p = probs + (n * V + v) * C;
    float xv[kMaxClasses];
    float m = to_f(x[0]);
#pragma unroll
    for (int k = 0; k < kMaxClasses; k++)
      if (k < C) {
        xv[k] = to_f(x[k]);
        m = xv[k] > m ? xv[k] : m;
      }
    float s = 0.f;
#pragma unroll
    for (int k = 0; k < kMaxClasses; k++)
      if (k < C) s += (xv[k] = expf(xv[k] - m));
    float inv = 1.f / s;
    int32_t lab = labels[n * V + v];
#pragma unroll
    for (int k = 0; k < kMaxClasses; k++)
      if (k < C) {
        float pk = xv[k] * inv;
        p[k] = pk;
        acc[C + k] += pk;
        if (k == lab) {
          acc[k] += pk;
          acc[C + k] += 1.f;
          acc[2 * C] -= (to_f(x[k]) - m) - logf(s);  // log softmax of the true class
        }
      }
  }
  // Block sums of each value in turn (fixed tree order).
  for (int j = 0; j < nv; j++) {
    float mine = 0.f;
#pragma unroll
    for (int q = 0; q < 2 * kMaxClasses + 1; q++)
      if (q == j) mine = acc[q];
    sm[threadIdx.x] = mine;
    __syncthreads();
    for (int w = kThreads / 2; w > 0; w /= 2) {
      if (int(threadIdx.x) < w) sm[threadIdx.x] += sm[threadIdx.x + w];
      __syncthreads();
    }
    if (threadIdx.x == 0) part[(n * gridDim.x + blockIdx.x) * nv + j] = sm[0];
    __syncthreads();
  }
}

__global__ void dice_fwd_finalize(const double* part, int slices, int64_t N, int C, int64_t V, double eps,
                                  double ce_w, float* loss, float* stats) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  const int nv = 2 * C + 1;
  double total = 0, ce = 0;
  for (int k = 0; k < C; k++) {
    double mean_dice = 0;
    for (int64_t n = 0; n < N; n++) {
      double I = 0, U = 0;
      for (int s = 0; s < slices; s++) {
        I += part[(n * slices + s) * nv + k];
        U += part[(n * slices + s) * nv + C + k];
      }
      stats[2 * (n * C + k)] = float(I);
      stats[2 * (n * C + k) + 1] = float(U);
      mean_dice += (2 * I + eps) / (U + eps);
    }
    total += 1.0 - mean_dice / double(N);
  }
  for (int64_t n = 0; n < N; n++)
    for (int s = 0; s < slices; s++) ce += part[(n * slices + s) * nv + 2 * C];
  loss[0] = float(total + ce_w * ce / double(N * V));
}

// The upstream gradient dL is read on the device (no host sync, so a CUDA Graph can hold it).
__global__ void dice_bwd_coefs(const float* stats, const float* dL, int64_t NC, int64_t N, double eps, double scale_attr,
                               float* coef_t, float* coef_0) {
  int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= NC) return;
  double scale = scale_attr * double(dL[0]);
  double I = stats[2 * i], U = stats[2 * i + 1] + eps;
  coef_t[i] = float(-scale / double(N) * 2.0 / U);
  coef_0[i] = float(scale / double(N) * (2 * I + eps) / (U * U));
}

__global__ void dice_bwd_kernel(const float* __restrict__ probs, const int32_t* __restrict__ labels,
                                const float* __restrict__ coef_t, const float* __restrict__ coef_0,
                                float* __restrict__ dl, int64_t rows, int64_t V, int C, const float* __restrict__ dL,
                                float ce_per_dL) {
  const float ce_s = ce_per_dL * dL[0];
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < rows; r += stride) {
    int64_t n = r / V;
    const float* p = probs + r * C;
    float* d = dl + r * C;
    int32_t lab = labels[r];
    float g[kMaxClasses] = {};  // (only k < C is used; zeroed so no compiler sees a maybe-unset read)
    float dot = 0.f;
#pragma unroll
    for (int k = 0; k < kMaxClasses; k++)
      if (k < C) {
        g[k] = coef_0[n * C + k] + (k == lab ? coef_t[n * C + k] : 0.f);
        dot += g[k] * p[k];
      }
#pragma unroll
    for (int k = 0; k < kMaxClasses; k++)
      if (k < C) d[k] = p[k] * (g[k] - dot) + ce_s * (p[k] - (k == lab ? 1.f : 0.f));
  }
}

bool dice_supports(const OpCall& c) { return floats_only(c) && c.in[0]->dim(-1) <= kMaxClasses; }

void dice_loss(const OpCall& c) {
  int64_t N = c.in[0]->dim(0), C = c.in[0]->dim(-1);
  VNET_CHECK(N > 0 && C > 0, VNET_E_SHAPE, "dice loss needs at least one sample and one class");
  int64_t V = c.in[0]->numel() / (N * C);
  double eps = c.attrs->f("eps", 1e-6), ce_w = c.attrs->f("ce_weight", 0.0);
  int64_t sl = (V + kThreads * 8 - 1) / (kThreads * 8);
  int slices = int(sl < 1 ? 1 : sl > kMaxSlices ? kMaxSlices : sl);
  Scratch part(sizeof(double) * N * slices * (2 * C + 1));
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    VNET_LAUNCH(dim3(slices, unsigned(N)), kThreads, 0, dice_fwd_kernel<T>)(
        ptr<T>(c.in[0]), ptr<int32_t>(c.in[1]), ptr<float>(c.out[1]), part.get<double>(), V, int(C));
  });
  VNET_CUDA_LAUNCH_CHECK("dice_fwd_kernel");
  VNET_LAUNCH(1, 32, 0, dice_fwd_finalize)(part.get<double>(), slices, N, int(C), V, eps, ce_w, ptr<float>(c.out[0]),
                                            ptr<float>(c.out[2]));
  VNET_CUDA_LAUNCH_CHECK("dice_fwd_finalize");
}

void dice_loss_bwd(const OpCall& c) {
  int64_t N = c.in[0]->dim(0), C = c.in[0]->dim(-1);
  VNET_CHECK(N > 0 && C > 0, VNET_E_SHAPE, "dice loss needs at least one sample and one class");
  int64_t V = c.in[0]->numel() / (N * C);
  double eps = c.attrs->f("eps", 1e-6), ce_w = c.attrs->f("ce_weight", 0.0), scale = c.attrs->f("scale", 1.0);
  Scratch coefs(sizeof(float) * 2 * N * C);
  float *ct = coefs.get<float>(), *c0 = ct + N * C;
  VNET_LAUNCH(unsigned((N * C + 63) / 64), 64, 0, dice_bwd_coefs)(ptr<float>(c.in[2]), ptr<float>(c.in[3]), N * C, N,
                                                                   eps, scale, ct, c0);
  VNET_CUDA_LAUNCH_CHECK("dice_bwd_coefs");
  if (!V) return;
  VNET_LAUNCH(grid_for(N * V), kThreads, 0, dice_bwd_kernel)(ptr<float>(c.in[0]), ptr<int32_t>(c.in[1]), ct, c0,
                                                              ptr<float>(c.out[0]), N * V, V, int(C), ptr<float>(c.in[3]),
                                                              float(scale * ce_w / double(N * V)));
  VNET_CUDA_LAUNCH_CHECK("dice_bwd_kernel");
}

}  // namespace

void register_loss_kernels() {
  register_kernel(Op::dice_loss, Device::CUDA, {dice_supports, dice_loss});
  register_kernel(Op::dice_loss_bwd, Device::CUDA, {dice_supports, dice_loss_bwd});
}

}  // namespace vnet::cuda
