// fprop and dgrad kernels (see conv3d_fast.h for the plans). The micro-kernel keeps an RW x
// 2-vector tile of outputs in registers (RW <= kMaxRw voxels, 2*W channels: 12 or 24 accumulators),
// broadcasts one input value per voxel and FMAs it with the packed weight vectors. dgrad runs
// the same tiles over dy, phase by phase of the stride.
#pragma once
#include "conv_common.h"

namespace vnet::cpu::VNET_ISA_NS {

// Takes the accumulators by value: passing the array's address would make the compiler keep
// the whole tile in memory through the inner loop.
inline void store_part(float* y, V a, int n) {
  if (n >= W) Vec::store(y, a);
  else if (n > 0) Vec::store_n(y, a, n);
}

// y_r[k] = sum over taps t and cin c of xp[t*RW + r][c] * wp[t][c*KB + k], for r < RW and
// k < kvalid. xp points at an input voxel's channels, or at zeros where the tap falls outside.
template <int RW, int NV>
void fwd_tile(const float* const* xp, const float* const* wp, int nt, int64_t cin, float* const* yp,
              int kvalid) {
  V acc[RW][NV];
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++)
    _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) acc[r][v] = Vec::zero();
  for (int t = 0; t < nt; t++) {
    const float* p[RW];
    _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++) p[r] = xp[t * RW + r];
    const float* w = wp[t];
    for (int64_t c = 0; c < cin; c++, w += KB) {
      V w0 = Vec::load(w), w1 = NV > 1 ? Vec::load(w + W) : w0;
      _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++) {
        V b = Vec::bcast(p[r] + c);
        acc[r][0] = Vec::fma(b, w0, acc[r][0]);
        if (NV > 1) acc[r][1] = Vec::fma(b, w1, acc[r][1]);
      }
    }
  }
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++) {
    store_part(yp[r], acc[r][0], kvalid);
    if (NV > 1) store_part(yp[r] + W, acc[r][1], kvalid - W);
  }
}

using FwdTileFn = void (*)(const float* const*, const float* const*, int, int64_t, float* const*, int);
static const FwdTileFn kFwdTiles[2][kMaxRw] = {{VNET_RW_LIST(fwd_tile, 1)}, {VNET_RW_LIST(fwd_tile, 2)}};

// Few output channels (cout <= 4, cin a multiple of W): vectorise over the reduced channels
// instead, acc[r][k] summing x[c..c+W) * w[k][c..c+W), then one horizontal sum per output.
// wp[t] points at the tap's (cout, cin) weights.
template <int RW, int KO>
void red_tile(const float* const* xp, const float* const* wp, int nt, int64_t cin, float* const* yp, int) {
  V acc[RW][KO];
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++)
    _Pragma("GCC unroll 16") for (int k = 0; k < KO; k++) acc[r][k] = Vec::zero();
  for (int t = 0; t < nt; t++) {
    const float* p[RW];
    _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++) p[r] = xp[t * RW + r];
    const float* w = wp[t];
    for (int64_t c = 0; c < cin; c += W) {
      V wv[KO];
      _Pragma("GCC unroll 16") for (int k = 0; k < KO; k++) wv[k] = Vec::load(w + k * cin + c);
      _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++) {
        V xv = Vec::load(p[r] + c);
        _Pragma("GCC unroll 16") for (int k = 0; k < KO; k++) acc[r][k] = Vec::fma(xv, wv[k], acc[r][k]);
      }
    }
  }
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++)
    _Pragma("GCC unroll 16") for (int k = 0; k < KO; k++) yp[r][k] = Vec::hsum(acc[r][k]);
}

#define VNET_RED_ROW(K) {red_tile<1, K>, red_tile<2, K>, red_tile<3, K>, red_tile<4, K>, red_tile<5, K>, red_tile<6, K>}
static const FwdTileFn kRedTiles[4][kRedRw] = {VNET_RED_ROW(1), VNET_RED_ROW(2), VNET_RED_ROW(3), VNET_RED_ROW(4)};
#undef VNET_RED_ROW

