// Batch normalisation on CUDA over all axes but the channel axis: training (two-pass mean and
// biased variance, running averages updated in place), inference, backward, and a fused
// bias + BN-inference + ReLU kernel. Per-channel statistics in double, like the CPU oracle.
#include "channel_reduce.cuh"
#include "kernels.h"

namespace vnet::cuda {

namespace {

template <class T>
struct SumX {
  const T* x;
  int64_t C;
  __device__ void operator()(int64_t r, int64_t c, float* acc) const { acc[0] += to_f(x[r * C + c]); }
};

template <class T>
struct SqDev {  // Σ (x - mean)²
  const T* x;
  const double* mean;
  int64_t C;
  __device__ void operator()(int64_t r, int64_t c, float* acc) const {
    float d = float(double(to_f(x[r * C + c])) - mean[c]);
    acc[0] += d * d;
  }
};

template <class T>
struct BwdSums {  // Σ dy, Σ dy·(x - mean)·invstd
  const T* dy;
  const T* x;
  const float* mean;
  const float* invstd;
  int64_t C;
  __device__ void operator()(int64_t r, int64_t c, float* acc) const {
    float g = to_f(dy[r * C + c]);
    acc[0] += g;
    acc[1] += g * (to_f(x[r * C + c]) - mean[c]) * invstd[c];
  }
};

__global__ void mean_finalize(const float* part, int slices, int64_t C, int64_t R, double* mean) {
  int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c < C) mean[c] = channel_total(part, slices, 1, 0, C, c) / double(R);
}

// Writes mean/invstd outputs, the scale/shift for normalising, and updates running stats.
// With a bias (the fused unit) the statistics are of x + bias; the output's shift cancels it.
__global__ void train_finalize(const float* part, int slices, int64_t C, int64_t R, const double* mean,
                               const float* gamma, const float* beta, float* rmean, float* rvar, double eps,
                               double mom, float* mean_out, float* invstd_out, float* scale, float* shift,
                               const float* bias = nullptr) {
  int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  double var = channel_total(part, slices, 1, 0, C, c) / double(R);  // biased, as the CPU
  double inv = 1.0 / sqrt(var + eps), mx = mean[c], m = mx + (bias ? bias[c] : 0.0);
  mean_out[c] = float(m);
  invstd_out[c] = float(inv);
  scale[c] = float(gamma[c] * inv);
  shift[c] = float(beta[c] - mx * gamma[c] * inv);
  rmean[c] = float(mom * rmean[c] + (1 - mom) * m);
  rvar[c] = float(mom * rvar[c] + (1 - mom) * var);
}

__global__ void infer_coefs(const float* gamma, const float* beta, const float* rmean, const float* rvar, double eps,
                            int64_t C, float* scale, float* shift) {
  int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  double inv = 1.0 / sqrt(double(rvar[c]) + eps);
  scale[c] = float(gamma[c] * inv);
  shift[c] = float(beta[c] - rmean[c] * gamma[c] * inv);
}

// dx = dy·a + x·b + d per channel (see the CPU kernel for the algebra).
__global__ void bwd_finalize(const float* part, int slices, int64_t C, int64_t R, const float* gamma,
                             const float* mean, const float* invstd, float* dgamma, float* dbeta, float* coef) {
  int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  double db = channel_total(part, slices, 2, 0, C, c), dg = channel_total(part, slices, 2, 1, C, c);
  dbeta[c] = float(db);
  dgamma[c] = float(dg);
  double gi = double(gamma[c]) * invstd[c];
  coef[c] = float(gi);
  coef[C + c] = float(-gi * dg / double(R) * invstd[c]);
  coef[2 * C + c] = float(-gi * db / double(R) + gi * dg / double(R) * invstd[c] * mean[c]);
}

// y = x·s[c] + t[c], optionally after adding bias[c] and followed by ReLU.
template <class T>
__global__ void affine_kernel(const T* __restrict__ x, const float* __restrict__ bias, const float* __restrict__ s,
                              const float* __restrict__ t, T* __restrict__ y, int64_t n, int64_t C, bool relu) {
  for (RowCol p(C); p.i < n; p.next(C)) {
    float v = to_f(x[p.i]);
    if (bias) v += bias[p.c];
    v = v * s[p.c] + t[p.c];
    if (relu) v = v > 0.f ? v : 0.f;
    y[p.i] = from_f<T>(v);
  }
}

template <class T>
struct FusedBwdSums {  // Σ g, Σ g·(x − shift)·invstd with g = dy where y > 0 (the ReLU mask)
  const T* dy;
  const T* y;
  const T* x;
  const float* shift;  // mean − bias
  const float* invstd;
  int64_t C;
  __device__ void operator()(int64_t r, int64_t c, float* acc) const {
    float g = to_f(y[r * C + c]) > 0.f ? to_f(dy[r * C + c]) : 0.f;
    acc[0] += g;
    acc[1] += g * (to_f(x[r * C + c]) - shift[c]) * invstd[c];
  }
};

__global__ void mean_minus_bias(const float* mean, const float* bias, int64_t C, float* shift) {
  int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c < C) shift[c] = mean[c] - bias[c];
}

