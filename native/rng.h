// Counter-based random numbers: value i of a fill depends only on (seed, i), so fills are the
// same for any thread count and on every device (the CUDA kernels use the same function).
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define VNET_HD __host__ __device__
#else
#define VNET_HD
#endif

namespace vnet {

VNET_HD inline uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 random bits.
VNET_HD inline float uniform01(uint64_t seed, uint64_t i) {
  return float(splitmix64(seed * 0x632be59bd9b4e019ull + i) >> 40) * (1.0f / 16777216.0f);
}

}  // namespace vnet
