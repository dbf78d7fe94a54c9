// Fast CPU convolutions: packs the weights, builds a plan and runs the ISA's kernels
// (isa/conv_fwd_body.h, isa/conv_wgrad_body.h) on the thread pool. Baseline-compiled: only the
// kernels use wide vectors, and all standard-library code stays here.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "../threadpool.h"
#include "conv3d.h"
#include "conv3d_fast.h"
#include "conv_tasks.h"
#include "cpu_features.h"

namespace vnet::cpu {

float* grow64(std::vector<float>& v, size_t n) {
  v.resize(n + 16);
  const uintptr_t a = reinterpret_cast<uintptr_t>(v.data());
  return v.data() + ((64 - a % 64) % 64) / sizeof(float);
}

int64_t split_tasks(int64_t n, int64_t vox, int64_t min_vox, int nt) {
  if (nt <= 1 || n <= 1) return 1;
  const int64_t max_tasks = std::max<int64_t>(1, n * std::max<int64_t>(1, vox) / std::max<int64_t>(1, min_vox));
  for (int64_t m = 4; m >= 1; m--)
    if (nt * m <= std::min(n, max_tasks)) return nt * m;
  return std::min<int64_t>(n, nt);
}

void run_chunks(int64_t n, int64_t ntasks, const std::function<void(int64_t, int64_t)>& fn) {
  if (ntasks <= 1) return fn(0, n);
  parallel_tasks(int(ntasks), [&](int t) {
    const int64_t r0 = n * t / ntasks, r1 = n * (t + 1) / ntasks;
    if (r0 < r1) fn(r0, r1);
  });
}

namespace {

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

const ConvIsaKernels* pick_kernels() {
  static const ConvIsaKernels* k = [] {
    Isa isa = detect_isa();
    return isa == Isa::Avx512 ? conv_kernels_avx512() : isa == Isa::Avx2 ? conv_kernels_avx2() : nullptr;
  }();
  return k;
}

bool covered(const ConvGeom& g) {
  return g.N > 0 && g.C > 0 && g.K > 0 && g.OD > 0 && g.OH > 0 && g.OW > 0 && g.kw <= 64 &&
         g.kd * g.kh * g.kw <= 343;
}

// The zero-padded copies shift the input by the front pads, so those must not be negative.
bool can_pad(const ConvGeom& g) { return g.pd >= 0 && g.ph >= 0 && g.pw >= 0; }

// Packs w (taps, C, K) as (block, tap, cin, kb): mode 0 reduces over C and produces K blocks
// (fprop), mode 1 reduces over K and produces C blocks (dgrad). Padding lanes are zero.
float* pack_weights(const ConvGeom& g, const float* w, int kb, int mode, std::vector<float>& wp) {
  const int64_t taps = g.kd * g.kh * g.kw;
  const int64_t cin = mode == 0 ? g.C : g.K, cout = mode == 0 ? g.K : g.C, nb = cdiv(cout, kb);
  float* out = grow64(wp, size_t(nb * taps * cin * kb));
  parallel_for(nb * taps, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t bt = b0; bt < b1; bt++) {
      const int64_t b = bt / taps, t = bt % taps, co0 = b * kb, nco = std::min<int64_t>(kb, cout - co0);
      float* dst = out + bt * cin * kb;
      const float* wt = w + t * g.C * g.K;
      if (nco < kb) std::fill(dst, dst + cin * kb, 0.f);
      if (mode == 0) {
        for (int64_t ci = 0; ci < cin; ci++) std::copy(wt + ci * g.K + co0, wt + ci * g.K + co0 + nco, dst + ci * kb);
      } else {
        for (int64_t j = 0; j < nco; j++) {
          const float* src = wt + (co0 + j) * g.K;  // row co0+j of (C, K): contiguous over ci
          for (int64_t ci = 0; ci < cin; ci++) dst[ci * kb + j] = src[ci];
        }
      }
    }
  });
  return out;
}

