// Shared by the convolution kernel bodies: the vector width, the packed panel width, the tile
// widths and small integer helpers. The including file defines VNET_ISA_NS (avx2, avx512),
// VNET_MAX_RW (the broadcast tiles' widest row: 6 on AVX2, 12 on AVX-512) and `Vec` (the vector
// wrapper: simd_avx2.h or simd_avx512.h), so each ISA's copy has its own symbols and the code
// is written once.
#pragma once
#include <cstdint>

#include "../conv3d_fast.h"

namespace vnet::cpu::VNET_ISA_NS {

using V = typename Vec::T;
constexpr int W = Vec::W;
constexpr int KB = 2 * W;
// Broadcast tiles (fprop, dgrad, wgrad) keep RW x 2 vectors of accumulators: 6 x 2 = 12 of
// AVX2's 16 registers, 12 x 2 = 24 of AVX-512's 32. The wider tile halves the weight (or dy)
// loads per FMA. Reduction tiles (few outputs) keep RW x cout <= 24 and stay at 6.
constexpr int kMaxRw = VNET_MAX_RW;
constexpr int kRedRw = 6;
constexpr int kMaxTaps = 343;  // up to 7x7x7 kernels

inline int64_t cdiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

// The tile functions T<1, X> .. T<VNET_MAX_RW, X>, for a table indexed by RW - 1.
#if VNET_MAX_RW == 12
#define VNET_RW_LIST(T, X) \
  T<1, X>, T<2, X>, T<3, X>, T<4, X>, T<5, X>, T<6, X>, T<7, X>, T<8, X>, T<9, X>, T<10, X>, T<11, X>, T<12, X>
#elif VNET_MAX_RW == 6
#define VNET_RW_LIST(T, X) T<1, X>, T<2, X>, T<3, X>, T<4, X>, T<5, X>, T<6, X>
#else
#error "VNET_MAX_RW must be 6 or 12"
#endif

}  // namespace vnet::cpu::VNET_ISA_NS
