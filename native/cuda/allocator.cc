// The caching device allocator: blocks are rounded to size classes and kept on per-class free
// lists when released, so a training step reuses last step's memory without cudaMalloc. All
// work runs on one stream, so a block freed after an op was queued can be handed to the next
// op at once (stream order keeps them apart). On OOM the cache is emptied and the call retried.
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "device.h"

namespace vnet::cuda {

namespace {

struct Cache {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_lists;  // size class -> free blocks
  std::unordered_map<void*, size_t> live;           // block -> size class
  int64_t cached = 0;
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: the driver may be gone at exit
  return *c;
}

// 512-byte granules below 1 MiB; above, four classes per power of two (waste under 25%).
size_t size_class(size_t n) {
  if (n == 0) n = 1;
  if (n < (1u << 20)) return (n + 511) / 512 * 512;
  size_t p = 1u << 20;
  while (p * 2 <= n) p *= 2;
  size_t step = p / 4;
  return (n + step - 1) / step * step;
}

void release_all_locked(Cache& c) {
  for (auto& kv : c.free_lists)
    for (void* p : kv.second) cudaFree(p);
  c.free_lists.clear();
  c.cached = 0;
}

}  // namespace

void* dev_alloc(size_t bytes) {
  Cache& c = cache();
  size_t cls = size_class(bytes);
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.free_lists.find(cls);
  if (it != c.free_lists.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    c.cached -= int64_t(cls);
    c.live[p] = cls;
    return p;
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, cls);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    // Pending work may still use cached blocks: wait for it, then give them back and retry.
    cudaStreamSynchronize(stream());
    release_all_locked(c);
    e = cudaMalloc(&p, cls);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    std::string msg = "out of GPU memory allocating " + std::to_string(bytes) + " bytes (cudaMalloc: " +
                      cudaGetErrorString(e) + "; device has " + std::to_string(free_b >> 20) + " MiB free of " +
                      std::to_string(total_b >> 20) + " MiB, " + std::to_string(memory_stats(Device::CUDA).live_bytes >> 20) +
                      " MiB in live tensors)";
    throw VnetError(e == cudaErrorMemoryAllocation ? ErrorCode::VNET_E_OOM : ErrorCode::VNET_E_CUDA, msg);
  }
  c.live[p] = cls;
  return p;
}

void dev_free(void* p, size_t) {
  if (!p) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.live.find(p);
  if (it == c.live.end()) return;  // not ours: ignore rather than corrupt the lists
  size_t cls = it->second;
  c.live.erase(it);
  c.free_lists[cls].push_back(p);
  c.cached += int64_t(cls);
}

int64_t dev_cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.cached;
}

void dev_empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  if (!c.free_lists.empty()) cudaStreamSynchronize(stream());
  release_all_locked(c);
}

}  // namespace vnet::cuda