// Zero-padded copy of x (N, D, H, W, C) as (N, Dp, Hp, Wp, C), shifted by the front pads; sized
// so that every tap of every output voxel reads inside it.
const float* pad_input(const ConvGeom& g, const float* x, int64_t* Dp, int64_t* Hp, int64_t* Wp,
                       std::vector<float>& buf) {
  *Dp = (g.OD - 1) * g.sd + g.kd;
  *Hp = (g.OH - 1) * g.sh + g.kh;
  *Wp = (g.OW - 1) * g.sw + g.kw;
  const int64_t dp_ = *Dp, hp_ = *Hp, wp_ = *Wp;
  const size_t n = size_t(g.N * dp_ * hp_ * wp_ * g.C);
  float* xpad = grow64(buf, n);
  std::fill(xpad, xpad + n, 0.f);
  parallel_for(g.N * g.D, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const int64_t n = r / g.D, d = r % g.D, dd = d + g.pd;
      if (dd >= dp_) continue;
      for (int64_t h = 0; h < g.H; h++) {
        const int64_t hh = h + g.ph;
        if (hh >= hp_) continue;
        const int64_t w1 = std::min(g.W, wp_ - g.pw);  // columns that land inside
        if (w1 <= 0) continue;
        const float* src = x + ((n * g.D + d) * g.H + h) * g.W * g.C;
        std::copy(src, src + w1 * g.C, xpad + (((n * dp_ + dd) * hp_ + hh) * wp_ + g.pw) * g.C);
      }
    }
  });
  return xpad;
}

bool run_fwd(const ConvGeom& g, int mode, const float* in, const float* w, float* out) {
  const ConvIsaKernels* k = pick_kernels();
  if (!k || !covered(g)) return false;
  const int64_t cin = mode == 0 ? g.C : g.K, cout = mode == 0 ? g.K : g.C, taps = g.kd * g.kh * g.kw;
  thread_local std::vector<float> wp, zero, xpad;  // only touched on this thread (see wgrad)
  FwdPlan p;
  p.g = g;
  p.mode = mode;
  p.in = in;
  p.out = out;
  // Few outputs: vectorise over the reduced channels, weights as (tap, cout, cin).
  p.small_out = cout <= 4 && cin % (k->kb / 2) == 0;
  // Few inputs (the 1-channel input conv), or few outputs from at most 2 vectors of channels
  // (the 16 -> 3 output conv): the per-voxel pointer and bounds work would cost as much as the
  // FMAs (half the time of the output conv), and a padded copy spares it.
  p.padded = mode == 0 && can_pad(g) && (p.small_out ? cin <= k->kb : g.C <= 3);
  if (p.small_out) {
    float* dst = grow64(wp, size_t(taps * cout * cin));
    p.wp = dst;
    parallel_for(taps, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; t++)
        for (int64_t co = 0; co < cout; co++)
          for (int64_t ci = 0; ci < cin; ci++)
            dst[(t * cout + co) * cin + ci] = mode == 0 ? w[(t * g.C + ci) * g.K + co] : w[(t * g.C + co) * g.K + ci];
    });
  } else {
    p.wp = pack_weights(g, w, k->kb, mode, wp);
  }
  zero.assign(size_t(std::max(g.C, g.K)), 0.f);
  p.zero = zero.data();
  if (p.padded) {
    // One sample at a time: the padded copy of the whole batch of the 16-channel output conv
    // would be 20 MiB at batch 8, raising the step's peak memory by as much.
    ConvGeom g1 = g;
    g1.N = 1;
    p.g = g1;
    p.rows = g.OD;
    for (int64_t n = 0; n < g.N; n++) {
      p.in = pad_input(g1, in + n * g.D * g.H * g.W * g.C, &p.Dp, &p.Hp, &p.Wp, xpad);
      p.out = out + n * g.OD * g.OH * g.OW * g.K;
      run_chunks(p.rows, split_tasks(p.rows, g.OH * g.OW, 192, num_threads()),
                 [&](int64_t r0, int64_t r1) { k->fwd_rows(p, r0, r1); });
    }
    return true;
  }
  p.nonoverlap = mode == 1 && !p.small_out && g.kd == g.sd && g.kh == g.sh && g.kw == g.sw && g.pd == 0 &&
                 g.ph == 0 && g.pw == 0 && g.D == g.OD * g.sd && g.H == g.OH * g.sh && g.W == g.OW * g.sw;
  p.rows = mode == 0 || p.nonoverlap ? g.N * g.OD : g.N * g.D * g.sh * g.sw;
  // Voxels per row: an output plane (mode 0), a dy plane (nonoverlap) or a plane phase (mode 1).
  const int64_t vox = mode == 0 ? g.OH * g.OW : p.nonoverlap ? g.OH * g.OW : cdiv(g.H, g.sh) * cdiv(g.W, g.sw);
  run_chunks(p.rows, split_tasks(p.rows, vox, 192, num_threads()),
             [&](int64_t r0, int64_t r1) { k->fwd_rows(p, r0, r1); });
  return true;
}

}  // namespace

bool conv3d_fprop_fast(const ConvGeom& g, const float* x, const float* w, float* y) {
  return run_fwd(g, 0, x, w, y);
}

