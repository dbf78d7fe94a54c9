// The host shim's stand-in for <cuda_runtime.h> (build/Release/vnet_native_host.node only): the
// part of the CUDA runtime API the backend calls, implemented on the CPU (native/cuda/host/
// runtime.cc), and the kernel language the hand-written kernels use (thread and block indices,
// __syncthreads, warp shuffles, atomics), run by native/cuda/host/executor.cc. With it the
// CUDA backend's own sources compile unchanged with a plain C++ compiler and run in CI.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

// ---- qualifiers ------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// __shared__ is deliberately not defined: kernels declare block-shared arrays with
// VNET_SHARED(type, name, dims) (kernels/common.cuh), which the host can size and check.

// ---- vector types ----------------------------------------------------------------------------
struct uint3 { unsigned x, y, z; };
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

// ---- runtime types ---------------------------------------------------------------------------
enum cudaError_t : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInsufficientDriver = 35,
  cudaErrorInvalidDevice = 101,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureWrongThread = 908,
  cudaErrorUnknown = 999
};
enum cudaMemcpyKind : int {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};
enum cudaStreamCaptureMode : int {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2
};
enum cudaDeviceAttr : int { cudaDevAttrClockRate = 13, cudaDevAttrMultiProcessorCount = 16 };
constexpr unsigned cudaStreamNonBlocking = 1;

struct CUstream_st;
struct CUevent_st;
struct CUgraph_st;
struct CUgraphExec_st;
using cudaStream_t = CUstream_st*;
using cudaEvent_t = CUevent_st*;
using cudaGraph_t = CUgraph_st*;
using cudaGraphExec_t = CUgraphExec_st*;

// The host shim's stream as the stand-in NVIDIA libraries (test/cuda-host/fakes/) see it: they
// queue their work through `enqueue` (fn(ctx) runs in stream order, or on every replay of a
// CUDA Graph that captured it; release(ctx) when it can run no more), as the real libraries
// queue kernels, so that stream capture records them too.
struct HostStreamView {
  void (*enqueue)(cudaStream_t s, void (*fn)(void*), void* ctx, void (*release)(void*));
};

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  int major, minor;
  int multiProcessorCount;
  int warpSize;
  int maxThreadsPerBlock;
  size_t sharedMemPerBlock;
};

// ---- runtime API (native/cuda/host/runtime.cc) ----------------------------------------------
cudaError_t cudaGetDeviceCount(int* n);
cudaError_t cudaDriverGetVersion(int* v);
cudaError_t cudaRuntimeGetVersion(int* v);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaGetDevice(int* d);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d);
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int d);
cudaError_t cudaMemGetInfo(size_t* free_b, size_t* total_b);
cudaError_t cudaMalloc(void** p, size_t n);
template <class T>
cudaError_t cudaMalloc(T** p, size_t n) { return cudaMalloc(reinterpret_cast<void**>(p), n); }
cudaError_t cudaFree(void* p);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind k, cudaStream_t s);
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode m);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long flags);
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e);
cudaError_t cudaGraphDestroy(cudaGraph_t g);
cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b);
cudaError_t cudaGetLastError();
const char* cudaGetErrorString(cudaError_t e);
const char* cudaGetErrorName(cudaError_t e);

// ---- the kernel language (native/cuda/host/executor.cc) -------------------------------------
namespace vnet::host {

// The thread being run: its indices and its block's and grid's shapes.
struct ThreadCtx {
  uint3 thread_idx, block_idx;
  dim3 block_dim, grid_dim;
};
const ThreadCtx& this_thread();
void sync_block();                                     // __syncthreads
void sync_warp(unsigned mask);                          // __syncwarp
uint64_t shfl_bits(unsigned mask, uint64_t v, int src_lane, bool in_range);
int lane_id();
unsigned ballot(unsigned mask, bool pred);
// A block-shared array met by the running kernel: counted against the 48 KiB limit once per
// block and filled with NaN bytes at the block's start (shared memory starts undefined).
void note_shared(void* p, size_t bytes);
uint64_t clock_ticks();                                 // clock64: nanoseconds on the host
uint64_t global_ns();                                   // %globaltimer

template <class T>
inline uint64_t to_bits(T v) {
  uint64_t b = 0;
  static_assert(sizeof(T) <= 8, "shuffles move up to 64 bits");
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
inline T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

}  // namespace vnet::host

#define threadIdx (::vnet::host::this_thread().thread_idx)
#define blockIdx (::vnet::host::this_thread().block_idx)
#define blockDim (::vnet::host::this_thread().block_dim)
#define gridDim (::vnet::host::this_thread().grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads() { ::vnet::host::sync_block(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::vnet::host::sync_warp(mask); }
inline long long clock64() { return (long long)::vnet::host::clock_ticks(); }

template <class T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = warpSize) {
  int lane = ::vnet::host::lane_id(), base = lane / width * width;
  return ::vnet::host::from_bits<T>(::vnet::host::shfl_bits(mask, ::vnet::host::to_bits(v), base + ((src % width) + width) % width, true));
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  int lane = ::vnet::host::lane_id(), src = lane + int(delta);
  bool in = src / width == lane / width;
  return ::vnet::host::from_bits<T>(::vnet::host::shfl_bits(mask, ::vnet::host::to_bits(v), in ? src : lane, in));
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  int lane = ::vnet::host::lane_id(), src = lane - int(delta);
  bool in = src >= 0 && src / width == lane / width;
  return ::vnet::host::from_bits<T>(::vnet::host::shfl_bits(mask, ::vnet::host::to_bits(v), in ? src : lane, in));
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize) {
  int lane = ::vnet::host::lane_id(), src = lane ^ lane_mask;
  bool in = src / width == lane / width;
  return ::vnet::host::from_bits<T>(::vnet::host::shfl_bits(mask, ::vnet::host::to_bits(v), in ? src : lane, in));
}
inline unsigned __ballot_sync(unsigned mask, int pred) { return ::vnet::host::ballot(mask, pred != 0); }

// Atomics: the threads of a launch run one at a time on one host thread and switch only at
// barriers and warp operations, so a plain read-modify-write is atomic here.
template <class T>
inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <class T>
inline T atomicSub(T* p, T v) { T old = *p; *p = old - v; return old; }
template <class T>
inline T atomicMax(T* p, T v) { T old = *p; if (v > old) *p = v; return old; }
template <class T>
inline T atomicMin(T* p, T v) { T old = *p; if (v < old) *p = v; return old; }
template <class T>
inline T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <class T>
inline T atomicCAS(T* p, T cmp, T v) { T old = *p; if (old == cmp) *p = v; return old; }
template <class T>
inline T atomicOr(T* p, T v) { T old = *p; *p = old | v; return old; }

// Intrinsics with explicit rounding: IEEE single precision on the host too (the addon is built
// without -ffast-math, so no contraction into fused multiply-adds happens across them).
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
using std::isfinite;
using std::isnan;
