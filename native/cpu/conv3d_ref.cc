// Reference CPU convolutions: direct loops with the output channels innermost, threaded over
// output rows. Correct for any geometry; the fast kernels are checked against these.
#include <cstring>
#include <vector>

#include "../threadpool.h"
#include "conv3d.h"

namespace vnet::cpu {

void conv3d_fprop_ref(const ConvGeom& g, const float* x, const float* w, float* y) {
  const int64_t rows = g.N * g.OD;
  parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      int64_t n = r / g.OD, od = r % g.OD;
      float* yrow = y + r * g.OH * g.OW * g.K;
      std::memset(yrow, 0, sizeof(float) * g.OH * g.OW * g.K);
      for (int64_t a = 0; a < g.kd; a++) {
        int64_t id = od * g.sd - g.pd + a;
        if (id < 0 || id >= g.D) continue;
        for (int64_t oh = 0; oh < g.OH; oh++)
          for (int64_t b = 0; b < g.kh; b++) {
            int64_t ih = oh * g.sh - g.ph + b;
            if (ih < 0 || ih >= g.H) continue;
            for (int64_t ow = 0; ow < g.OW; ow++) {
              float* yo = yrow + (oh * g.OW + ow) * g.K;
              for (int64_t c3 = 0; c3 < g.kw; c3++) {
                int64_t iw = ow * g.sw - g.pw + c3;
                if (iw < 0 || iw >= g.W) continue;
                const float* xi = x + (((n * g.D + id) * g.H + ih) * g.W + iw) * g.C;
                const float* wt = w + ((a * g.kh + b) * g.kw + c3) * g.C * g.K;
                for (int64_t c = 0; c < g.C; c++) {
                  float xv = xi[c];
                  const float* wk = wt + c * g.K;
                  for (int64_t k = 0; k < g.K; k++) yo[k] += xv * wk[k];
                }
              }
            }
          }
      }
    }
  });
}

void conv3d_dgrad_ref(const ConvGeom& g, const float* dy, const float* w, float* dx) {
  const int64_t rows = g.N * g.D;
  parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      int64_t n = r / g.D, id = r % g.D;
      float* xrow = dx + r * g.H * g.W * g.C;
      std::memset(xrow, 0, sizeof(float) * g.H * g.W * g.C);
      for (int64_t a = 0; a < g.kd; a++) {
        int64_t t = id + g.pd - a;
        if (t < 0 || t % g.sd) continue;
        int64_t od = t / g.sd;
        if (od >= g.OD) continue;
        for (int64_t ih = 0; ih < g.H; ih++)
          for (int64_t b = 0; b < g.kh; b++) {
            int64_t th = ih + g.ph - b;
            if (th < 0 || th % g.sh) continue;
            int64_t oh = th / g.sh;
            if (oh >= g.OH) continue;
            for (int64_t iw = 0; iw < g.W; iw++) {
              float* xo = xrow + (ih * g.W + iw) * g.C;
              for (int64_t c3 = 0; c3 < g.kw; c3++) {
                int64_t tw = iw + g.pw - c3;
                if (tw < 0 || tw % g.sw) continue;
                int64_t ow = tw / g.sw;
                if (ow >= g.OW) continue;
                const float* dyo = dy + (((n * g.OD + od) * g.OH + oh) * g.OW + ow) * g.K;
                const float* wt = w + ((a * g.kh + b) * g.kw + c3) * g.C * g.K;
                for (int64_t c = 0; c < g.C; c++) {
                  const float* wk = wt + c * g.K;
                  float s = 0;
                  for (int64_t k = 0; k < g.K; k++) s += dyo[k] * wk[k];
                  xo[c] += s;
                }
              }
            }
          }
      }
    }
  });
}

void conv3d_wgrad_ref(const ConvGeom& g, const float* x, const float* dy, float* dw) {
  const int64_t taps = g.kd * g.kh * g.kw, wsize = taps * g.C * g.K;
  // Each task sums its own slice of output rows; the partial sums are added at the end.
  const int nt = num_threads();
  std::vector<std::vector<float>> part(nt, std::vector<float>(wsize, 0.f));
  const int64_t rows = g.N * g.OD;
  parallel_tasks(nt, [&](int t) {
    float* acc = part[t].data();
    int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    for (int64_t r = r0; r < r1; r++) {
      int64_t n = r / g.OD, od = r % g.OD;
      for (int64_t oh = 0; oh < g.OH; oh++)
        for (int64_t ow = 0; ow < g.OW; ow++) {
          const float* dyo = dy + (((n * g.OD + od) * g.OH + oh) * g.OW + ow) * g.K;
          for (int64_t a = 0; a < g.kd; a++) {
            int64_t id = od * g.sd - g.pd + a;
            if (id < 0 || id >= g.D) continue;
            for (int64_t b = 0; b < g.kh; b++) {
              int64_t ih = oh * g.sh - g.ph + b;
              if (ih < 0 || ih >= g.H) continue;
              for (int64_t c3 = 0; c3 < g.kw; c3++) {
                int64_t iw = ow * g.sw - g.pw + c3;
                if (iw < 0 || iw >= g.W) continue;
                const float* xi = x + (((n * g.D + id) * g.H + ih) * g.W + iw) * g.C;
                float* wt = acc + ((a * g.kh + b) * g.kw + c3) * g.C * g.K;
                for (int64_t c = 0; c < g.C; c++) {
                  float xv = xi[c];
                  float* wk = wt + c * g.K;
                  for (int64_t k = 0; k < g.K; k++) wk[k] += xv * dyo[k];
                }
              }
            }
          }
        }
    }
  });
  for (int64_t i = 0; i < wsize; i++) {
    float s = 0;
    for (int t = 0; t < nt; t++) s += part[t][i];
    dw[i] = s;
  }
}

}  // namespace vnet::cpu
