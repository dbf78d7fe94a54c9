// The host shim's stand-in for <cuda_fp16.h>: __half as fp16 storage with round-to-nearest-even
// conversions (native/half.h, the CPU backend's own), and the few intrinsics the kernels use.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../../../half.h"

struct __half {
  uint16_t bits;
  __half() = default;
  __half(float f) : bits(::vnet::float_to_half(f)) {}
  operator float() const { return ::vnet::half_to_float(bits); }
};
struct __half2 {
  __half x, y;
};

inline float __half2float(__half h) { return ::vnet::half_to_float(h.bits); }
inline __half __float2half_rn(float f) { return __half(f); }
inline __half2 __floats2half2_rn(float a, float b) { return {__half(a), __half(b)}; }
inline float2 __half22float2(__half2 h) { return {__half2float(h.x), __half2float(h.y)}; }
