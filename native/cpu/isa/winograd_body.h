// Winograd F(m³, 3³) kernels (see winograd.h for the plans). Every transform (filters, input
// tiles, output tiles, output-gradient tiles, and back to filter gradients) is a separable 1-D
// transform along the three axes, vectorised over channels; the Winograd-domain products are
// register-tiled GEMMs like the direct kernels' (RW rows broadcast, 2 vectors of channels).
// A block of tiles is transformed into scratch that stays in L2, multiplied panel by panel and
// transformed back, so nothing of the a³/m³-times larger Winograd domain reaches memory.
#pragma once
#include "../winograd.h"
#include "conv_common.h"

namespace vnet::cpu::VNET_ISA_NS {

// The transform matrices (Lavin and Gray's): input BT (a x a), filter G (a x 3), output AT
// (m x a); GT and AA (= AT transposed) run the transposed transforms of wgrad.
template <int M>
struct WinoMat;
template <>
struct WinoMat<2> {
  static constexpr int A = 4;
  static constexpr float BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  static constexpr float G[4][3] = {{1, 0, 0}, {.5f, .5f, .5f}, {.5f, -.5f, .5f}, {0, 0, 1}};
  static constexpr float GT[3][4] = {{1, .5f, .5f, 0}, {0, .5f, -.5f, 0}, {0, .5f, .5f, 1}};
  static constexpr float AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
  static constexpr float AA[4][2] = {{1, 0}, {1, 1}, {1, -1}, {0, -1}};
};
template <>
struct WinoMat<4> {
  static constexpr int A = 6;
  static constexpr float BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                     {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr float G[6][3] = {{1.f / 4, 0, 0},
                                    {-1.f / 6, -1.f / 6, -1.f / 6},
                                    {-1.f / 6, 1.f / 6, -1.f / 6},
                                    {1.f / 24, 1.f / 12, 1.f / 6},
                                    {1.f / 24, -1.f / 12, 1.f / 6},
                                    {0, 0, 1}};
  static constexpr float GT[3][6] = {{1.f / 4, -1.f / 6, -1.f / 6, 1.f / 24, 1.f / 24, 0},
                                     {0, -1.f / 6, 1.f / 6, 1.f / 12, -1.f / 12, 0},
                                     {0, -1.f / 6, -1.f / 6, 1.f / 6, 1.f / 6, 1}};
  static constexpr float AT[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
  static constexpr float AA[6][4] = {{1, 0, 0, 0}, {1, 1, 1, 1}, {1, -1, 1, -1}, {1, 2, 4, 8}, {1, -2, 4, -8}, {0, 0, 0, 1}};
};

// out[i*os] = sum_j mx[i][j] * in[j*is]. The loops unroll and the constant coefficients fold:
// zero terms vanish, +1 terms are adds, the others FMAs, and -1 terms subtract last (so a row
// like (0, -1, 1, 0) is one subtraction).
template <int R, int S>
inline void tr1(const float (&mx)[R][S], const V* in, int is, V* out, int os) {
  _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {
    V acc = Vec::zero();
    bool any = false;
    _Pragma("GCC unroll 8") for (int j = 0; j < S; j++) if (mx[i][j] == 1.f) {
      acc = any ? Vec::add(acc, in[j * is]) : in[j * is];
      any = true;
    }
    _Pragma("GCC unroll 8") for (int j = 0; j < S; j++) {
      const float c = mx[i][j];
      if (c == 0.f || c == 1.f || c == -1.f) continue;
      acc = any ? Vec::fma(Vec::set1(c), in[j * is], acc) : Vec::mul(Vec::set1(c), in[j * is]);
      any = true;
    }
    _Pragma("GCC unroll 8") for (int j = 0; j < S; j++) if (mx[i][j] == -1.f) {
      acc = Vec::sub(acc, in[j * is]);  // from zero when it is the row's only kind of term
      any = true;
    }
    out[i * os] = acc;
  }
}

// The 3-D transform of an S³ block (d, h, w order) into an R³ block: mx along w, then h, then d.
template <int R, int S>
inline void tr3(const float (&mx)[R][S], const V* in, V* out) {
  V t1[S * S * R], t2[S * R * R];
  for (int p = 0; p < S * S; p++) tr1(mx, in + p * S, 1, t1 + p * R, 1);
  for (int i = 0; i < S; i++)
    for (int l = 0; l < R; l++) tr1(mx, t1 + i * S * R + l, R, t2 + i * R * R + l, R);
  for (int p = 0; p < R * R; p++) tr1(mx, t2 + p, R * R, out + p, R * R);
}

// The stride between Winograd components in the block scratch: an odd number of cache lines,
// so the a³ rows a tile's transform writes (and the output transform reads) spread over all of
// L1's sets; an even stride such as 24 tiles x 64 channels (6 KiB) puts them in two or four.
inline int64_t comp_stride(int64_t floats) { return ((floats + 15) / 16 | 1) * 16; }

// A tile's place: sample n and the first output voxel (d, h, w) of its m³ block.
struct TilePos {
  int64_t n, d, h, w;
};
inline TilePos tile_pos(const WinoTiles& T, int64_t t) {
  TilePos p;
  p.w = (t % T.tw) * T.m;
  t /= T.tw;
  p.h = (t % T.th) * T.m;
  t /= T.th;
  p.d = (t % T.td) * T.m;
  p.n = t / T.td;
  return p;
}

inline V load_part(const float* p, int n) { return n >= W ? Vec::load(p) : n > 0 ? Vec::load_n(p, n) : Vec::zero(); }
inline void store_part_n(float* p, V v, int n) {
  if (n >= W) Vec::store(p, v);
  else if (n > 0) Vec::store_n(p, v, n);
}

// Input transform of one tile: v[e*estride + c] for the a³ components e and channels c < C
// (the row is written up to C rounded up to W, zeros past C).
template <int M>
inline void input_tile(const WinoTiles& T, const float* x, int64_t C, int64_t tile, float* v, int64_t estride) {
  constexpr int A = M + 2, E = A * A * A;
  const TilePos q = tile_pos(T, tile);
  const int64_t d0 = q.d - T.pd, h0 = q.h - T.ph, w0 = q.w - T.pw;
  const bool inside = d0 >= 0 && h0 >= 0 && w0 >= 0 && d0 + A <= T.ID && h0 + A <= T.IH && w0 + A <= T.IW;
  const float* base = x + (((q.n * T.ID + d0) * T.IH + h0) * T.IW + w0) * C;
  const int64_t sd = T.IH * T.IW * C, sh = T.IW * C;
  for (int64_t c0 = 0; c0 < C; c0 += W) {
    const int nv = int(imin(W, C - c0));
    V d[E], e[E];
    for (int i = 0; i < A; i++)
      for (int j = 0; j < A; j++)
        for (int l = 0; l < A; l++) {
          const bool ok = inside || (d0 + i >= 0 && d0 + i < T.ID && h0 + j >= 0 && h0 + j < T.IH && w0 + l >= 0 &&
                                     w0 + l < T.IW);
          d[(i * A + j) * A + l] = ok ? load_part(base + i * sd + j * sh + l * C + c0, nv) : Vec::zero();
        }
    tr3(WinoMat<M>::BT, d, e);
    for (int k = 0; k < E; k++) Vec::store(v + k * estride + c0, e[k]);
  }
}

// Output-gradient transform of one tile for wgrad: the m³ dy vectors (zero outside the grid)
// expanded to a³ components, d[e*estride + k] for k < kp (zeros past K).
template <int M>
inline void dy_tile(const WinoTiles& T, const float* dy, int64_t K, int64_t kp, int64_t tile, float* d, int64_t estride) {
  constexpr int A = M + 2, E = A * A * A, MM = M * M * M;
  const TilePos q = tile_pos(T, tile);
  const float* base = dy + (((q.n * T.OD + q.d) * T.OH + q.h) * T.OW + q.w) * K;
  for (int64_t k0 = 0; k0 < kp; k0 += W) {
    const int nv = int(imax(0, imin(W, K - k0)));
    V o[MM], e[E];
    for (int i = 0; i < M; i++)
      for (int j = 0; j < M; j++)
        for (int l = 0; l < M; l++) {
          const bool ok = q.d + i < T.OD && q.h + j < T.OH && q.w + l < T.OW;
          o[(i * M + j) * M + l] = ok ? load_part(base + ((i * T.OH + j) * T.OW + l) * K + k0, nv) : Vec::zero();
        }
    tr3(WinoMat<M>::AA, o, e);
    for (int k = 0; k < E; k++) Vec::store(d + k * estride + k0, e[k]);
  }
}

// Output transform of one tile for output channels [k0, k0 + kvalid): mb[e*estride + j] holds
// component e of channel k0 + j; the m³ results inside the grid are stored to y.
template <int M>
inline void output_tile(const WinoTiles& T, const float* mb, int64_t estride, int64_t tile, float* y, int64_t K,
                        int64_t k0, int kvalid) {
  constexpr int A = M + 2, E = A * A * A, MM = M * M * M;
  const TilePos q = tile_pos(T, tile);
  float* base = y + (((q.n * T.OD + q.d) * T.OH + q.h) * T.OW + q.w) * K + k0;
  for (int v0 = 0; v0 < kvalid; v0 += W) {
    V e[E], o[MM];
    for (int k = 0; k < E; k++) e[k] = Vec::load(mb + k * estride + v0);
    tr3(WinoMat<M>::AT, e, o);
    const int nv = int(imin(W, kvalid - v0));
    for (int i = 0; i < M && q.d + i < T.OD; i++)
      for (int j = 0; j < M && q.h + j < T.OH; j++)
        for (int l = 0; l < M && q.w + l < T.OW; l++)
          store_part_n(base + ((i * T.OH + j) * T.OW + l) * K + v0, o[(i * M + j) * M + l], nv);
  }
}

// m[r*KB + k] = sum over c < cin of v[r*cs + c] * u[c*KB + k], for RW tiles r and NV vectors k.
template <int RW, int NV>
void gemm_tile(const float* v, int64_t cs, const float* u, int64_t cin, float* m) {
  V acc[RW][NV];
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++)
    _Pragma("GCC unroll 16") for (int j = 0; j < NV; j++) acc[r][j] = Vec::zero();
  const float* p[RW];
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++) p[r] = v + r * cs;
  for (int64_t c = 0; c < cin; c++, u += KB) {
    V w0 = Vec::load(u), w1 = NV > 1 ? Vec::load(u + W) : w0;
    _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++) {
      V b = Vec::bcast(p[r] + c);
      acc[r][0] = Vec::fma(b, w0, acc[r][0]);
      if (NV > 1) acc[r][1] = Vec::fma(b, w1, acc[r][1]);
    }
  }
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++)
    _Pragma("GCC unroll 16") for (int j = 0; j < NV; j++) Vec::store(m + r * KB + j * W, acc[r][j]);
}

