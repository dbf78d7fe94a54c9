// Element-wise and layout ops on the CPU: bias, ReLU, add with channel broadcast, concat and
// split along channels, softmax, argmax, casts, fills and reductions.
#include <cmath>
#include <cstring>
#include <vector>

#include "../half.h"
#include "../rng.h"
#include "kernels.h"

namespace vnet::cpu {

namespace {

void bias_add(const OpCall& c) {
  const float *x = c.in[0]->data<float>(), *b = c.in[1]->data<float>();
  float* y = c.out[0]->data<float>();
  int64_t C = c.in[0]->dim(-1), rows = c.in[0]->numel() / C;
  parallel_for(rows, kGrain / C + 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++)
      for (int64_t k = 0; k < C; k++) y[r * C + k] = x[r * C + k] + b[k];
  });
}

// Sums rows of an (R, C) matrix into (C), in double per thread for accuracy on large R.
void column_sum(const float* x, int64_t R, int64_t C, float* out) {
  int nt = num_threads();
  std::vector<std::vector<double>> part(nt, std::vector<double>(C, 0.0));
  parallel_tasks(nt, [&](int t) {
    double* acc = part[t].data();
    for (int64_t r = R * t / nt; r < R * (t + 1) / nt; r++)
      for (int64_t k = 0; k < C; k++) acc[k] += x[r * C + k];
  });
  for (int64_t k = 0; k < C; k++) {
    double s = 0;
    for (int t = 0; t < nt; t++) s += part[t][k];
    out[k] = float(s);
  }
}

void sum_over_rows(const OpCall& c) {
  int64_t C = c.in[0]->dim(-1);
  column_sum(c.in[0]->data<float>(), c.in[0]->numel() / C, C, c.out[0]->data<float>());
}

void relu(const OpCall& c) {
  const float* x = c.in[0]->data<float>();
  float* y = c.out[0]->data<float>();
  parallel_for(c.in[0]->numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) y[i] = x[i] > 0.f ? x[i] : 0.f;
  });
}

void relu_bwd(const OpCall& c) {
  const float *dy0 = c.in[0]->data<float>(), *y0 = c.in[1]->data<float>();
  float* dx0 = c.out[0]->data<float>();
  parallel_for(c.in[0]->numel(), kGrain, [=](int64_t i0, int64_t i1) {
    // Local restrict pointers and an unconditional load: the loop becomes a vector select
    // (a conditional load of dy kept it scalar). A non-finite dy where y <= 0 still gives 0.
    const float* __restrict dy = dy0;
    const float* __restrict y = y0;
    float* __restrict dx = dx0;
    for (int64_t i = i0; i < i1; i++) {
      const float g = dy[i];
      dx[i] = y[i] > 0.f ? g : 0.f;
    }
  });
}

void add(const OpCall& c) {
  const float *a = c.in[0]->data<float>(), *b = c.in[1]->data<float>();
  float* y = c.out[0]->data<float>();
  if (c.in[0]->shape == c.in[1]->shape) {
    parallel_for(c.in[0]->numel(), kGrain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; i++) y[i] = a[i] + b[i];
    });
    return;
  }
  int64_t C = c.in[0]->dim(-1), rows = c.in[0]->numel() / C;  // b is (..., 1)
  parallel_for(rows, kGrain / C + 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++)
      for (int64_t k = 0; k < C; k++) y[r * C + k] = a[r * C + k] + b[r];
  });
}

void sum_over_channels(const OpCall& c) {
  const float* x = c.in[0]->data<float>();
  float* y = c.out[0]->data<float>();
  int64_t C = c.in[0]->dim(-1), rows = c.in[0]->numel() / C;
  parallel_for(rows, kGrain / C + 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      float s = 0;
      for (int64_t k = 0; k < C; k++) s += x[r * C + k];
      y[r] = s;
    }
  });
}

void concat(const OpCall& c) {
  const float *a = c.in[0]->data<float>(), *b = c.in[1]->data<float>();
  float* y = c.out[0]->data<float>();
  int64_t Ca = c.in[0]->dim(-1), Cb = c.in[1]->dim(-1), rows = c.in[0]->numel() / Ca;
  parallel_for(rows, kGrain / (Ca + Cb) + 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      std::memcpy(y + r * (Ca + Cb), a + r * Ca, sizeof(float) * Ca);
      std::memcpy(y + r * (Ca + Cb) + Ca, b + r * Cb, sizeof(float) * Cb);
    }
  });
}

void split(const OpCall& c) {
  const float* x = c.in[0]->data<float>();
  float *a = c.out[0]->data<float>(), *b = c.out[1]->data<float>();
  int64_t Ca = c.out[0]->dim(-1), Cb = c.out[1]->dim(-1), rows = c.out[0]->numel() / Ca;
  parallel_for(rows, kGrain / (Ca + Cb) + 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      std::memcpy(a + r * Ca, x + r * (Ca + Cb), sizeof(float) * Ca);
      std::memcpy(b + r * Cb, x + r * (Ca + Cb) + Ca, sizeof(float) * Cb);
    }
  });
}

