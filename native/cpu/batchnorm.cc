// Batch normalisation over all axes but the channel axis (N·D·H·W values per channel):
// training statistics with the running-average update, inference, and backward. With the
// attr per_sample the statistics are per sample and channel (instance normalisation, D·H·W
// values each): mean and invstd are (N, C) and the running averages are left alone.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels.h"

namespace vnet::cpu {

namespace {

// Per-channel sums over rows [r0, r1) of two terms of each element, a(i, k) and b(i, k) for
// element i = r*C + k: float partial sums over blocks of 64 rows (vectorised loops over the
// channels), added into the double totals s1, s2 after each block. All-double accumulation kept
// these loops scalar: a third of a training step's batch-norm time. Kept out of line: inlined
// into the backward (its only user) it ran 1.3-1.5x slower (bench/units.ts).
template <class F>
[[gnu::noinline]] void block_sums(int64_t r0, int64_t r1, int64_t C, double* s1, double* s2, F terms) {
  constexpr int64_t kBlock = 64;
  std::vector<float> p1(C), p2(C);
  float* __restrict a = p1.data();
  float* __restrict b = p2.data();
  for (int64_t rb = r0; rb < r1; rb += kBlock) {
    std::fill(a, a + C, 0.f);
    std::fill(b, b + C, 0.f);
    const int64_t re = std::min(r1, rb + kBlock);
    for (int64_t r = rb; r < re; r++)
      for (int64_t k = 0; k < C; k++) {
        float u, v;
        terms(r * C + k, k, u, v);
        a[k] += u;
        b[k] += v;
      }
    for (int64_t k = 0; k < C; k++) s1[k] += a[k], s2[k] += b[k];
  }
}

// Per-channel mean and M2 (sum of squared deviations) of rows [r0, r1), in one pass over memory:
// each block of kBlock rows is summed, centred on its own float mean and summed again while it
// is still in L1, then merged into the double totals by Chan's rule. Deviations from the block
// mean avoid the cancellation of E[x²] − E[x]², as the earlier two full passes did, but read x
// from memory once instead of twice.
void block_moments(const float* x, int64_t r0, int64_t r1, int64_t C, double& count, double* mean, double* m2) {
  constexpr int64_t kBlock = 64;
  std::vector<float> p1(C), p2(C);
  float* __restrict s = p1.data();
  float* __restrict q = p2.data();
  const float* __restrict x0 = x;
  for (int64_t rb = r0; rb < r1; rb += kBlock) {
    const int64_t re = std::min(r1, rb + kBlock);
    std::fill(s, s + C, 0.f);
    std::fill(q, q + C, 0.f);
    for (int64_t r = rb; r < re; r++)
      for (int64_t k = 0; k < C; k++) s[k] += x0[r * C + k];
    const float inv_n = 1.f / float(re - rb);
    for (int64_t k = 0; k < C; k++) s[k] *= inv_n;
    for (int64_t r = rb; r < re; r++)
      for (int64_t k = 0; k < C; k++) {
        const float d = x0[r * C + k] - s[k];
        q[k] += d * d;
      }
    const double nb = double(re - rb), nt = count + nb, w = nb / nt;
    for (int64_t k = 0; k < C; k++) {
      const double delta = double(s[k]) - mean[k];
      mean[k] += delta * w;
      m2[k] += double(q[k]) + delta * delta * count * w;
    }
    count = nt;
  }
}

}  // namespace

// Per-channel mean and biased variance over rows, threaded over rows (double totals).
void channel_moments(const float* x, int64_t R, int64_t C, std::vector<double>& mean, std::vector<double>& var) {
  int nt = num_threads();
  std::vector<double> cnt(nt, 0.0);
  std::vector<std::vector<double>> mt(nt, std::vector<double>(C)), m2t(nt, std::vector<double>(C));
  parallel_tasks(nt, [&](int t) {
    block_moments(x, R * t / nt, R * (t + 1) / nt, C, cnt[t], mt[t].data(), m2t[t].data());
  });
  // The threads' parts merge in thread order by the same rule, so the result depends only on
  // the thread count, as before.
  double count = 0;
  mean.assign(C, 0.0);
  var.assign(C, 0.0);
  for (int t = 0; t < nt; t++) {
    if (cnt[t] == 0) continue;
    const double n = count + cnt[t], w = cnt[t] / n;
    for (int64_t k = 0; k < C; k++) {
      const double delta = mt[t][k] - mean[k];
      mean[k] += delta * w;
      var[k] += m2t[t][k] + delta * delta * count * w;
    }
    count = n;
  }
  for (auto& v : var) v /= double(R);  // biased, as TF's non-fused 5-D path
}

namespace {

// The gradient through a ReLU with output m: g where m > 0, else 0 (also for a non-finite g), as
// a bit mask rather than a branch or a select the compiler turns into one: on half-active units
// that branch mispredicts on every other voxel and made the fused backward 7-8x slower than
// batch norm's and ReLU's own passes together.
inline float relu_masked(float g, float m) {
  uint32_t b;
  std::memcpy(&b, &g, 4);
  b &= 0u - uint32_t(m > 0.f);
  std::memcpy(&g, &b, 4);
  return g;
}

// kMasked: the gradient arrives through a ReLU whose output is relu_out (the fused unit).
template <bool kMasked>
void bn_backward_impl(const float* dy, const float* relu_out, const float* x, const float* center, const float* gamma,
                      const float* invstd, int64_t R, int64_t C, float* dx, float* dgamma, float* dbeta, BnBwdCoefs* out) {
  int nt = num_threads();
  std::vector<std::vector<double>> sg(nt, std::vector<double>(C)), sgx(nt, std::vector<double>(C));
  std::vector<float> xhat_scale(invstd, invstd + C);
  const float* __restrict xs = xhat_scale.data();
  std::vector<float> centerf(center, center + C);
  const float* __restrict cf = centerf.data();
  parallel_tasks(nt, [&](int t) {
    const float* __restrict g0 = dy;
    const float* __restrict m0 = relu_out;
    const float* __restrict x0 = x;
    block_sums(R * t / nt, R * (t + 1) / nt, C, sg[t].data(), sgx[t].data(), [&](int64_t i, int64_t k, float& u, float& v) {
      const float g = kMasked ? relu_masked(g0[i], m0[i]) : g0[i];
      u = g;
      v = g * ((x0[i] - cf[k]) * xs[k]);
    });
  });
  BnBwdCoefs local, &co = out ? *out : local;
  co.a.resize(C), co.b.resize(C), co.d.resize(C);
  for (int64_t k = 0; k < C; k++) {
    double db = 0, dg = 0;
    for (int t = 0; t < nt; t++) db += sg[t][k], dg += sgx[t][k];
    dbeta[k] = float(db);
    dgamma[k] = float(dg);
    // dx = gamma·invstd·(g − mean(g) − xhat·mean(g·xhat)), written as g·a + x·b + d.
    double gi = double(gamma[k]) * invstd[k];
    co.a[k] = float(gi);
    co.b[k] = float(-gi * dg / double(R) * invstd[k]);
    co.d[k] = float(-gi * db / double(R) + gi * dg / double(R) * invstd[k] * center[k]);
  }
  const float *a = co.a.data(), *b = co.b.data(), *d = co.d.data();
  parallel_for(R, kGrain / C + 1, [&](int64_t r0, int64_t r1) {
    const float* __restrict g0 = dy;
    const float* __restrict m0 = relu_out;
    const float* __restrict x0 = x;
    float* __restrict o = dx;
    for (int64_t r = r0; r < r1; r++)
      for (int64_t k = 0; k < C; k++) {
        const int64_t i = r * C + k;
        const float g = kMasked ? relu_masked(g0[i], m0[i]) : g0[i];
        o[i] = g * a[k] + x0[i] * b[k] + d[k];
      }
  });
}

}  // namespace

void bn_backward(const float* dy, const float* relu_out, const float* x, const float* center, const float* gamma,
                 const float* invstd, int64_t R, int64_t C, float* dx, float* dgamma, float* dbeta, BnBwdCoefs* coefs) {
  if (relu_out) bn_backward_impl<true>(dy, relu_out, x, center, gamma, invstd, R, C, dx, dgamma, dbeta, coefs);
  else bn_backward_impl<false>(dy, relu_out, x, center, gamma, invstd, R, C, dx, dgamma, dbeta, coefs);
}

namespace {

void normalize(const float* x, const float* scale, const float* shift, int64_t R, int64_t C, float* y) {
  parallel_for(R, kGrain / C + 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++)
      for (int64_t k = 0; k < C; k++) y[r * C + k] = x[r * C + k] * scale[k] + shift[k];
  });
}