// Zero-padded input (every tap valid): voxel r of the tile reads base + toff[t] + r*xstride, and
// the taps' (cin, KB) panels follow each other from w.
template <int RW, int NV>
void dense_tile(const float* base, const int64_t* toff, int nt, int64_t xstride, int64_t cin, const float* w,
                float* const* yp, int kvalid) {
  V acc[RW][NV];
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++)
    _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) acc[r][v] = Vec::zero();
  for (int t = 0; t < nt; t++) {
    const float* p = base + toff[t];
    for (int64_t c = 0; c < cin; c++, w += KB) {
      V w0 = Vec::load(w), w1 = NV > 1 ? Vec::load(w + W) : w0;
      _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++) {
        V b = Vec::bcast(p + r * xstride + c);
        acc[r][0] = Vec::fma(b, w0, acc[r][0]);
        if (NV > 1) acc[r][1] = Vec::fma(b, w1, acc[r][1]);
      }
    }
  }
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++) {
    store_part(yp[r], acc[r][0], kvalid);
    if (NV > 1) store_part(yp[r] + W, acc[r][1], kvalid - W);
  }
}

using DenseTileFn = void (*)(const float*, const int64_t*, int, int64_t, int64_t, const float*, float* const*, int);
static const DenseTileFn kDenseTiles[2][kMaxRw] = {{VNET_RW_LIST(dense_tile, 1)}, {VNET_RW_LIST(dense_tile, 2)}};

// red_tile over a zero-padded input (p.padded with p.small_out): the same reduction over the
// channels, with voxel r of the tile at base + toff[t] + r*xstride and the taps' (KO, cin)
// weights following each other from w.
template <int RW, int KO>
void red_dense_tile(const float* base, const int64_t* toff, int nt, int64_t xstride, int64_t cin, const float* w,
                    float* const* yp, int) {
  V acc[RW][KO];
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++)
    _Pragma("GCC unroll 16") for (int k = 0; k < KO; k++) acc[r][k] = Vec::zero();
  for (int t = 0; t < nt; t++, w += KO * cin) {
    const float* p = base + toff[t];
    for (int64_t c = 0; c < cin; c += W) {
      V wv[KO];
      _Pragma("GCC unroll 16") for (int k = 0; k < KO; k++) wv[k] = Vec::load(w + k * cin + c);
      _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++) {
        V xv = Vec::load(p + r * xstride + c);
        _Pragma("GCC unroll 16") for (int k = 0; k < KO; k++) acc[r][k] = Vec::fma(xv, wv[k], acc[r][k]);
      }
    }
  }
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++)
    _Pragma("GCC unroll 16") for (int k = 0; k < KO; k++) yp[r][k] = Vec::hsum(acc[r][k]);
}

#define VNET_RED_ROW(K) {red_dense_tile<1, K>, red_dense_tile<2, K>, red_dense_tile<3, K>, red_dense_tile<4, K>, red_dense_tile<5, K>, red_dense_tile<6, K>}
static const DenseTileFn kRedDenseTiles[4][kRedRw] = {VNET_RED_ROW(1), VNET_RED_ROW(2), VNET_RED_ROW(3), VNET_RED_ROW(4)};
#undef VNET_RED_ROW

// One tap of a job: output voxel (i, j) of the job's grid reads input (i*ah + bh, j*aw + bw) of
// the input plane `plane` (zero outside [0,hin) x [0,win)), with weight panel w.
struct JobTap {
  const float* plane;
  int64_t bh, bw;
  const float* w;
};

// A job is one output plane (mode 0: (n, od)) or one phase of one (mode 1: (n, id, rh, rw)):
// a grid of lh x lw output voxels at out + i*oh_step + j*ow_step.
struct Job {
  JobTap taps[kMaxTaps];
  int nt = 0;
  int64_t lh = 0, lw = 0, ah = 1, aw = 1, hin = 0, win = 0;
  int64_t bh_min = 0, bh_max = 0, bw_min = 0, bw_max = 0;  // over taps
  float* out = nullptr;
  int64_t oh_step = 0, ow_step = 0;
};

