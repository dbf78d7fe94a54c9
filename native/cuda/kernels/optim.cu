// Fused optimizer steps on CUDA (TF1 centered RMSProp, Adam, SGD with momentum) and AMP's
// unscale with a finite check; one thread per parameter, f32 master weights.
#include <cmath>

#include "common.cuh"
#include "kernels.h"

namespace vnet::cuda {

namespace {

#define VNET_GRID_LOOP(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

__global__ void rmsprop_kernel(float* w, const float* g, float* ms, float* mg, float* mom, int64_t n, float lr,
                               float rho, float eps, float momentum, bool centered) {
  VNET_GRID_LOOP(i, n) {
    float gi = g[i];
    float msi = rho * ms[i] + (1 - rho) * gi * gi;
    ms[i] = msi;
    float denom = msi;
    if (centered) {
      float mgi = rho * mg[i] + (1 - rho) * gi;
      mg[i] = mgi;
      denom -= mgi * mgi;
    }
    float m = momentum * mom[i] + lr * gi / sqrtf(denom + eps);
    mom[i] = m;
    w[i] -= m;
  }
}

__global__ void adam_kernel(float* w, const float* g, float* m, float* v, int64_t n, float lr, float b1, float b2,
                            float eps, float c1, float c2) {
  VNET_GRID_LOOP(i, n) {
    float mi = b1 * m[i] + (1 - b1) * g[i];
    float vi = b2 * v[i] + (1 - b2) * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    w[i] -= lr * (mi * c1) / (sqrtf(vi * c2) + eps);
  }
}

// The CPU backend's rule (PyTorch's SGD with weight decay and optional Nesterov momentum).
__global__ void sgd_kernel(float* w, const float* g, float* mom, int64_t n, float lr, float momentum, float wd,
                           bool nesterov) {
  VNET_GRID_LOOP(i, n) {
    float gi = wd != 0.f ? g[i] + wd * w[i] : g[i];
    float m = momentum * mom[i] + gi;
    mom[i] = m;
    w[i] -= lr * (nesterov ? gi + momentum * m : m);
  }
}

// found[0] is zeroed first; any non-finite value stores 1 (same value from every writer).
__global__ void unscale_kernel(float* g, int64_t n, float inv, float* found) {
  bool bad = false;
  VNET_GRID_LOOP(i, n) {
    float v = g[i] * inv;
    g[i] = v;
    bad |= !isfinite(v);
  }
  if (bad) found[0] = 1.f;
}

void rmsprop(const OpCall& c) {
  int64_t n = c.in[0]->numel();
  if (!n) return;
  const Attrs& a = *c.attrs;
  VNET_LAUNCH(grid_for(n), kThreads, 0, rmsprop_kernel)(
      ptr<float>(c.in[0]), ptr<float>(c.in[1]), ptr<float>(c.in[2]), ptr<float>(c.in[3]), ptr<float>(c.in[4]), n,
      float(a.f("lr")), float(a.f("rho", 0.9)), float(a.f("eps", 1e-10)), float(a.f("momentum", 0.0)),
      a.f("centered", 1.0) != 0.0);
  VNET_CUDA_LAUNCH_CHECK("rmsprop_kernel");
}

void adam(const OpCall& c) {
  int64_t n = c.in[0]->numel();
  const Attrs& a = *c.attrs;
  double b1 = a.f("beta1", 0.9), b2 = a.f("beta2", 0.999), t = a.f("step");
  float lr = float(a.f("lr")), eps = float(a.f("eps", 1e-8));
  if (!n) return;
  VNET_LAUNCH(grid_for(n), kThreads, 0, adam_kernel)(ptr<float>(c.in[0]), ptr<float>(c.in[1]), ptr<float>(c.in[2]),
                                                      ptr<float>(c.in[3]), n, lr, float(b1), float(b2), eps,
                                                      float(1.0 / (1.0 - std::pow(b1, t))),
                                                      float(1.0 / (1.0 - std::pow(b2, t))));
  VNET_CUDA_LAUNCH_CHECK("adam_kernel");
}

void sgd(const OpCall& c) {
  int64_t n = c.in[0]->numel();
  if (!n) return;
  VNET_LAUNCH(grid_for(n), kThreads, 0, sgd_kernel)(ptr<float>(c.in[0]), ptr<float>(c.in[1]), ptr<float>(c.in[2]), n,
                                                     float(c.attrs->f("lr")), float(c.attrs->f("momentum", 0.0)),
                                                     float(c.attrs->f("weight_decay", 0.0)),
                                                     c.attrs->f("nesterov", 0.0) != 0.0);
  VNET_CUDA_LAUNCH_CHECK("sgd_kernel");
}

void amp_unscale(const OpCall& c) {
  int64_t n = c.in[0]->numel();
  float* found = ptr<float>(c.out[0]);
  VNET_CUDA_CHECK(cudaMemsetAsync(found, 0, sizeof(float), stream()));
  if (!n) return;
  VNET_LAUNCH(grid_for(n), kThreads, 0, unscale_kernel)(ptr<float>(c.in[0]), n, float(c.attrs->f("inv_scale")), found);
  VNET_CUDA_LAUNCH_CHECK("unscale_kernel");
}

}  // namespace

void register_optim_kernels() {
  register_kernel(Op::rmsprop_step, Device::CUDA, {nullptr, rmsprop});
  register_kernel(Op::adam_step, Device::CUDA, {nullptr, adam});
  register_kernel(Op::sgd_step, Device::CUDA, {nullptr, sgd});
  register_kernel(Op::amp_unscale, Device::CUDA, {nullptr, amp_unscale});
}

}  // namespace vnet::cuda
