// Launch-limit checks (see launch_limits.h).
#include "launch_limits.h"

#include <string>

#include "../error.h"

namespace vnet::cuda {

dim3 checked_grid(const char* kernel, dim3 grid, dim3 block, size_t dynamic_smem) {
  auto fail = [&](const std::string& what) {
    throw_error(ErrorCode::VNET_E_SHAPE, std::string("launch of ") + kernel + ": " + what + " (grid " +
                                             std::to_string(grid.x) + "x" + std::to_string(grid.y) + "x" +
                                             std::to_string(grid.z) + ", block " + std::to_string(block.x) + "x" +
                                             std::to_string(block.y) + "x" + std::to_string(block.z) + ")");
  };
  if (!grid.x || !grid.y || !grid.z || !block.x || !block.y || !block.z) fail("an empty grid or block");
  if (grid.x > kMaxGridX) fail("grid x above 2^31-1");
  if (grid.y > kMaxGridYZ || grid.z > kMaxGridYZ) fail("grid y or z above 65535");
  if (block.z > kMaxBlockZ) fail("block z above 64");
  if (static_cast<unsigned long long>(block.x) * block.y * block.z > kMaxBlockThreads) fail("more than 1024 threads per block");
  if (dynamic_smem > kMaxSharedBytes) fail(std::to_string(dynamic_smem) + " bytes of dynamic shared memory, above 48 KiB");
  return grid;
}

}  // namespace vnet::cuda