inline void setup_job(const FwdPlan& p, int64_t jb, int64_t cin, Job& J) {
  const ConvGeom& g = p.g;
  J.nt = 0;
  const int64_t wstride = p.small_out ? (p.mode == 0 ? g.K : g.C) * cin : cin * KB;  // floats per tap
  if (p.mode == 0) {
    const int64_t od = jb % g.OD, n = jb / g.OD;
    J.lh = g.OH; J.lw = g.OW; J.ah = g.sh; J.aw = g.sw; J.hin = g.H; J.win = g.W;
    J.out = p.out + (n * g.OD + od) * g.OH * g.OW * g.K;
    J.oh_step = g.OW * g.K; J.ow_step = g.K;
    for (int64_t a = 0; a < g.kd; a++) {
      const int64_t id = od * g.sd - g.pd + a;
      if (id < 0 || id >= g.D) continue;
      for (int64_t b = 0; b < g.kh; b++)
        for (int64_t c3 = 0; c3 < g.kw; c3++)
          J.taps[J.nt++] = JobTap{p.in + (n * g.D + id) * g.H * g.W * g.C, b - g.ph, c3 - g.pw,
                                  p.wp + ((a * g.kh + b) * g.kw + c3) * wstride};
    }
  } else {
    int64_t q = jb;
    const int64_t rw = q % g.sw; q /= g.sw;
    const int64_t rh = q % g.sh; q /= g.sh;
    const int64_t id = q % g.D, n = q / g.D;
    J.lh = g.H > rh ? cdiv(g.H - rh, g.sh) : 0;
    J.lw = g.W > rw ? cdiv(g.W - rw, g.sw) : 0;
    J.ah = 1; J.aw = 1; J.hin = g.OH; J.win = g.OW;
    J.out = p.out + (((n * g.D + id) * g.H + rh) * g.W + rw) * g.C;
    J.oh_step = g.sh * g.W * g.C; J.ow_step = g.sw * g.C;
    for (int64_t a = 0; a < g.kd; a++) {
      const int64_t t = id + g.pd - a;
      if (t < 0 || t % g.sd || t / g.sd >= g.OD) continue;
      const float* plane = p.in + (n * g.OD + t / g.sd) * g.OH * g.OW * g.K;
      for (int64_t b = 0; b < g.kh; b++) {
        const int64_t dh = rh + g.ph - b;
        if (((dh % g.sh) + g.sh) % g.sh) continue;
        for (int64_t c3 = 0; c3 < g.kw; c3++) {
          const int64_t dw = rw + g.pw - c3;
          if (((dw % g.sw) + g.sw) % g.sw) continue;
          J.taps[J.nt++] = JobTap{plane, dh / g.sh, dw / g.sw, p.wp + ((a * g.kh + b) * g.kw + c3) * wstride};
        }
      }
    }
  }
  J.bh_min = J.bw_min = 1 << 30;
  J.bh_max = J.bw_max = -(1 << 30);
  for (int t = 0; t < J.nt; t++) {
    J.bh_min = imin(J.bh_min, J.taps[t].bh); J.bh_max = imax(J.bh_max, J.taps[t].bh);
    J.bw_min = imin(J.bw_min, J.taps[t].bw); J.bw_max = imax(J.bw_max, J.taps[t].bw);
  }
}

