// The limits every kernel launch is checked against before it is queued, on the GPU build and
// on the host shim alike, so a shape that would give an impossible launch fails in CI with the
// kernel's name instead of as a bare "invalid configuration" on the first GPU run.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

namespace vnet::cuda {

constexpr unsigned long long kMaxGridX = 2147483647ull;  // 2^31 - 1
constexpr unsigned kMaxGridYZ = 65535;
constexpr unsigned kMaxBlockThreads = 1024;
constexpr unsigned kMaxBlockZ = 64;
constexpr size_t kMaxSharedBytes = 48 * 1024;  // static + dynamic, without the per-kernel opt-in

// Returns `grid` when (grid, block, dynamic shared bytes) is a launch every sm_80+ GPU takes;
// otherwise throws VNET_E_SHAPE naming the kernel and the offending number.
dim3 checked_grid(const char* kernel, dim3 grid, dim3 block, size_t dynamic_smem);

}  // namespace vnet::cuda