using GemmTileFn = void (*)(const float*, int64_t, const float*, int64_t, float*);
static const GemmTileFn kGemmTiles[2][kMaxRw] = {{VNET_RW_LIST(gemm_tile, 1)}, {VNET_RW_LIST(gemm_tile, 2)}};

// du[r*kp + k] += sum over tiles t < n of v[t*cs + r] * d[t*kp + k], for RW channels r.
template <int RW, int NV>
void wgrad_gemm_tile(const float* v, int64_t cs, const float* d, int64_t kp, int64_t n, float* du) {
  V acc[RW][NV];
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++)
    _Pragma("GCC unroll 16") for (int j = 0; j < NV; j++) acc[r][j] = Vec::load(du + r * kp + j * W);
  for (int64_t t = 0; t < n; t++, v += cs, d += kp) {
    V d0 = Vec::load(d), d1 = NV > 1 ? Vec::load(d + W) : d0;
    _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++) {
      V b = Vec::bcast(v + r);
      acc[r][0] = Vec::fma(b, d0, acc[r][0]);
      if (NV > 1) acc[r][1] = Vec::fma(b, d1, acc[r][1]);
    }
  }
  _Pragma("GCC unroll 16") for (int r = 0; r < RW; r++)
    _Pragma("GCC unroll 16") for (int j = 0; j < NV; j++) Vec::store(du + r * kp + j * W, acc[r][j]);
}

using WgradGemmFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*);
static const WgradGemmFn kWgradGemm[2][kMaxRw] = {{VNET_RW_LIST(wgrad_gemm_tile, 1)},
                                                  {VNET_RW_LIST(wgrad_gemm_tile, 2)}};

// Splits n rows into near-equal register tiles of at most kMaxRw: calls f(row0, rows).
template <class F>
inline void for_row_tiles(int64_t n, F f) {
  const int64_t nblk = cdiv(n, kMaxRw), base = n / nblk, extra = n % nblk;
  int64_t r0 = 0;
  for (int64_t b = 0; b < nblk; b++) {
    const int rw = int(base + (b < extra ? 1 : 0));
    f(r0, rw);
    r0 += rw;
  }
}

template <int M>
void filter_t(const float* w, int64_t ts, int64_t cs, int64_t os, int64_t cin, int64_t cout, int64_t i0, int64_t i1,
              float* u) {
  constexpr int A = M + 2, E = A * A * A;
  for (int64_t it = i0; it < i1; it++) {
    const int64_t kb = it / cin, ci = it % cin;
    for (int v0 = 0; v0 < KB; v0 += W) {
      const int64_t co0 = kb * KB + v0;
      const int nv = int(imax(0, imin(W, cout - co0)));
      V g[27], e[E];
      for (int t = 0; t < 27; t++) {
        const float* src = w + t * ts + ci * cs + co0 * os;
        if (os == 1) {
          g[t] = load_part(src, nv);
        } else {
          alignas(64) float tmp[W] = {};
          for (int l = 0; l < nv; l++) tmp[l] = src[l * os];
          g[t] = Vec::load(tmp);
        }
      }
      tr3(WinoMat<M>::G, g, e);
      for (int k = 0; k < E; k++) Vec::store(u + ((kb * E + k) * cin + ci) * KB + v0, e[k]);
    }
  }
}

