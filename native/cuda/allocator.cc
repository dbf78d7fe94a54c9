// The caching device allocator: blocks are rounded to size classes and kept on per-class free
// lists when released, so a training step reuses last step's memory without cudaMalloc. All
// work runs on one stream, so a block freed after an op was queued can be handed to the next
// op at once (stream order keeps them apart). On OOM the cache is emptied and the call retried.
//
// CUDA Graphs: while a capture is open (pool_begin), blocks are handed out from, and returned
// to, that capture's private pool. Its addresses are baked into the graph, so nothing outside
// the graph may reuse them while it exists; pool_release (graph destroyed) gives its free blocks
// back to the shared lists, and blocks still live then go there when freed.
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "device.h"

namespace vnet::cuda {

namespace {

using FreeLists = std::map<size_t, std::vector<void*>>;  // size class -> free blocks

struct Block {
  size_t cls;
  int pool;  // 0: shared lists; otherwise a graph's private pool
};

struct Cache {
  std::mutex mu;
  FreeLists free_lists;
  std::unordered_map<void*, Block> live;
  std::unordered_map<int, FreeLists> pools;  // graph pools that still exist
  int capturing = 0;                          // pool of the open capture, 0 when none
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

void* take(FreeLists& lists, size_t cls) {
  auto it = lists.find(cls);
  if (it == lists.end() || it->second.empty()) return nullptr;
  void* p = it->second.back();
  it->second.pop_back();
  return p;
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
  const int pool = c.capturing;
  void* p = pool ? take(c.pools[pool], cls) : nullptr;
  if (!p) p = take(c.free_lists, cls);
  if (p) {
    c.cached -= int64_t(cls);
    c.live[p] = Block{cls, pool};
    return p;
  }
  cudaError_t e = cudaMalloc(&p, cls);
  if (e == cudaErrorMemoryAllocation && !pool) {
    cudaGetLastError();
    // Pending work may still use cached blocks: wait for it, then give them back and retry.
    // (Not while capturing: a capture may not synchronise.)
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
  c.live[p] = Block{cls, pool};
  return p;
}

void dev_free(void* p, size_t) {
  if (!p) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.live.find(p);
  if (it == c.live.end()) return;  // not ours: ignore rather than corrupt the lists
  Block b = it->second;
  c.live.erase(it);
  auto pool = b.pool ? c.pools.find(b.pool) : c.pools.end();
  if (pool != c.pools.end()) pool->second[b.cls].push_back(p);
  else c.free_lists[b.cls].push_back(p);
  c.cached += int64_t(b.cls);
}

void pool_begin(int pool) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  VNET_CHECK(!c.capturing, VNET_E_INVALID_ARG, "a CUDA Graph capture is already open");
  c.pools[pool];
  c.capturing = pool;
}

void pool_end() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.capturing = 0;
}

void pool_release(int pool) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.pools.find(pool);
  if (it == c.pools.end()) return;
  for (auto& kv : it->second)
    for (void* p : kv.second) c.free_lists[kv.first].push_back(p);
  c.pools.erase(it);
  if (c.capturing == pool) c.capturing = 0;
}

int64_t dev_cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.cached;
}

}  // namespace vnet::cuda
