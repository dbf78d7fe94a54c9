// Shared by the convolution kernel bodies: the vector width, the packed panel width and small
// integer helpers. The including file defines VNET_ISA_NS (avx2, avx512) and `Vec` (the vector
// wrapper: simd_avx2.h or simd_avx512.h), so each ISA's copy has its own symbols and the code
// is written once.
#pragma once
#include <cstdint>

#include "../conv3d_fast.h"

namespace vnet::cpu::VNET_ISA_NS {

using V = typename Vec::T;
constexpr int W = Vec::W;
constexpr int KB = 2 * W;
constexpr int kMaxRw = 6;
constexpr int kMaxTaps = 343;  // up to 7x7x7 kernels

inline int64_t cdiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

}  // namespace vnet::cpu::VNET_ISA_NS