bool conv3d_dgrad_fast(const ConvGeom& g, const float* dy, const float* w, float* dx) {
  const bool stride1 = g.sd == 1 && g.sh == 1 && g.sw == 1;
  const bool pads_ok = g.pd >= 0 && g.pd < g.kd && g.ph >= 0 && g.ph < g.kh && g.pw >= 0 && g.pw < g.kw;
  if (!stride1 || !pads_ok || g.K > 3) return run_fwd(g, 1, dy, w, dx);
  // Stride 1 with few dy channels: dgrad is the fprop of dy with the kernel flipped and its
  // channels swapped, padded by k-1-pad, which takes the padded small-input path.
  ConvGeom f = g;
  f.D = g.OD; f.H = g.OH; f.W = g.OW; f.C = g.K;
  f.K = g.C;
  f.pd = g.kd - 1 - g.pd; f.ph = g.kh - 1 - g.ph; f.pw = g.kw - 1 - g.pw;
  f.OD = g.D; f.OH = g.H; f.OW = g.W;
  thread_local std::vector<float> wf;
  const int64_t taps = g.kd * g.kh * g.kw;
  wf.resize(size_t(taps * g.C * g.K));
  for (int64_t t = 0; t < taps; t++) {
    const float* src = w + (taps - 1 - t) * g.C * g.K;  // flipped on all three axes
    float* dst = wf.data() + t * g.C * g.K;
    for (int64_t c = 0; c < g.C; c++)
      for (int64_t k = 0; k < g.K; k++) dst[k * g.C + c] = src[c * g.K + k];
  }
  return run_fwd(f, 0, dy, wf.data(), dx);
}

bool conv3d_wgrad_fast(const ConvGeom& g, const float* x, const float* dy, float* dw) {
  const ConvIsaKernels* k = pick_kernels();
  if (!k || !covered(g)) return false;
  const int64_t taps = g.kd * g.kh * g.kw, Kp = cdiv(g.K, k->kb) * k->kb, psize = taps * g.C * Kp;
  const int nt = std::max(1, num_threads());
  WgradPlan p;
  p.g = g;
  p.x = x;
  p.dy = dy;
  p.Kp = Kp;
  p.rows = g.N * g.OD * g.OH;
  // Few input channels: tile over (tap, channel) pairs of a zero-padded copy instead.
  p.padded = g.C < 6 && can_pad(g);
  p.small_k = !p.padded && g.K <= 4 && g.C % (k->kb / 2) == 0;
  // thread_local so concurrent callers do not share scratch; lambdas below use the local
  // pointers (a thread_local named inside them would be the worker's own, empty, copy).
  thread_local std::vector<float> part_buf, xpad_buf;
  if (p.padded) p.x = pad_input(g, x, &p.Dp, &p.Hp, &p.Wp, xpad_buf);
  // Small activations (they fit in L2 together): the tasks split the taps and write dW
  // directly, with no partial sums to add.
  const double act_bytes = 4.0 * (g.in_numel() + g.out_numel());
  if (Kp == g.K && act_bytes <= 512 * 1024 && taps >= nt) {
    run_chunks(taps, split_tasks(taps, 1, 1, nt), [&](int64_t t0, int64_t t1) {
      std::fill(dw + t0 * g.C * g.K, dw + t1 * g.C * g.K, 0.f);
      k->wgrad_rows(p, 0, p.rows, t0, t1, dw);
    });
    return true;
  }
  // Otherwise each chunk of rows sums into its own partial dW (zeroed by its task), chunks
  // handed out dynamically; the partials are added in chunk order, and the chunking depends
  // only on the shape and the thread count, so the results do too. More chunks than threads
  // only while the partials stay within 4 MiB (peak memory of a training step stays put).
  const int64_t max_parts = std::max<int64_t>(nt, (int64_t(4) << 20) / (4 * psize));
  const int64_t np = std::min(max_parts, split_tasks(p.rows, g.OW, 1024, nt));
  float* part = grow64(part_buf, size_t(psize * np));
  parallel_tasks(int(np), [&](int t) {
    const int64_t r0 = p.rows * t / np, r1 = p.rows * (t + 1) / np;
    std::fill(part + t * psize, part + (t + 1) * psize, 0.f);
    if (r0 < r1) k->wgrad_rows(p, r0, r1, 0, taps, part + t * psize);
  });
  parallel_for(taps * g.C, 16, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; m++)
      for (int64_t kk = 0; kk < g.K; kk++) {
        float s = 0;
        for (int64_t t = 0; t < np; t++) s += part[t * psize + m * Kp + kk];
        dw[m * g.K + kk] = s;
      }
  });
  return true;
}

}  // namespace vnet::cpu