// Runs tiles [t0, t1) of job J for output channel blocks [kb0, kb1): each tile's input
// pointers are worked out once and serve all its blocks.
inline void fwd_tiles(const FwdPlan& p, const Job& J, int64_t cin, int64_t taps, int64_t kb0, int64_t kb1,
                      int mrw, int64_t cout, int64_t t0, int64_t t1, const float** xp, const float** wp) {
  const int64_t M = J.lh * J.lw, ntile = cdiv(M, mrw), base = M / ntile, extra = M % ntile;
  const float* wbase[kMaxTaps];
  float* ybase[kMaxRw];
  float* yp[kMaxRw];
  int64_t ii[kMaxRw], jj[kMaxRw];
  int64_t m0 = t0 * base + imin(t0, extra);
  for (int64_t ti = t0; ti < t1; ti++) {
    const int rw = int(base + (ti < extra ? 1 : 0));
    for (int r = 0; r < rw; r++) {
      ii[r] = (m0 + r) / J.lw;
      jj[r] = (m0 + r) % J.lw;
      ybase[r] = J.out + ii[r] * J.oh_step + jj[r] * J.ow_step;
    }
    int nt = 0;
    int64_t imn = ii[0], imx = ii[0], jmn = jj[0], jmx = jj[0];
    for (int r = 1; r < rw; r++) {
      imn = imin(imn, ii[r]); imx = imax(imx, ii[r]);
      jmn = imin(jmn, jj[r]); jmx = imax(jmx, jj[r]);
    }
    if (imn * J.ah + J.bh_min >= 0 && imx * J.ah + J.bh_max < J.hin && jmn * J.aw + J.bw_min >= 0 &&
        jmx * J.aw + J.bw_max < J.win) {
      // Every tap is inside for every voxel of the tile: no bounds checks.
      int64_t off[kMaxRw];
      for (int r = 0; r < rw; r++) off[r] = (ii[r] * J.ah * J.win + jj[r] * J.aw) * cin;
      // Prefetch the voxels the next tile along the row will read (their lines are touched
      // only by a few tiles, so the hardware prefetchers do not see them coming).
      const bool pf = jmx + rw < J.lw;
      const int64_t pf_step = rw * J.aw * cin, pf_end = imin(cin, 128);
      for (int t = 0; t < J.nt; t++) {
        const JobTap& tp = J.taps[t];
        const float* b = tp.plane + (tp.bh * J.win + tp.bw) * cin;
        for (int r = 0; r < rw; r++) xp[t * rw + r] = b + off[r];
        if (pf)
          for (int r = 0; r < rw; r++)
            for (int64_t c = 0; c < pf_end; c += 16) __builtin_prefetch(b + off[r] + pf_step + c);
        wbase[t] = tp.w;
      }
      nt = J.nt;
    } else {
      for (int t = 0; t < J.nt; t++) {
        const JobTap& tp = J.taps[t];
        bool any = false;
        for (int r = 0; r < rw; r++) {
          const int64_t h = ii[r] * J.ah + tp.bh, w = jj[r] * J.aw + tp.bw;
          const bool ok = h >= 0 && h < J.hin && w >= 0 && w < J.win;
          xp[nt * rw + r] = ok ? tp.plane + (h * J.win + w) * cin : p.zero;
          any |= ok;
        }
        if (any) wbase[nt++] = tp.w;
      }
    }
    for (int64_t kb = kb0; kb < kb1; kb++) {
      const int64_t woff = p.small_out ? 0 : kb * taps * cin * KB;
      const int kvalid = int(imin(KB, cout - kb * KB));
      const int nv = kvalid > W ? 2 : 1;
      for (int t = 0; t < nt; t++) wp[t] = wbase[t] + woff;
      for (int r = 0; r < rw; r++) yp[r] = ybase[r] + kb * KB;
      if (p.small_out) kRedTiles[cout - 1][rw - 1](xp, wp, nt, cin, yp, kvalid);
      else kFwdTiles[nv - 1][rw - 1](xp, wp, nt, cin, yp, kvalid);
    }
    m0 += rw;
  }
}

