// Softmax + soft dice loss (the reference's: Σ_c (1 − mean_b dice[b,c]), ε in numerator and
// denominator), optionally plus weighted cross-entropy, fused forward and backward.
#include <cmath>
#include <vector>

#include "kernels.h"

namespace vnet::cpu {

namespace {

void dice_loss(const OpCall& c) {
  const float* logits = c.in[0]->data<float>();
  const int32_t* labels = c.in[1]->data<int32_t>();
  float *loss = c.out[0]->data<float>(), *probs = c.out[1]->data<float>(), *stats = c.out[2]->data<float>();
  int64_t N = c.in[0]->dim(0), C = c.in[0]->dim(-1), V = c.in[0]->numel() / (N * C);
  double eps = c.attrs->f("eps", 1e-6), ce_w = c.attrs->f("ce_weight", 0.0);
  std::vector<double> inter(N * C, 0.0), uni(N * C, 0.0), ce(N, 0.0);
  for (int64_t n = 0; n < N; n++) {
    int nt = num_threads();
    std::vector<std::vector<double>> pi(nt, std::vector<double>(2 * C + 1, 0.0));
    parallel_tasks(nt, [&](int t) {
      double* acc = pi[t].data();
      for (int64_t v = V * t / nt; v < V * (t + 1) / nt; v++) {
        const float* x = logits + (n * V + v) * C;
        float* p = probs + (n * V + v) * C;
        float m = x[0];
        for (int64_t k = 1; k < C; k++) m = x[k] > m ? x[k] : m;
        float s = 0;
        for (int64_t k = 0; k < C; k++) s += (p[k] = std::exp(x[k] - m));
        float inv = 1.f / s;
        int32_t lab = labels[n * V + v];
        for (int64_t k = 0; k < C; k++) {
          p[k] *= inv;
          acc[C + k] += p[k];
        }
        if (lab >= 0 && lab < C) {
          acc[lab] += p[lab];
          acc[C + lab] += 1.0;
          acc[2 * C] -= double(x[lab] - m) - std::log(double(s));
        }
      }
    });
    for (int t = 0; t < nt; t++) {
      for (int64_t k = 0; k < C; k++) inter[n * C + k] += pi[t][k], uni[n * C + k] += pi[t][C + k];
      ce[n] += pi[t][2 * C];
    }
  }
  double total = 0, ce_total = 0;
  for (int64_t k = 0; k < C; k++) {
    double mean_dice = 0;
    for (int64_t n = 0; n < N; n++) mean_dice += (2 * inter[n * C + k] + eps) / (uni[n * C + k] + eps);
    total += 1.0 - mean_dice / double(N);
  }
  for (int64_t n = 0; n < N; n++) ce_total += ce[n];
  total += ce_w * ce_total / double(N * V);
  loss[0] = float(total);
  for (int64_t i = 0; i < N * C; i++) stats[2 * i] = float(inter[i]), stats[2 * i + 1] = float(uni[i]);
}

void dice_loss_bwd(const OpCall& c) {
  const float* probs = c.in[0]->data<float>();
  const int32_t* labels = c.in[1]->data<int32_t>();
  const float* stats = c.in[2]->data<float>();
  float* dl = c.out[0]->data<float>();
  int64_t N = c.in[0]->dim(0), C = c.in[0]->dim(-1), V = c.in[0]->numel() / (N * C);
  double eps = c.attrs->f("eps", 1e-6), ce_w = c.attrs->f("ce_weight", 0.0);
  double scale = c.attrs->f("scale", 1.0) * double(c.in[3]->data<float>()[0]);
  // dL/dp[b,v,c] = −(1/N)·(2·t/(U+ε) − (2I+ε)/(U+ε)²): per (b,c) a coefficient for t and a constant.
  std::vector<float> coef_t(N * C), coef_0(N * C);
  for (int64_t i = 0; i < N * C; i++) {
    double I = stats[2 * i], U = stats[2 * i + 1] + eps;
    coef_t[i] = float(-scale / double(N) * 2.0 / U);
    coef_0[i] = float(scale / double(N) * (2 * I + eps) / (U * U));
  }
  float ce_s = float(scale * ce_w / double(N * V));
  parallel_for(N * V, kGrain / C + 1, [&](int64_t r0, int64_t r1) {
    std::vector<float> g(C);
    for (int64_t r = r0; r < r1; r++) {
      int64_t n = r / V;
      const float* p = probs + r * C;
      float* d = dl + r * C;
      int32_t lab = labels[r];
      float dot = 0;
      for (int64_t k = 0; k < C; k++) {
        g[k] = coef_0[n * C + k] + (k == lab ? coef_t[n * C + k] : 0.f);
        dot += g[k] * p[k];
      }
      for (int64_t k = 0; k < C; k++) d[k] = p[k] * (g[k] - dot) + ce_s * (p[k] - (k == lab ? 1.f : 0.f));
    }
  });
}

}  // namespace

void register_loss() {
  register_kernel(Op::dice_loss, Device::CPU, {all_f32, dice_loss});
  register_kernel(Op::dice_loss_bwd, Device::CPU, {all_f32, dice_loss_bwd});
}

}  // namespace vnet::cpu
