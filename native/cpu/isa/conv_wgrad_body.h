// Weight-gradient kernels (see WgradPlan in conv3d_fast.h): dW[tap](C x K) = sum over output
// voxels of x_tap(C)^T dy(K), with the same RW x 2-vector register tile as fprop (RW channel
// rows broadcast from x, dy vectors), accumulated over runs of voxels into a per-task dW.
#pragma once
#include "conv_common.h"

namespace vnet::cpu::VNET_ISA_NS {

// A run of n output voxels: x advances by xstride and dy by dystride per voxel.
struct WSeg {
  const float* x;
  const float* dy;
  int64_t n;
};

// dw[r*Kp + k] += sum over the runs of x[xo[r]] * dy[k], for r < RW, k < kvalid.
template <int RW, int NV>
void wgrad_tile(const WSeg* segs, int ns, const int64_t* xo, int64_t xstride, int64_t dystride,
                float* dw, int64_t Kp, int kvalid) {
  V acc[RW][NV];
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++)
    _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) acc[r][v] = Vec::load(dw + r * Kp + v * W);
  // Loop-invariant offsets from one moving x pointer: two pointer bumps per voxel instead of
  // RW + 1 keeps the loop within the front end's budget.
  int64_t off[RW];
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++) off[r] = xo[r];
  const bool full = kvalid == NV * W;
  for (int s = 0; s < ns; s++) {
    const float* x = segs[s].x;
    const float* d = segs[s].dy;
    const int64_t n = segs[s].n;
    if (full) {
      for (int64_t i = 0; i < n; i++, x += xstride, d += dystride) {
        V d0 = Vec::load(d), d1 = NV > 1 ? Vec::load(d + W) : d0;
        _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++) {
          V b = Vec::bcast(x + off[r]);
          acc[r][0] = Vec::fma(b, d0, acc[r][0]);
          if (NV > 1) acc[r][1] = Vec::fma(b, d1, acc[r][1]);
        }
      }
    } else {
      for (int64_t i = 0; i < n; i++, x += xstride, d += dystride) {
        V d0 = NV > 1 ? Vec::load(d) : Vec::load_n(d, kvalid);
        V d1 = NV > 1 ? Vec::load_n(d + W, kvalid - W) : d0;
        _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++) {
          V b = Vec::bcast(x + off[r]);
          acc[r][0] = Vec::fma(b, d0, acc[r][0]);
          if (NV > 1) acc[r][1] = Vec::fma(b, d1, acc[r][1]);
        }
      }
    }
  }
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++)
    _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) Vec::store(dw + r * Kp + v * W, acc[r][v]);
}

using WgradTileFn = void (*)(const WSeg*, int, const int64_t*, int64_t, int64_t, float*, int64_t, int);
static const WgradTileFn kWgradTiles[2][kMaxRw] = {{VNET_RW_LIST(wgrad_tile, 1)}, {VNET_RW_LIST(wgrad_tile, 2)}};

// Few output channels (K <= 4, C a multiple of W): vectorise over x's channels instead, with
// dy broadcast; even and odd voxels use separate accumulators to keep 2x the FMA chains.
// Adds into dw rows c0 .. c0 + CV*W of the (C, Kp) block at dw.
template <int KO, int CV>
void wgrad_small_k(const WSeg* segs, int ns, int64_t c0, int64_t xstride, int64_t dystride, float* dw,
                   int64_t Kp) {
  V a0[KO][CV], a1[KO][CV];
  _Pragma("GCC unroll 16") for (int k = 0; k < KO; k++)
    _Pragma("GCC unroll 16") for (int v = 0; v < CV; v++) a0[k][v] = a1[k][v] = Vec::zero();
  for (int s = 0; s < ns; s++) {
    const float* px = segs[s].x + c0;
    const float* d = segs[s].dy;
    int64_t i = 0;
    for (; i + 1 < segs[s].n; i += 2, px += 2 * xstride, d += 2 * dystride) {
      _Pragma("GCC unroll 16") for (int v = 0; v < CV; v++) {
        V x0 = Vec::load(px + v * W);
        _Pragma("GCC unroll 16") for (int k = 0; k < KO; k++) a0[k][v] = Vec::fma(Vec::bcast(d + k), x0, a0[k][v]);
      }
      _Pragma("GCC unroll 16") for (int v = 0; v < CV; v++) {
        V x1 = Vec::load(px + xstride + v * W);
        _Pragma("GCC unroll 16") for (int k = 0; k < KO; k++)
          a1[k][v] = Vec::fma(Vec::bcast(d + dystride + k), x1, a1[k][v]);
      }
    }
    if (i < segs[s].n)
      _Pragma("GCC unroll 16") for (int v = 0; v < CV; v++) {
        V x0 = Vec::load(px + v * W);
        _Pragma("GCC unroll 16") for (int k = 0; k < KO; k++) a0[k][v] = Vec::fma(Vec::bcast(d + k), x0, a0[k][v]);
      }
  }
  alignas(64) float tmp[W];
  _Pragma("GCC unroll 16") for (int k = 0; k < KO; k++)
    _Pragma("GCC unroll 16") for (int v = 0; v < CV; v++) {
      Vec::store(tmp, Vec::add(a0[k][v], a1[k][v]));
      for (int l = 0; l < W; l++) dw[(c0 + v * W + l) * Kp + k] += tmp[l];
    }
}