// Groups of rows normalised on their own: one (the whole batch), or one per sample.
int64_t stat_groups(const OpCall& c) {
  return c.attrs->f("per_sample", 0.0) != 0.0 ? c.in[0]->dim(0) : 1;
}

void bn_train(const OpCall& c) {
  const float *x = c.in[0]->data<float>(), *gamma = c.in[1]->data<float>(), *beta = c.in[2]->data<float>();
  float *rmean = c.in[3]->data<float>(), *rvar = c.in[4]->data<float>();
  float *y = c.out[0]->data<float>(), *mean_out = c.out[1]->data<float>(), *invstd_out = c.out[2]->data<float>();
  int64_t C = c.in[0]->dim(-1), G = stat_groups(c), R = c.in[0]->numel() / C / G;
  double eps = c.attrs->f("eps", 1e-3), mom = c.attrs->f("momentum", 0.99);
  for (int64_t n = 0; n < G; n++) {
    std::vector<double> mean, var;
    channel_moments(x + n * R * C, R, C, mean, var);
    std::vector<float> scale(C), shift(C);
    for (int64_t k = 0; k < C; k++) {
      double inv = 1.0 / std::sqrt(var[k] + eps);
      mean_out[n * C + k] = float(mean[k]);
      invstd_out[n * C + k] = float(inv);
      scale[k] = float(gamma[k] * inv);
      shift[k] = float(beta[k] - mean[k] * gamma[k] * inv);
      if (G > 1) continue;
      rmean[k] = float(mom * rmean[k] + (1 - mom) * mean[k]);
      rvar[k] = float(mom * rvar[k] + (1 - mom) * var[k]);
    }
    normalize(x + n * R * C, scale.data(), shift.data(), R, C, y + n * R * C);
  }
}

