// The host shim's CUDA runtime: "device" memory is host memory, the one stream runs every
// operation at once (or records it while a CUDA Graph capture is open, as a real capture does,
// refusing what a capture refuses: synchronisation and copies to or from pageable host memory),
// and the machine it describes is set by environment variables, so tests can ask for what this
// CI machine lacks:
//   VNET_HOST_CUDA_DRIVER   the driver's CUDA version (default 13000; 12080 an R570 driver, 0 none)
//   VNET_HOST_CUDA_DEVICES  how many GPUs (default 1)      VNET_HOST_CUDA_SMS  SMs each (default 2)
//   VNET_HOST_CUDA_MEM_MB   memory each (default 4096)     VNET_HOST_CUDA_LOG  a file that gets a
//   line "context <pid> <device>" whenever this process creates a context on a device, and
//   "kernel <name>" the first time each kernel runs (the tests' coverage of the kernels).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "launch.h"

struct CUstream_st {
  HostStreamView view;  // first: what the stand-in libraries see (cuda_runtime.h)
  bool capturing = false;
  bool invalidated = false;
  std::vector<std::function<void()>> nodes;
};
struct CUgraph_st {
  std::vector<std::function<void()>> nodes;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> nodes;
};
struct CUevent_st {
  uint64_t ns = 0;
};

