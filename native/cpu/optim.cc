// Fused optimizer steps (TF1 centered RMSProp, Adam, SGD with momentum) and AMP's unscale with
// a finite check. Hyper-parameters come as attributes so a schedule changes no signature.
#include <cmath>

#include "kernels.h"

namespace vnet::cpu {

namespace {

void rmsprop(const OpCall& c) {
  float *w = c.in[0]->data<float>(), *ms = c.in[2]->data<float>(), *mg = c.in[3]->data<float>(),
        *mom = c.in[4]->data<float>();
  const float* g = c.in[1]->data<float>();
  const Attrs& a = *c.attrs;
  float lr = float(a.f("lr")), rho = float(a.f("rho", 0.9)), eps = float(a.f("eps", 1e-10)),
        momentum = float(a.f("momentum", 0.0));
  bool centered = a.f("centered", 1.0) != 0.0;
  parallel_for(c.in[0]->numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      float gi = g[i];
      ms[i] = rho * ms[i] + (1 - rho) * gi * gi;
      float denom = ms[i];
      if (centered) {
        mg[i] = rho * mg[i] + (1 - rho) * gi;
        denom -= mg[i] * mg[i];
      }
      mom[i] = momentum * mom[i] + lr * gi / std::sqrt(denom + eps);
      w[i] -= mom[i];
    }
  });
}

void adam(const OpCall& c) {
  float *w = c.in[0]->data<float>(), *m = c.in[2]->data<float>(), *v = c.in[3]->data<float>();
  const float* g = c.in[1]->data<float>();
  const Attrs& a = *c.attrs;
  double b1 = a.f("beta1", 0.9), b2 = a.f("beta2", 0.999), t = a.f("step");
  float lr = float(a.f("lr")), eps = float(a.f("eps", 1e-8));
  float c1 = float(1.0 / (1.0 - std::pow(b1, t))), c2 = float(1.0 / (1.0 - std::pow(b2, t)));
  float fb1 = float(b1), fb2 = float(b2);
  parallel_for(c.in[0]->numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      m[i] = fb1 * m[i] + (1 - fb1) * g[i];
      v[i] = fb2 * v[i] + (1 - fb2) * g[i] * g[i];
      w[i] -= lr * (m[i] * c1) / (std::sqrt(v[i] * c2) + eps);
    }
  });
}

// PyTorch's SGD: g' = g + wd*w, mom = momentum*mom + g', w -= lr*(nesterov ? g' + momentum*mom : mom).
void sgd(const OpCall& c) {
  float *w = c.in[0]->data<float>(), *mom = c.in[2]->data<float>();
  const float* g = c.in[1]->data<float>();
  float lr = float(c.attrs->f("lr")), momentum = float(c.attrs->f("momentum", 0.0)),
        wd = float(c.attrs->f("weight_decay", 0.0));
  bool nesterov = c.attrs->f("nesterov", 0.0) != 0.0;
  parallel_for(c.in[0]->numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      float gi = wd != 0.f ? g[i] + wd * w[i] : g[i];
      mom[i] = momentum * mom[i] + gi;
      w[i] -= lr * (nesterov ? gi + momentum * mom[i] : mom[i]);
    }
  });
}

void amp_unscale(const OpCall& c) {
  float* g = c.in[0]->data<float>();
  float inv = float(c.attrs->f("inv_scale"));
  int64_t n = c.in[0]->numel();
  bool bad = false;
  for (int64_t i = 0; i < n; i++) {
    g[i] *= inv;
    bad |= !std::isfinite(g[i]);
  }
  c.out[0]->data<float>()[0] = bad ? 1.f : 0.f;
}

}  // namespace

void register_optim() {
  register_kernel(Op::rmsprop_step, Device::CPU, {nullptr, rmsprop});
  register_kernel(Op::adam_step, Device::CPU, {nullptr, adam});
  register_kernel(Op::sgd_step, Device::CPU, {nullptr, sgd});
  register_kernel(Op::amp_unscale, Device::CPU, {nullptr, amp_unscale});
}

}  // namespace vnet::cpu
