// Fused bias → batch norm → ReLU (the V-Net unit after its convolution) and its backward: one
// pass for the statistics and one for the output, instead of separate bias, normalise and ReLU
// passes; backward folds the ReLU mask, both reductions and the bias gradient together.
#include <cmath>
#include <vector>

#include "kernels.h"

namespace vnet::cpu {

namespace {

void apply_relu(const float* x, const float* scale, const float* shift, int64_t R, int64_t C, float* y) {
  parallel_for(R, kGrain / C + 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++)
      for (int64_t k = 0; k < C; k++) {
        float v = x[r * C + k] * scale[k] + shift[k];
        y[r * C + k] = v > 0.f ? v : 0.f;
      }
  });
}

void train(const OpCall& c) {
  const float *x = c.in[0]->data<float>(), *bias = c.in[1]->data<float>(), *gamma = c.in[2]->data<float>(),
              *beta = c.in[3]->data<float>();
  float *rmean = c.in[4]->data<float>(), *rvar = c.in[5]->data<float>();
  int64_t C = c.in[0]->dim(-1), R = c.in[0]->numel() / C;
  double eps = c.attrs->f("eps", 1e-3), mom = c.attrs->f("momentum", 0.99);
  std::vector<double> mean, var;
  channel_moments(x, R, C, mean, var);  // the bias does not change the variance
  std::vector<float> scale(C), shift(C);
  float *mean_out = c.out[1]->data<float>(), *invstd_out = c.out[2]->data<float>();
  for (int64_t k = 0; k < C; k++) {
    double m = mean[k] + bias[k], inv = 1.0 / std::sqrt(var[k] + eps);
    mean_out[k] = float(m);
    invstd_out[k] = float(inv);
    // (x + b − m)·γ·inv + β = x·(γ·inv) + (β − mean_x·γ·inv): the bias cancels in the output.
    scale[k] = float(gamma[k] * inv);
    shift[k] = float(beta[k] - mean[k] * gamma[k] * inv);
    rmean[k] = float(mom * rmean[k] + (1 - mom) * m);
    rvar[k] = float(mom * rvar[k] + (1 - mom) * var[k]);
  }
  apply_relu(x, scale.data(), shift.data(), R, C, c.out[0]->data<float>());
}

void infer(const OpCall& c) {
  const float *x = c.in[0]->data<float>(), *bias = c.in[1]->data<float>(), *gamma = c.in[2]->data<float>(),
              *beta = c.in[3]->data<float>(), *rmean = c.in[4]->data<float>(), *rvar = c.in[5]->data<float>();
  int64_t C = c.in[0]->dim(-1), R = c.in[0]->numel() / C;
  double eps = c.attrs->f("eps", 1e-3);
  std::vector<float> scale(C), shift(C);
  for (int64_t k = 0; k < C; k++) {
    double inv = 1.0 / std::sqrt(double(rvar[k]) + eps);
    scale[k] = float(gamma[k] * inv);
    shift[k] = float(beta[k] + (bias[k] - rmean[k]) * gamma[k] * inv);
  }
  apply_relu(x, scale.data(), shift.data(), R, C, c.out[0]->data<float>());
}

void bwd(const OpCall& c) {
  const float *dy = c.in[0]->data<float>(), *y = c.in[1]->data<float>(), *x = c.in[2]->data<float>(),
              *bias = c.in[3]->data<float>(), *gamma = c.in[4]->data<float>(), *mean = c.in[5]->data<float>(),
              *invstd = c.in[6]->data<float>();
  float *dx = c.out[0]->data<float>(), *dbias = c.out[1]->data<float>(), *dgamma = c.out[2]->data<float>(),
        *dbeta = c.out[3]->data<float>();
  int64_t C = c.in[0]->dim(-1), R = c.in[0]->numel() / C;
  // xhat uses x + b − mean = x − (mean − b).
  std::vector<float> shift(C);
  for (int64_t k = 0; k < C; k++) shift[k] = mean[k] - bias[k];
  BnBwdCoefs co;
  bn_backward(dy, y, x, shift.data(), gamma, invstd, R, C, dx, dgamma, dbeta, &co);
  for (int64_t k = 0; k < C; k++)
    // Σ_r dx = a·Σg + b·Σx + R·d, with Σx = R·(mean − bias): zero up to rounding, as it must be.
    dbias[k] = float(double(co.a[k]) * dbeta[k] + double(co.b[k]) * double(R) * shift[k] + double(R) * co.d[k]);
}

}  // namespace

void register_fused() {
  register_kernel(Op::bias_bn_relu_train, Device::CPU, {all_f32, train});
  register_kernel(Op::bias_bn_relu_infer, Device::CPU, {all_f32, infer});
  register_kernel(Op::bias_bn_relu_bwd, Device::CPU, {all_f32, bwd});
}

}  // namespace vnet::cpu