// Σ_r dx = a·Σg + b·Σx + R·d, with Σx = R·(mean − bias): the bias gradient (zero up to rounding).
__global__ void bias_grad_finalize(const float* coef, const float* dbeta, const float* shift, int64_t C, int64_t R,
                                   float* dbias) {
  int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c < C)
    dbias[c] = float(double(coef[c]) * dbeta[c] + double(coef[C + c]) * double(R) * shift[c] + double(R) * coef[2 * C + c]);
}

template <class T>
__global__ void fused_bwd_apply(const T* __restrict__ dy, const T* __restrict__ y, const T* __restrict__ x,
                                const float* __restrict__ coef, T* __restrict__ dx, int64_t n, int64_t C) {
  for (RowCol p(C); p.i < n; p.next(C)) {
    float g = to_f(y[p.i]) > 0.f ? to_f(dy[p.i]) : 0.f;
    dx[p.i] = from_f<T>(g * coef[p.c] + to_f(x[p.i]) * coef[C + p.c] + coef[2 * C + p.c]);
  }
}

template <class T>
__global__ void bwd_apply(const T* __restrict__ dy, const T* __restrict__ x, const float* __restrict__ coef,
                          T* __restrict__ dx, int64_t n, int64_t C) {
  for (RowCol p(C); p.i < n; p.next(C))
    dx[p.i] = from_f<T>(to_f(dy[p.i]) * coef[p.c] + to_f(x[p.i]) * coef[C + p.c] + coef[2 * C + p.c]);
}

unsigned cgrid(int64_t C) { return unsigned((C + kThreads - 1) / kThreads); }

template <class T>
void affine(const void* x, const float* bias, const float* s, const float* t, void* y, int64_t n, int64_t C, bool relu) {
  VNET_LAUNCH(grid_for(n), kThreads, 0, affine_kernel<T>)(static_cast<const T*>(x), bias, s, t, static_cast<T*>(y), n,
                                                           C, relu);
  VNET_CUDA_LAUNCH_CHECK("affine_kernel");
}