using WgradSmallKFn = void (*)(const WSeg*, int, int64_t, int64_t, int64_t, float*, int64_t);
static const WgradSmallKFn kWgradSmallK[4][2] = {
    {wgrad_small_k<1, 1>, wgrad_small_k<1, 2>}, {wgrad_small_k<2, 1>, wgrad_small_k<2, 2>},
    {wgrad_small_k<3, 1>, wgrad_small_k<3, 2>}, {wgrad_small_k<4, 1>, wgrad_small_k<4, 2>}};

constexpr int kMaxSegs = 1024;

void wgrad_rows(const WgradPlan& p, int64_t r0, int64_t r1, int64_t tap0, int64_t tap1, float* part) {
  const ConvGeom& g = p.g;
  const int64_t nkb = p.Kp / KB;
  // Rows per chunk, ~192 voxels: a tile reads one x line and one dy line per voxel, and for the
  // chunk both (24 KiB) then stay in L1 across the tiles of a tap, while the chunk's x and dy
  // stay in L2 across taps.
  const int64_t vox = 192;
  const int64_t rc = imin(kMaxSegs, imax(1, vox / g.OW));
  WSeg segs[kMaxSegs];
  int64_t xo[kMaxRw];
  for (int64_t c0 = r0; c0 < r1; c0 += rc) {
    const int64_t c1 = imin(r1, c0 + rc);
    for (int64_t kb = 0; kb < nkb; kb++) {
      const int kvalid = int(imin(KB, g.K - kb * KB));
      const int nv = kvalid > W ? 2 : 1;
      if (p.padded) {
        int ns = 0;
        for (int64_t r = c0; r < c1; r++) {
          int64_t oh = r % g.OH, od = (r / g.OH) % g.OD, n = r / (g.OH * g.OD);
          segs[ns++] = WSeg{p.x + ((n * p.Dp + od * g.sd) * p.Hp + oh * g.sh) * p.Wp * g.C,
                            p.dy + r * g.OW * g.K + kb * KB, g.OW};
        }
        const int64_t M = (tap1 - tap0) * g.C, nblk = cdiv(M, kMaxRw), base = M / nblk, extra = M % nblk;
        int64_t m0 = tap0 * g.C;
        for (int64_t bi = 0; bi < nblk; bi++) {
          const int rw = int(base + (bi < extra ? 1 : 0));
          for (int r = 0; r < rw; r++) {
            int64_t m = m0 + r, t = m / g.C, c = m % g.C;
            int64_t c3 = t % g.kw, b = (t / g.kw) % g.kh, a = t / (g.kw * g.kh);
            xo[r] = ((a * p.Hp + b) * p.Wp + c3) * g.C + c;
          }
          kWgradTiles[nv - 1][rw - 1](segs, ns, xo, g.sw * g.C, g.K, part + m0 * p.Kp + kb * KB, p.Kp, kvalid);
          m0 += rw;
        }
        continue;
      }
      for (int64_t t = tap0; t < tap1; t++) {
        const int64_t c3 = t % g.kw, b = (t / g.kw) % g.kh, a = t / (g.kw * g.kh);
        const int64_t lo = imax(0, cdiv(g.pw - c3, g.sw)), hi = imin(g.OW, cdiv(g.W + g.pw - c3, g.sw));
        if (lo >= hi) continue;
        int ns = 0;
        for (int64_t r = c0; r < c1; r++) {
          int64_t oh = r % g.OH, od = (r / g.OH) % g.OD, n = r / (g.OH * g.OD);
          int64_t id = od * g.sd - g.pd + a, ih = oh * g.sh - g.ph + b;
          if (id < 0 || id >= g.D || ih < 0 || ih >= g.H) continue;
          segs[ns++] = WSeg{p.x + (((n * g.D + id) * g.H + ih) * g.W + lo * g.sw - g.pw + c3) * g.C,
                            p.dy + (r * g.OW + lo) * g.K + kb * KB, hi - lo};
        }
        if (!ns) continue;
        if (p.small_k) {
          for (int64_t ch0 = 0; ch0 < g.C; ch0 += 2 * W) {
            const int cv = g.C - ch0 >= 2 * W ? 2 : 1;
            kWgradSmallK[g.K - 1][cv - 1](segs, ns, ch0, g.sw * g.C, g.K, part + t * g.C * p.Kp, p.Kp);
          }
          continue;
        }
        const int64_t nblk = cdiv(g.C, kMaxRw), base = g.C / nblk, extra = g.C % nblk;
        int64_t ch0 = 0;
        for (int64_t bi = 0; bi < nblk; bi++) {
          const int rw = int(base + (bi < extra ? 1 : 0));
          for (int r = 0; r < rw; r++) xo[r] = ch0 + r;
          kWgradTiles[nv - 1][rw - 1](segs, ns, xo, g.sw * g.C, g.K, part + (t * g.C + ch0) * p.Kp + kb * KB,
                                      p.Kp, kvalid);
          ch0 += rw;
        }
      }
    }
  }
}

}  // namespace vnet::cpu::VNET_ISA_NS