template <int M>
void filter_grad_t(const float* du, int64_t C, int64_t K, int64_t kp, int64_t c0, int64_t c1, float* dw) {
  constexpr int A = M + 2, E = A * A * A;
  for (int64_t c = c0; c < c1; c++)
    for (int64_t k0 = 0; k0 < K; k0 += W) {
      V e[E], g[27];
      for (int k = 0; k < E; k++) e[k] = Vec::load(du + (k * C + c) * kp + k0);
      tr3(WinoMat<M>::GT, e, g);
      const int nv = int(imin(W, K - k0));
      for (int t = 0; t < 27; t++) store_part_n(dw + (t * C + c) * K + k0, g[t], nv);
    }
}

template <int M>
void fprop_t(const WinoFwdPlan& p, int64_t t0, int64_t t1, float* scratch) {
  constexpr int A = M + 2, E = A * A * A;
  const int64_t B = p.block, nkb = cdiv(p.cout, KB), vs = comp_stride(B * p.cs), ms = comp_stride(B * KB);
  float* vb = scratch;            // (E, B, cs), components vs apart
  float* mb = scratch + E * vs;   // (E, B, KB), components ms apart
  for (int64_t b0 = t0; b0 < t1; b0 += B) {
    const int64_t nb = imin(B, t1 - b0);
    for (int64_t t = 0; t < nb; t++) input_tile<M>(p.t, p.in, p.cin, b0 + t, vb + t * p.cs, vs);
    for (int64_t kb = 0; kb < nkb; kb++) {
      const int kvalid = int(imin(KB, p.cout - kb * KB)), nv = kvalid > W ? 2 : 1;
      const float* ukb = p.u + kb * E * p.cin * KB;
      for (int e = 0; e < E; e++)
        for_row_tiles(nb, [&](int64_t r0, int rw) {
          kGemmTiles[nv - 1][rw - 1](vb + e * vs + r0 * p.cs, p.cs, ukb + e * p.cin * KB, p.cin, mb + e * ms + r0 * KB);
        });
      for (int64_t t = 0; t < nb; t++) output_tile<M>(p.t, mb + t * KB, ms, b0 + t, p.out, p.cout, kb * KB, kvalid);
    }
  }
}

template <int M>
void wgrad_t(const WinoWgradPlan& p, int64_t t0, int64_t t1, float* du, float* scratch) {
  constexpr int A = M + 2, E = A * A * A;
  const int64_t B = p.block, nkb = p.kp / KB, vs = comp_stride(B * p.cs), ds = comp_stride(B * p.kp);
  float* vb = scratch;           // (E, B, cs), components vs apart
  float* db = scratch + E * vs;  // (E, B, kp), components ds apart
  for (int64_t b0 = t0; b0 < t1; b0 += B) {
    const int64_t nb = imin(B, t1 - b0);
    for (int64_t t = 0; t < nb; t++) {
      input_tile<M>(p.t, p.x, p.C, b0 + t, vb + t * p.cs, vs);
      dy_tile<M>(p.t, p.dy, p.K, p.kp, b0 + t, db + t * p.kp, ds);
    }
    for (int e = 0; e < E; e++)
      for_row_tiles(p.C, [&](int64_t c0, int rw) {
        for (int64_t kb = 0; kb < nkb; kb++) {
          const int nv = p.K - kb * KB > W ? 2 : 1;
          kWgradGemm[nv - 1][rw - 1](vb + e * vs + c0, p.cs, db + e * ds + kb * KB, p.kp, nb,
                                     du + (e * p.C + c0) * p.kp + kb * KB);
        }
      });
  }
}

inline void wino_filter(int m, const float* w, int64_t ts, int64_t cs, int64_t os, int64_t cin, int64_t cout, int64_t i0,
                        int64_t i1, float* u) {
  if (m == 4) filter_t<4>(w, ts, cs, os, cin, cout, i0, i1, u);
  else filter_t<2>(w, ts, cs, os, cin, cout, i0, i1, u);
}
inline void wino_fprop(const WinoFwdPlan& p, int64_t t0, int64_t t1, float* scratch) {
  if (p.t.m == 4) fprop_t<4>(p, t0, t1, scratch);
  else fprop_t<2>(p, t0, t1, scratch);
}
inline void wino_wgrad(const WinoWgradPlan& p, int64_t t0, int64_t t1, float* du, float* scratch) {
  if (p.t.m == 4) wgrad_t<4>(p, t0, t1, du, scratch);
  else wgrad_t<2>(p, t0, t1, du, scratch);
}
inline void wino_filter_grad(int m, const float* du, int64_t C, int64_t K, int64_t kp, int64_t c0, int64_t c1, float* dw) {
  if (m == 4) filter_grad_t<4>(du, C, K, kp, c0, c1, dw);
  else filter_grad_t<2>(du, C, K, kp, c0, c1, dw);
}

}  // namespace vnet::cpu::VNET_ISA_NS