// Training statistics and the normalised output. Inputs from `p` on are gamma, beta, running
// mean, running var; with a bias (the fused unit) the statistics are of x + bias and ReLU follows.
void train_impl(const OpCall& c, int p, const float* bias, bool relu) {
  int64_t C = c.in[0]->dim(-1);
  if (!C) return;
  int64_t R = c.in[0]->numel() / C, n = c.in[0]->numel();
  double eps = c.attrs->f("eps", 1e-3), mom = c.attrs->f("momentum", 0.99);
  ChannelGrid g = channel_grid(R, C);
  Scratch part(sizeof(float) * g.grid.y * C), mean(sizeof(double) * C), ss(sizeof(float) * 2 * C);
  float *scale = ss.get<float>(), *shift = scale + C;
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = ptr<T>(c.in[0]);
    launch_channel_partials<1>(g, SumX<T>{x, C}, part.get<float>());
    VNET_LAUNCH(cgrid(C), kThreads, 0, mean_finalize)(part.get<float>(), int(g.grid.y), C, R, mean.get<double>());
    VNET_CUDA_LAUNCH_CHECK("mean_finalize");
    launch_channel_partials<1>(g, SqDev<T>{x, mean.get<double>(), C}, part.get<float>());
    VNET_LAUNCH(cgrid(C), kThreads, 0, train_finalize)(
        part.get<float>(), int(g.grid.y), C, R, mean.get<double>(), ptr<float>(c.in[p]), ptr<float>(c.in[p + 1]),
        ptr<float>(c.in[p + 2]), ptr<float>(c.in[p + 3]), eps, mom, ptr<float>(c.out[1]), ptr<float>(c.out[2]), scale,
        shift, bias);
    VNET_CUDA_LAUNCH_CHECK("train_finalize");
    affine<T>(x, nullptr, scale, shift, c.out[0]->storage->data, n, C, relu);
  });
}

void bn_train(const OpCall& c) { train_impl(c, 1, nullptr, false); }

void bn_infer(const OpCall& c) {
  int64_t C = c.in[0]->dim(-1), n = c.in[0]->numel();
  Scratch ss(sizeof(float) * 2 * C);
  float *scale = ss.get<float>(), *shift = scale + C;
  VNET_LAUNCH(cgrid(C), kThreads, 0, infer_coefs)(ptr<float>(c.in[1]), ptr<float>(c.in[2]), ptr<float>(c.in[3]),
                                                   ptr<float>(c.in[4]), c.attrs->f("eps", 1e-3), C, scale, shift);
  VNET_CUDA_LAUNCH_CHECK("infer_coefs");
  if (!n) return;
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    affine<T>(c.in[0]->storage->data, nullptr, scale, shift, c.out[0]->storage->data, n, C, false);
  });
}

void bn_bwd(const OpCall& c) {
  int64_t C = c.in[0]->dim(-1);
  if (!C) return;
  int64_t R = c.in[0]->numel() / C, n = c.in[0]->numel();
  ChannelGrid g = channel_grid(R, C);
  Scratch part(sizeof(float) * g.grid.y * 2 * C), coef(sizeof(float) * 3 * C);
  const float *mean = ptr<float>(c.in[3]), *invstd = ptr<float>(c.in[4]);
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    launch_channel_partials<2>(g, BwdSums<T>{ptr<T>(c.in[0]), ptr<T>(c.in[1]), mean, invstd, C}, part.get<float>());
    VNET_LAUNCH(cgrid(C), kThreads, 0, bwd_finalize)(part.get<float>(), int(g.grid.y), C, R, ptr<float>(c.in[2]), mean,
                                                      invstd, ptr<float>(c.out[1]), ptr<float>(c.out[2]), coef.get<float>());
    VNET_CUDA_LAUNCH_CHECK("bwd_finalize");
    VNET_LAUNCH(grid_for(n), kThreads, 0, bwd_apply<T>)(ptr<T>(c.in[0]), ptr<T>(c.in[1]), coef.get<float>(),
                                                         ptr<T>(c.out[0]), n, C);
    VNET_CUDA_LAUNCH_CHECK("bwd_apply");
  });
}

void fused_train(const OpCall& c) { train_impl(c, 2, ptr<float>(c.in[1]), true); }

void fused_infer(const OpCall& c) {
  int64_t C = c.in[0]->dim(-1);
  launch_bias_bn_relu_infer(c.in[0]->storage->data, ptr<float>(c.in[1]), ptr<float>(c.in[2]), ptr<float>(c.in[3]),
                            ptr<float>(c.in[4]), ptr<float>(c.in[5]), float(c.attrs->f("eps", 1e-3)),
                            c.out[0]->storage->data, C ? c.in[0]->numel() / C : 0, C, c.in[0]->dtype);
}

