// Scratch and work splitting shared by the fast CPU convolutions (conv3d_fast.cc, winograd.cc).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace vnet::cpu {

// n floats of v starting at a 64-byte boundary: the kernels load whole vectors from packed
// weights, padded inputs and partial sums, and a std::vector's 16-byte alignment would make
// every AVX-512 load of them span two cache lines.
float* grow64(std::vector<float>& v, size_t n);

// Splits n work rows of `vox` output voxels each into ntasks chunks for the pool, which hands
// them out dynamically: a multiple of the thread count (up to 4 per thread), so a thread that
// was slowed down (a busy machine, a late wake-up) leaves its share to the others instead of
// holding up the call, and each chunk keeps at least min_vox voxels (the kernels' cache blocks).
int64_t split_tasks(int64_t n, int64_t vox, int64_t min_vox, int nt);

// Runs fn(r0, r1) over [0, n) as ntasks contiguous, near-equal chunks, dynamically scheduled.
void run_chunks(int64_t n, int64_t ntasks, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace vnet::cpu