// fprop over a zero-padded input (p.padded: few input channels, or few outputs from few
// channels): jobs are (n, od) planes, tiles run along output rows and every tap is valid, so no
// per-voxel pointers are needed.
inline void fwd_dense_rows(const FwdPlan& p, int64_t j0, int64_t j1) {
  const ConvGeom& g = p.g;
  const int64_t cin = g.C, taps = g.kd * g.kh * g.kw, nkb = p.small_out ? 1 : cdiv(g.K, KB);
  const int mrw = p.small_out ? (g.K > 2 && W < 16 ? 4 : kRedRw) : kMaxRw;  // as in fwd_rows
  int64_t toff[kMaxTaps];
  for (int64_t a = 0; a < g.kd; a++)
    for (int64_t b = 0; b < g.kh; b++)
      for (int64_t c3 = 0; c3 < g.kw; c3++) toff[(a * g.kh + b) * g.kw + c3] = ((a * p.Hp + b) * p.Wp + c3) * cin;
  const int64_t nseg = cdiv(g.OW, mrw), sbase = g.OW / nseg, sextra = g.OW % nseg;
  float* yp[kMaxRw];
  for (int64_t jb = j0; jb < j1; jb++) {
    const int64_t od = jb % g.OD, n = jb / g.OD;
    for (int64_t oh = 0; oh < g.OH; oh++) {
      const float* row = p.in + ((n * p.Dp + od * g.sd) * p.Hp + oh * g.sh) * p.Wp * cin;
      float* yrow = p.out + ((n * g.OD + od) * g.OH + oh) * g.OW * g.K;
      for (int64_t kb = 0; kb < nkb; kb++) {
        const int kvalid = int(imin(KB, g.K - kb * KB));
        const int nv = kvalid > W ? 2 : 1;
        int64_t ow0 = 0;
        for (int64_t sg = 0; sg < nseg; sg++) {
          const int rw = int(sbase + (sg < sextra ? 1 : 0));
          for (int r = 0; r < rw; r++) yp[r] = yrow + (ow0 + r) * g.K + kb * KB;
          if (p.small_out)
            kRedDenseTiles[g.K - 1][rw - 1](row + ow0 * g.sw * cin, toff, int(taps), g.sw * cin, cin, p.wp, yp, 0);
          else
            kDenseTiles[nv - 1][rw - 1](row + ow0 * g.sw * cin, toff, int(taps), g.sw * cin, cin,
                                        p.wp + kb * taps * cin * KB, yp, kvalid);
          ow0 += rw;
        }
      }
    }
  }
}

// dgrad when the kernel tiles the input exactly (k == stride, no padding; the 2^3 s2 convs and
// so the transposed convs): each dy voxel feeds its own kd*kh*kw block of dx, so tiles run over
// dy voxels and each weight panel (tap, C block) writes one voxel of every block. Jobs are dy
// planes (n, od).
inline void fwd_nonoverlap_rows(const FwdPlan& p, int64_t j0, int64_t j1) {
  const ConvGeom& g = p.g;
  const int64_t cin = g.K, taps = g.kd * g.kh * g.kw, ncb = cdiv(g.C, KB), M = g.OH * g.OW;
  const int64_t ntile = cdiv(M, kMaxRw), base = M / ntile, extra = M % ntile, tc = cdiv(96, kMaxRw);
  const float* xp[kMaxRw];
  const float* wpp[1];
  float* yp[kMaxRw];
  for (int64_t jb = j0; jb < j1; jb++) {
    const int64_t od = jb % g.OD, n = jb / g.OD;
    const float* plane = p.in + (n * g.OD + od) * M * cin;
    for (int64_t t0 = 0; t0 < ntile; t0 += tc) {
      const int64_t t1 = imin(ntile, t0 + tc);
      for (int64_t a = 0; a < g.kd; a++)
        for (int64_t b = 0; b < g.kh; b++)
          for (int64_t c3 = 0; c3 < g.kw; c3++)
            for (int64_t cb = 0; cb < ncb; cb++) {
              const int64_t t = (a * g.kh + b) * g.kw + c3;
              const int kvalid = int(imin(KB, g.C - cb * KB));
              const int nv = kvalid > W ? 2 : 1;
              wpp[0] = p.wp + (cb * taps + t) * cin * KB;
              float* oplane = p.out + ((n * g.D + od * g.sd + a) * g.H + b) * g.W * g.C + c3 * g.C + cb * KB;
              int64_t m0 = t0 * base + imin(t0, extra);
              for (int64_t ti = t0; ti < t1; ti++) {
                const int rw = int(base + (ti < extra ? 1 : 0));
                for (int r = 0; r < rw; r++) {
                  const int64_t m = m0 + r, i = m / g.OW, j = m % g.OW;
                  xp[r] = plane + m * cin;
                  yp[r] = oplane + (i * g.sh * g.W + j * g.sw) * g.C;
                }
                kFwdTiles[nv - 1][rw - 1](xp, wpp, 1, cin, yp, kvalid);
                m0 += rw;
              }
            }
    }
  }
}

