// The engine's own thread pool: a fixed set of workers and a blocking parallel_for. Kernels
// split their work into ranges; the calling thread takes part, so a pool of n uses n threads.
#pragma once
#include <cstdint>
#include <functional>

namespace vnet {

// Number of threads kernels use (VNET_NUM_THREADS, else the hardware concurrency).
int num_threads();
void set_num_threads(int n);

// Runs fn(begin, end) over [0, n) split into at most num_threads() contiguous chunks, each at
// least `grain` long; returns when all are done. Nested calls run serially.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Runs fn(task) for task in [0, ntasks): one task per worker (ntasks <= num_threads() is best).
void parallel_tasks(int ntasks, const std::function<void(int)>& fn);

}  // namespace vnet