void bn_infer(const OpCall& c) {
  const float *x = c.in[0]->data<float>(), *gamma = c.in[1]->data<float>(), *beta = c.in[2]->data<float>();
  const float *rmean = c.in[3]->data<float>(), *rvar = c.in[4]->data<float>();
  int64_t C = c.in[0]->dim(-1), R = c.in[0]->numel() / C;
  double eps = c.attrs->f("eps", 1e-3);
  std::vector<float> scale(C), shift(C);
  for (int64_t k = 0; k < C; k++) {
    double inv = 1.0 / std::sqrt(double(rvar[k]) + eps);
    scale[k] = float(gamma[k] * inv);
    shift[k] = float(beta[k] - rmean[k] * gamma[k] * inv);
  }
  normalize(x, scale.data(), shift.data(), R, C, c.out[0]->data<float>());
}

void bn_bwd(const OpCall& c) {
  int64_t C = c.in[0]->dim(-1), G = stat_groups(c), R = c.in[0]->numel() / C / G;
  float *dgamma = c.out[1]->data<float>(), *dbeta = c.out[2]->data<float>();
  std::vector<float> dg(C), db(C);
  for (int64_t n = 0; n < G; n++) {
    int64_t o = n * R * C;
    bn_backward(c.in[0]->data<float>() + o, nullptr, c.in[1]->data<float>() + o, c.in[3]->data<float>() + n * C,
                c.in[2]->data<float>(), c.in[4]->data<float>() + n * C, R, C, c.out[0]->data<float>() + o,
                G > 1 ? dg.data() : dgamma, G > 1 ? db.data() : dbeta);
    if (G == 1) break;
    // gamma and beta are shared by the samples: their gradients add up.
    for (int64_t k = 0; k < C; k++) {
      dgamma[k] = n ? dgamma[k] + dg[k] : dg[k];
      dbeta[k] = n ? dbeta[k] + db[k] : db[k];
    }
  }
}

}  // namespace

void register_batchnorm() {
  register_kernel(Op::batchnorm_train, Device::CPU, {all_f32, bn_train});
  register_kernel(Op::batchnorm_infer, Device::CPU, {all_f32, bn_infer});
  register_kernel(Op::batchnorm_bwd, Device::CPU, {all_f32, bn_bwd});
}

}  // namespace vnet::cpu
