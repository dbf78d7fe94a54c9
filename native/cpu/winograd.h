// 3-D Winograd convolutions F(m³, 3³) for 3³ stride-1 convolutions on the CPU (winograd.cc
// plans them, isa/winograd_body.h runs them): fprop, dgrad (the fprop of dy with the flipped
// filter) and wgrad (the transposed form over output-gradient tiles). Plain structs only, so the
// ISA files need no standard-library templates.
#pragma once
#include <cstdint>
#include <memory>

#include "../conv_geom.h"

namespace vnet::cpu {

// A Winograd pass over tiles of m³ outputs, each reading an a³ input tile (a = m + 2) that
// starts `pad` voxels before the tile along each axis (zero outside the input grid).
// Tiles are numbered (n, td, th, tw), tw fastest.
struct WinoTiles {
  int m = 2;
  int64_t N = 0;
  int64_t ID = 0, IH = 0, IW = 0;  // input grid
  int64_t OD = 0, OH = 0, OW = 0;  // output grid
  int64_t pd = 0, ph = 0, pw = 0;  // front padding
  int64_t td = 0, th = 0, tw = 0;  // tiles per axis
  int64_t count() const { return N * td * th * tw; }
};

// fprop: out (N,OD,OH,OW,cout) = conv(in (N,ID,IH,IW,cin)) with filters transformed into
// u (nkb, a³, cin, KB): nkb = ceil(cout / KB) panels of KB output channels, zero-padded.
// Tiles are done in blocks of `block` with scratch V (a³, block, cs) and M (a³, block, KB).
struct WinoFwdPlan {
  WinoTiles t;
  int64_t cin = 0, cout = 0, cs = 0;  // cs: cin rounded up to the vector width
  const float* in = nullptr;
  float* out = nullptr;
  const float* u = nullptr;
  int64_t block = 0;
};

// wgrad: du (a³, C, kp) += the Winograd-domain product of x's tiles (N,ID,IH,IW,C) and dy's
// (N,OD,OH,OW,K) over a range of tiles; kp = K rounded up to KB. Scratch V (a³, block, cs) and
// DY (a³, block, kp).
struct WinoWgradPlan {
  WinoTiles t;
  int64_t C = 0, K = 0, cs = 0, kp = 0;
  const float* x = nullptr;
  const float* dy = nullptr;
  int64_t block = 0;
};

// One ISA's Winograd kernels.
struct WinoIsaKernels {
  int kb;  // panel width in floats (2 vectors)
  int rw;  // tiles per register tile of the GEMM
  // u (nkb, a³, cin, KB) from w(tap, ci, co) = w[tap*ts + ci*cs + co*os], taps in (d, h, w)
  // order, for the panels-times-rows items [i0, i1) of nkb * cin.
  void (*filter)(int m, const float* w, int64_t ts, int64_t cs, int64_t os, int64_t cin, int64_t cout,
                 int64_t i0, int64_t i1, float* u);
  // Tiles [t0, t1) of an fprop; scratch: wino_fprop_scratch floats.
  void (*fprop)(const WinoFwdPlan& p, int64_t t0, int64_t t1, float* scratch);
  // Adds tiles [t0, t1) into du; scratch: wino_wgrad_scratch floats.
  void (*wgrad)(const WinoWgradPlan& p, int64_t t0, int64_t t1, float* du, float* scratch);
  // dw (27, C, K) from du (a³, C, kp), rows [c0, c1) of C.
  void (*filter_grad)(int m, const float* du, int64_t C, int64_t K, int64_t kp, int64_t c0, int64_t c1, float* dw);
};

// Scratch floats of one task: a³ component rows of block tiles each, padded (see comp_stride in
// isa/winograd_body.h) to an odd number of cache lines plus one.
inline int64_t wino_rows_floats(int m, int64_t block, int64_t row) {
  return int64_t(m + 2) * (m + 2) * (m + 2) * (((block * row + 15) / 16 | 1) * 16);
}
inline int64_t wino_fprop_scratch(const WinoFwdPlan& p, int kb) {
  return wino_rows_floats(p.t.m, p.block, p.cs) + wino_rows_floats(p.t.m, p.block, kb);
}
inline int64_t wino_wgrad_scratch(const WinoWgradPlan& p) {
  return wino_rows_floats(p.t.m, p.block, p.cs) + wino_rows_floats(p.t.m, p.block, p.kp);
}

const WinoIsaKernels* wino_kernels_avx2();
const WinoIsaKernels* wino_kernels_avx512();

// Who owns the weights a filter transform is cached for: the storage (unique id, write version;
// both are bumped by every write, so a cached transform of older values can never match).
struct WeightTag {
  std::shared_ptr<const void> owner;  // keeps nothing alive in the cache: held there weakly
  uint64_t id = 0, version = 0;
};

// Whether F(m³, 3³) covers the geometry: a 3³ kernel, stride 1, front pads 0..2.
bool winograd_covers(const ConvGeom& g);

// The Winograd paths with output tile edge m (2 or 4); false when the geometry or ISA is not
// covered. `tag` (may be null) lets fprop and dgrad reuse a cached filter transform.
bool conv3d_fprop_winograd(const ConvGeom& g, int m, const float* x, const float* w, float* y, const WeightTag* tag);
bool conv3d_dgrad_winograd(const ConvGeom& g, int m, const float* dy, const float* w, float* dx, const WeightTag* tag);
bool conv3d_wgrad_winograd(const ConvGeom& g, int m, const float* x, const float* dy, float* dw);

// The filter-transform cache, for tests: lookups that found a kept transform, transforms
// computed, and the transforms kept (from the second use of the same weight contents on).
struct WinoCacheStats {
  int64_t hits = 0, misses = 0, entries = 0, bytes = 0;
};
WinoCacheStats wino_cache_stats();

}  // namespace vnet::cpu