namespace vnet::host {

void run_grid(const char* kernel, dim3 grid, dim3 block, size_t smem, const std::function<void()>& body);

namespace {

long env_num(const char* name, long dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::atol(v) : dflt;
}

struct Machine {
  std::mutex mu;
  int driver = int(env_num("VNET_HOST_CUDA_DRIVER", 13000));
  int devices = int(env_num("VNET_HOST_CUDA_DEVICES", 1));
  int sms = int(env_num("VNET_HOST_CUDA_SMS", 2));
  size_t mem = size_t(env_num("VNET_HOST_CUDA_MEM_MB", 4096)) << 20;
  int current = 0;
  std::set<int> contexts;
  std::map<void*, size_t> allocs;
  size_t used = 0;
  cudaError_t last = cudaSuccess;
};

Machine& m() {
  static Machine* s = new Machine();  // never destroyed: tensors may be freed at exit
  return *s;
}

constexpr int kRuntime = 13000;

}  // namespace

void log_line(const std::string& line) {
  if (const char* path = std::getenv("VNET_HOST_CUDA_LOG"))
    if (FILE* f = std::fopen(path, "a")) {
      std::fprintf(f, "%s\n", line.c_str());
      std::fclose(f);
    }
}

namespace {

cudaError_t fail(cudaError_t e) {
  m().last = e;
  return e;
}

// What the real runtime answers before anything else when the driver cannot serve it.
cudaError_t driver_state() {
  Machine& s = m();
  if (s.driver < kRuntime / 1000 * 1000) return cudaErrorInsufficientDriver;
  if (s.devices <= 0) return cudaErrorNoDevice;
  return cudaSuccess;
}

// Operations that need a context create the current device's primary context on first use.
cudaError_t need_context() {
  Machine& s = m();
  if (cudaError_t e = driver_state()) return e;
  if (s.contexts.insert(s.current).second) log_line("context " + std::to_string(getpid()) + " " + std::to_string(s.current));
  return cudaSuccess;
}

uint64_t now_ns() {
  return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// Queues work on a stream: run now, or record while a capture is open.
void enqueue(cudaStream_t s, std::function<void()> op) {
  if (s && s->capturing) {
    if (!s->invalidated) s->nodes.push_back(std::move(op));
    return;
  }
  op();
}

cudaError_t capture_refuses(cudaStream_t s) {
  s->invalidated = true;
  return fail(cudaErrorStreamCaptureUnsupported);
}

}  // namespace

void launch(cudaStream_t s, const char* name, dim3 grid, dim3 block, size_t smem, std::function<void()> body) {
  enqueue(s, [=] { run_grid(name, grid, block, smem, body); });
}

namespace {
void library_enqueue(cudaStream_t s, void (*fn)(void*), void* ctx, void (*release)(void*)) {
  std::shared_ptr<void> owned(ctx, release);
  enqueue(s, [fn, owned] { fn(owned.get()); });
}
}  // namespace

}  // namespace vnet::host

using vnet::host::fail;
using vnet::host::m;

cudaError_t cudaGetDeviceCount(int* n) {
  *n = 0;
  if (cudaError_t e = vnet::host::driver_state()) return fail(e);
  *n = m().devices;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* v) {
  *v = m().driver > 0 ? m().driver : 0;
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = vnet::host::kRuntime;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int d) {
  if (cudaError_t e = vnet::host::driver_state()) return fail(e);
  if (d < 0 || d >= m().devices) return fail(cudaErrorInvalidDevice);
  m().current = d;
  // CUDA 12+: cudaSetDevice initialises the device's primary context.
  if (cudaError_t e = vnet::host::need_context()) return fail(e);
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* d) {
  *d = m().current;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
  if (cudaError_t e = vnet::host::driver_state()) return fail(e);
  if (d < 0 || d >= m().devices) return fail(cudaErrorInvalidDevice);
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "vnet host shim (CPU)");
  p->totalGlobalMem = m().mem;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = m().sms;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->sharedMemPerBlock = 48 * 1024;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int d) {
  if (cudaError_t e = vnet::host::driver_state()) return fail(e);
  if (d < 0 || d >= m().devices) return fail(cudaErrorInvalidDevice);
  if (a == cudaDevAttrMultiProcessorCount) *v = m().sms;
  else if (a == cudaDevAttrClockRate) *v = 1980000;  // kHz, an H100 SXM's maximum
  else return fail(cudaErrorInvalidValue);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_b, size_t* total_b) {
  if (cudaError_t e = vnet::host::need_context()) return fail(e);
  *total_b = m().mem;
  *free_b = m().mem - m().used;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t n) {
  *p = nullptr;
  if (cudaError_t e = vnet::host::need_context()) return fail(e);
  auto& s = m();
  std::lock_guard<std::mutex> lock(s.mu);
  if (n > s.mem - s.used) return fail(cudaErrorMemoryAllocation);
  void* q = std::aligned_alloc(256, (n + 255) / 256 * 256);
  if (!q) return fail(cudaErrorMemoryAllocation);
  // Fresh device memory holds no zeros to rely on: NaN bytes, up to the size of the largest
  // tensors the tests make (a workspace of a GiB stays untouched, as it would stay unpaged).
  std::memset(q, 0xff, n < (size_t(64) << 20) ? n : 0);
  s.allocs[q] = n;
  s.used += n;
  *p = q;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  auto& s = m();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.allocs.find(p);
  if (it == s.allocs.end()) return fail(cudaErrorInvalidValue);
  s.used -= it->second;
  s.allocs.erase(it);
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind k, cudaStream_t s) {
  if (s && s->capturing && k != cudaMemcpyDeviceToDevice) return vnet::host::capture_refuses(s);
  vnet::host::enqueue(s, [=] { std::memmove(dst, src, n); });
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t s) {
  vnet::host::enqueue(s, [=] { std::memset(p, v, n); });
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  if (cudaError_t e = vnet::host::need_context()) return fail(e);
  *s = new CUstream_st();
  (*s)->view.enqueue = vnet::host::library_enqueue;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (s && s->capturing) return vnet::host::capture_refuses(s);
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  if (!s || s->capturing) return fail(cudaErrorInvalidValue);
  s->capturing = true;
  s->invalidated = false;
  s->nodes.clear();
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  *g = nullptr;
  if (!s || !s->capturing) return fail(cudaErrorInvalidValue);
  s->capturing = false;
  if (s->invalidated) {
    s->nodes.clear();
    return fail(cudaErrorStreamCaptureInvalidated);
  }
  *g = new CUgraph_st{std::move(s->nodes)};
  s->nodes.clear();
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long) {
  if (!g) return fail(cudaErrorInvalidValue);
  *e = new CUgraphExec_st{g->nodes};
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
  if (!e) return fail(cudaErrorInvalidResourceHandle);
  vnet::host::enqueue(s, [e] {
    for (auto& op : e->nodes) op();
  });
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
  delete e;
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete g;
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new CUevent_st();
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  vnet::host::enqueue(s, [e] { e->ns = vnet::host::now_ns(); });
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  *ms = float(double(b->ns - a->ns) / 1e6);
  return cudaSuccess;
}

cudaError_t cudaGetLastError() {
  cudaError_t e = m().last;
  m().last = cudaSuccess;
  return e;
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    default: return "cudaErrorUnknown";
  }
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    default: return "unknown error";
  }
}
