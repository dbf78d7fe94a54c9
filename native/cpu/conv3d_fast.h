// Plans shared by the fast CPU convolutions (conv3d_fast.cc builds them, the per-ISA kernels in
// isa/conv_*.cc run them). Plain structs of pointers and sizes only, so the ISA files need no
// standard-library templates (their code is compiled with wider-vector flags).
#pragma once
#include <cstdint>

#include "../conv_geom.h"

namespace vnet::cpu {

// A direct convolution computed as jobs of output voxels:
//  mode 0 (fprop): jobs are output planes (n, od); in = x (N,D,H,W,C), out = y (N,OD,OH,OW,K).
//  mode 1 (dgrad): jobs are (n, id, rh, rw), rh/rw the phase of ih/iw mod the stride;
//  in = dy, out = dx.
// Weights are packed as (kblock, tap, cin, KB) where cin is the reduced channel (C for fprop,
// K for dgrad), KB = 2 vectors wide, and kblock covers the produced channels, zero-padded.
//  small_out: cout <= 4 and cin a multiple of the vector width; weights are (tap, cout, cin)
//  and the kernel vectorises over cin.
//  padded (mode 0 only, few input channels, or small_out with few): `in` is a zero-padded copy
//  (N, Dp, Hp, Wp, C) that every tap can read for every output voxel.
//  nonoverlap (mode 1 only): k == stride, no padding and the kernel tiles the input exactly;
//  jobs are dy planes (n, od) instead.
struct FwdPlan {
  ConvGeom g;
  int mode = 0;
  bool small_out = false;
  bool padded = false;
  bool nonoverlap = false;
  int64_t Dp = 0, Hp = 0, Wp = 0;
  const float* in = nullptr;
  float* out = nullptr;
  const float* wp = nullptr;
  const float* zero = nullptr;  // at least cin zeros
  int64_t rows = 0;  // jobs: N*OD planes (mode 0, nonoverlap) or N*D*sh*sw plane phases (mode 1)
};

// Weight gradient into a dW laid out (tap, C, Kp), Kp = K rounded up to KB: either each task
// owns a partial dW over its rows, or (small activations) each task owns a range of taps.
//  padded = false: x is the input itself; a tile is up to 6 channels of one tap.
//  padded = true: x is a zero-padded copy (N, Dp, Hp, Wp, C) so every tap is valid for every
//  output voxel; a tile is up to 6 consecutive (tap, channel) rows (for small C).
struct WgradPlan {
  ConvGeom g;
  const float* x = nullptr;
  const float* dy = nullptr;
  bool padded = false;
  bool small_k = false;  // K <= 4 and C a multiple of the vector width: vectorise over C
  int64_t Dp = 0, Hp = 0, Wp = 0;
  int64_t Kp = 0;
  int64_t rows = 0;  // N * OD * OH
};

// One ISA's kernels. kb is the packed panel width (floats).
struct ConvIsaKernels {
  int kb;
  void (*fwd_rows)(const FwdPlan& p, int64_t r0, int64_t r1);
  // Adds output rows [r0, r1) (of N*OD*OH) and taps [tap0, tap1) into part.
  void (*wgrad_rows)(const WgradPlan& p, int64_t r0, int64_t r1, int64_t tap0, int64_t tap1, float* part);
};

const ConvIsaKernels* conv_kernels_avx2();
const ConvIsaKernels* conv_kernels_avx512();

// The fast paths; false when the geometry or ISA is not covered (the caller runs the reference).
bool conv3d_fprop_fast(const ConvGeom& g, const float* x, const float* w, float* y);
bool conv3d_dgrad_fast(const ConvGeom& g, const float* dy, const float* w, float* dx);
bool conv3d_wgrad_fast(const ConvGeom& g, const float* x, const float* dy, float* dw);

}  // namespace vnet::cpu