void softmax(const OpCall& c) {
  const float* x = c.in[0]->data<float>();
  float* y = c.out[0]->data<float>();
  int64_t C = c.in[0]->dim(-1), rows = c.in[0]->numel() / C;
  parallel_for(rows, kGrain / C + 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * C;
      float* yr = y + r * C;
      float m = xr[0];
      for (int64_t k = 1; k < C; k++) m = xr[k] > m ? xr[k] : m;
      float s = 0;
      for (int64_t k = 0; k < C; k++) s += (yr[k] = std::exp(xr[k] - m));
      for (int64_t k = 0; k < C; k++) yr[k] /= s;
    }
  });
}

void argmax(const OpCall& c) {
  const float* x = c.in[0]->data<float>();
  int32_t* y = c.out[0]->data<int32_t>();
  int64_t C = c.in[0]->dim(-1), rows = c.in[0]->numel() / C;
  parallel_for(rows, kGrain / C + 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * C;
      int32_t best = 0;
      for (int64_t k = 1; k < C; k++)
        if (xr[k] > xr[best]) best = int32_t(k);
      y[r] = best;
    }
  });
}

// Any dtype to any dtype; i32 <- float rounds toward zero like a C cast.
void cast(const OpCall& c) {
  DType from = c.in[0]->dtype, to = c.out[0]->dtype;
  const void* src = c.in[0]->storage->data;
  void* dst = c.out[0]->storage->data;
  parallel_for(c.in[0]->numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      float v = from == DType::F32   ? static_cast<const float*>(src)[i]
                : from == DType::F16 ? half_to_float(static_cast<const uint16_t*>(src)[i])
                                     : float(static_cast<const int32_t*>(src)[i]);
      if (to == DType::F32) static_cast<float*>(dst)[i] = v;
      else if (to == DType::F16) static_cast<uint16_t*>(dst)[i] = float_to_half(v);
      else static_cast<int32_t*>(dst)[i] = from == DType::I32 ? static_cast<const int32_t*>(src)[i] : int32_t(v);
    }
  });
}

void fill_uniform(const OpCall& c) {
  float* t = c.in[0]->data<float>();
  float lo = float(c.attrs->f("lo", 0.0)), hi = float(c.attrs->f("hi", 1.0));
  uint64_t seed = uint64_t(c.attrs->f("seed", 0.0));
  parallel_for(c.in[0]->numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) t[i] = lo + (hi - lo) * uniform01(seed, uint64_t(i));
  });
}

void fill_const(const OpCall& c) {
  float* t = c.in[0]->data<float>();
  float v = float(c.attrs->f("value"));
  parallel_for(c.in[0]->numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) t[i] = v;
  });
}

void scale(const OpCall& c) {
  const float* x = c.in[0]->data<float>();
  float* y = c.out[0]->data<float>();
  float alpha = float(c.attrs->f("alpha"));
  parallel_for(c.in[0]->numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) y[i] = alpha * x[i];
  });
}

void axpy(const OpCall& c) {
  const float* x = c.in[0]->data<float>();
  float* y = c.in[1]->data<float>();
  float alpha = float(c.attrs->f("alpha", 1.0));
  parallel_for(c.in[0]->numel(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) y[i] += alpha * x[i];
  });
}

void sum_all(const OpCall& c) {
  const float* x = c.in[0]->data<float>();
  double s = 0;
  for (int64_t i = 0, n = c.in[0]->numel(); i < n; i++) s += x[i];
  c.out[0]->data<float>()[0] = float(s);
}

}  // namespace

void register_elementwise() {
  register_kernel(Op::bias_add, Device::CPU, {all_f32, bias_add});
  register_kernel(Op::sum_over_rows, Device::CPU, {all_f32, sum_over_rows});
  register_kernel(Op::relu, Device::CPU, {all_f32, relu});
  register_kernel(Op::relu_bwd, Device::CPU, {all_f32, relu_bwd});
  register_kernel(Op::add, Device::CPU, {all_f32, add});
  register_kernel(Op::sum_over_channels, Device::CPU, {all_f32, sum_over_channels});
  register_kernel(Op::concat, Device::CPU, {all_f32, concat});
  register_kernel(Op::split, Device::CPU, {all_f32, split});
  register_kernel(Op::softmax, Device::CPU, {all_f32, softmax});
  register_kernel(Op::argmax, Device::CPU, {all_f32, argmax});
  register_kernel(Op::cast, Device::CPU, {nullptr, cast});
  register_kernel(Op::fill_uniform, Device::CPU, {all_f32, fill_uniform});
  register_kernel(Op::fill_const, Device::CPU, {all_f32, fill_const});
  register_kernel(Op::scale, Device::CPU, {all_f32, scale});
  register_kernel(Op::axpy, Device::CPU, {all_f32, axpy});
  register_kernel(Op::sum_all, Device::CPU, {all_f32, sum_all});
}

}  // namespace vnet::cpu