void fwd_rows(const FwdPlan& p, int64_t j0, int64_t j1) {
  const ConvGeom& g = p.g;
  const int64_t cin = p.mode == 0 ? g.C : g.K, cout = p.mode == 0 ? g.K : g.C;
  if (p.padded) return fwd_dense_rows(p, j0, j1);
  if (p.nonoverlap) return fwd_nonoverlap_rows(p, j0, j1);
  const int64_t taps = g.kd * g.kh * g.kw, nkb = p.small_out ? 1 : cdiv(cout, KB);
  // Few outputs keep RW x cout accumulators: 4 x 4 fit AVX2's 16 registers, 6 x 4 AVX-512's 32.
  const int mrw = p.small_out ? (cout > 2 && W < 16 ? 4 : kRedRw) : kMaxRw;
  Job J;
  const float* xp[kMaxTaps * kMaxRw];
  const float* wp[kMaxTaps];
  // Jobs are taken in groups of at least ~96 output voxels (small planes), and a big job in
  // chunks of ~96: each weight panel then serves the whole group/chunk from L2, while the
  // group's inputs stay in L2 across the panels.
  const int64_t target = 96;
  // Packed weights that fit in L2 all stay there: then each tile does every channel block
  // while its inputs are in L1.
  const bool kb_inner = taps * cin * nkb * KB * 4 <= 256 * 1024;
  for (int64_t g0 = j0; g0 < j1;) {
    setup_job(p, g0, cin, J);
    const int64_t M0 = J.lh * J.lw;
    if (M0 >= target) {
      // One big job, chunked by tiles.
      const int64_t ntile = cdiv(M0, mrw), tc = cdiv(target, mrw);
      for (int64_t t0 = 0; t0 < ntile; t0 += tc) {
        if (kb_inner) fwd_tiles(p, J, cin, taps, 0, nkb, mrw, cout, t0, imin(ntile, t0 + tc), xp, wp);
        else
          for (int64_t kb = 0; kb < nkb; kb++)
            fwd_tiles(p, J, cin, taps, kb, kb + 1, mrw, cout, t0, imin(ntile, t0 + tc), xp, wp);
      }
      g0++;
      continue;
    }
    const int64_t g1 = imin(j1, g0 + cdiv(target, imax(1, M0)));
    for (int64_t kb = 0; kb < (kb_inner ? 1 : nkb); kb++)
      for (int64_t jb = g0; jb < g1; jb++) {
        setup_job(p, jb, cin, J);
        const int64_t M = J.lh * J.lw;
        if (M <= 0) continue;
        if (kb_inner) fwd_tiles(p, J, cin, taps, 0, nkb, mrw, cout, 0, cdiv(M, mrw), xp, wp);
        else fwd_tiles(p, J, cin, taps, kb, kb + 1, mrw, cout, 0, cdiv(M, mrw), xp, wp);
      }
    g0 = g1;
  }
}

}  // namespace vnet::cpu::VNET_ISA_NS