void fused_bwd(const OpCall& c) {
  int64_t C = c.in[0]->dim(-1);
  if (!C) return;
  int64_t R = c.in[0]->numel() / C, n = c.in[0]->numel();
  ChannelGrid g = channel_grid(R, C);
  Scratch part(sizeof(float) * g.grid.y * 2 * C), coef(sizeof(float) * 3 * C), sh(sizeof(float) * C);
  const float *invstd = ptr<float>(c.in[6]);
  VNET_LAUNCH(cgrid(C), kThreads, 0, mean_minus_bias)(ptr<float>(c.in[5]), ptr<float>(c.in[3]), C, sh.get<float>());
  VNET_CUDA_LAUNCH_CHECK("mean_minus_bias");
  dispatch_float(c.in[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    launch_channel_partials<2>(g, FusedBwdSums<T>{ptr<T>(c.in[0]), ptr<T>(c.in[1]), ptr<T>(c.in[2]), sh.get<float>(), invstd, C},
                               part.get<float>());
    // With mean − bias in place of the mean, the plain finalize yields the coefficients for x.
    VNET_LAUNCH(cgrid(C), kThreads, 0, bwd_finalize)(part.get<float>(), int(g.grid.y), C, R, ptr<float>(c.in[4]),
                                                      sh.get<float>(), invstd, ptr<float>(c.out[2]), ptr<float>(c.out[3]),
                                                      coef.get<float>());
    VNET_CUDA_LAUNCH_CHECK("bwd_finalize");
    VNET_LAUNCH(cgrid(C), kThreads, 0, bias_grad_finalize)(coef.get<float>(), ptr<float>(c.out[3]), sh.get<float>(), C, R,
                                                            ptr<float>(c.out[1]));
    VNET_CUDA_LAUNCH_CHECK("bias_grad_finalize");
    VNET_LAUNCH(grid_for(n), kThreads, 0, fused_bwd_apply<T>)(ptr<T>(c.in[0]), ptr<T>(c.in[1]), ptr<T>(c.in[2]),
                                                               coef.get<float>(), ptr<T>(c.out[0]), n, C);
    VNET_CUDA_LAUNCH_CHECK("fused_bwd_apply");
  });
}

}  // namespace

void launch_bias_bn_relu_infer(const void* x, const float* bias, const float* gamma, const float* beta,
                               const float* rmean, const float* rvar, float eps, void* y, int64_t rows, int64_t C,
                               DType dt) {
  Scratch ss(sizeof(float) * 2 * C);
  float *scale = ss.get<float>(), *shift = scale + C;
  VNET_LAUNCH(cgrid(C), kThreads, 0, infer_coefs)(gamma, beta, rmean, rvar, eps, C, scale, shift);
  VNET_CUDA_LAUNCH_CHECK("infer_coefs");
  if (!rows) return;
  dispatch_float(dt, [&](auto tag) {
    using T = decltype(tag);
    affine<T>(x, bias, scale, shift, y, rows * C, C, true);
  });
}

// Per-sample statistics (instance normalisation) have CPU kernels only, for now.
bool whole_batch(const OpCall& c) {
  return floats_only(c) && c.attrs->f("per_sample", 0.0) == 0.0;
}

void register_batchnorm_kernels() {
  register_kernel(Op::batchnorm_train, Device::CUDA, {whole_batch, bn_train});
  register_kernel(Op::batchnorm_infer, Device::CUDA, {floats_only, bn_infer});
  register_kernel(Op::batchnorm_bwd, Device::CUDA, {whole_batch, bn_bwd});
  register_kernel(Op::bias_bn_relu_train, Device::CUDA, {floats_only, fused_train});
  register_kernel(Op::bias_bn_relu_infer, Device::CUDA, {floats_only, fused_infer});
  register_kernel(Op::bias_bn_relu_bwd, Device::CUDA, {floats_only, fused_bwd});
}

}  // namespace vnet::cuda
