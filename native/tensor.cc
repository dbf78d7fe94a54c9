// Tensor metadata helpers, storage accounting per device and the built-in CPU allocator.
#include "tensor.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>
#include <sstream>

#include "error.h"

namespace vnet {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::I32: return 4;
  }
  return 4;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::I32: return "i32";
  }
  return "?";
}

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

DType dtype_from_name(const std::string& s) {
  if (s == "f32" || s == "float32") return DType::F32;
  if (s == "f16" || s == "float16") return DType::F16;
  if (s == "i32" || s == "int32") return DType::I32;
  throw_error(ErrorCode::VNET_E_DTYPE, "unknown dtype '" + s + "' (expected f32, f16 or i32)");
}

Device device_from_name(const std::string& s) {
  if (s == "cpu") return Device::CPU;
  if (s == "cuda" || s == "gpu") return Device::CUDA;
  throw_error(ErrorCode::VNET_E_DEVICE, "unknown device '" + s + "' (expected cpu or cuda)");
}

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << '[';
  for (size_t i = 0; i < s.size(); i++) o << (i ? "," : "") << s[i];
  o << ']';
  return o.str();
}

// Checked: a product past 2^59 elements (whose bytes would not fit in int64) is an error, never a
// wrapped count that allocates a few elements for a huge shape.
int64_t shape_numel(const Shape& s) {
  constexpr int64_t kMaxNumel = int64_t(1) << 59;
  int64_t n = 1;
  for (int64_t d : s) {
    VNET_CHECK(d >= 0, VNET_E_SHAPE, "negative dimension in shape " + shape_str(s));
    if (__builtin_mul_overflow(n, d, &n) || n > kMaxNumel)
      throw_error(ErrorCode::VNET_E_SHAPE, "shape " + shape_str(s) + " has more elements than the engine can address");
  }
  return n;
}

std::string Tensor::describe() const {
  return std::string(dtype_name(dtype)) + shape_str(shape) + "@" + device_name(device);
}

namespace {

struct DeviceState {
  std::atomic<int64_t> live_tensors{0};
  std::atomic<int64_t> live_bytes{0};
  std::atomic<int64_t> peak_bytes{0};
  DeviceAllocator alloc;
};

// CPU caching allocator: blocks of 64 KiB and more are kept on exact-size free lists when
// freed, because a training step allocates the same sizes every step. Reusing them avoids the
// page faults of fresh memory and the heap fragmentation that otherwise inflates resident memory.
constexpr size_t kCacheMin = 64 << 10;
std::mutex g_cache_mu;
std::map<size_t, std::vector<void*>> g_cache;
std::atomic<int64_t> g_cached_bytes{0};

size_t rounded(size_t bytes) { return bytes ? (bytes + 63) / 64 * 64 : 64; }

void* cpu_alloc(size_t bytes) {
  size_t sz = rounded(bytes);
  if (sz >= kCacheMin) {
    std::lock_guard<std::mutex> lk(g_cache_mu);
    auto it = g_cache.find(sz);
    if (it != g_cache.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      g_cached_bytes -= int64_t(sz);
      return p;
    }
  }
  // 64-byte alignment for AVX-512 loads.
  void* p = std::aligned_alloc(64, sz);
  if (!p && sz >= kCacheMin) {  // out of memory: give the cache back and try once more
    {
      std::lock_guard<std::mutex> lk(g_cache_mu);
      for (auto& [size, blocks] : g_cache)
        for (void* b : blocks) std::free(b);
      g_cache.clear();
      g_cached_bytes = 0;
    }
    p = std::aligned_alloc(64, sz);
  }
  return p;
}

void cpu_free(void* p, size_t bytes) {
  size_t sz = rounded(bytes);
  if (sz >= kCacheMin) {
    std::lock_guard<std::mutex> lk(g_cache_mu);
    g_cache[sz].push_back(p);
    g_cached_bytes += int64_t(sz);
    return;
  }
  std::free(p);
}

int64_t cpu_cached() { return g_cached_bytes.load(); }

DeviceState& state(Device d) {
  static DeviceState states[kNumDevices];
  static std::once_flag once;
  std::call_once(once, [] { states[0].alloc = DeviceAllocator{cpu_alloc, cpu_free, cpu_cached}; });
  return states[int(d)];
}

}  // namespace

void set_device_allocator(Device d, DeviceAllocator a) { state(d).alloc = a; }
bool device_available(Device d) { return state(d).alloc.alloc != nullptr; }

namespace {
std::atomic<uint64_t> g_next_storage_id{1};
}

Storage::Storage(Device dev, size_t nbytes) : bytes(nbytes), device(dev), id(g_next_storage_id.fetch_add(1)) {
  DeviceState& st = state(dev);
  VNET_CHECK(st.alloc.alloc, VNET_E_DEVICE,
             std::string("device ") + device_name(dev) + " is not available in this process");
  data = st.alloc.alloc(nbytes);
  VNET_CHECK(data, VNET_E_OOM,
             std::string("out of memory allocating ") + std::to_string(nbytes) + " bytes on " +
                 device_name(dev));
  st.live_tensors++;
  int64_t now = st.live_bytes += int64_t(nbytes);
  int64_t peak = st.peak_bytes.load();
  while (now > peak && !st.peak_bytes.compare_exchange_weak(peak, now)) {
  }
}

Storage::~Storage() {
  DeviceState& st = state(device);
  if (data) st.alloc.free(data, bytes);
  st.live_tensors--;
  st.live_bytes -= int64_t(bytes);
}

TensorPtr make_tensor(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape)
    VNET_CHECK(d >= 0, VNET_E_SHAPE, "negative dimension in shape " + shape_str(shape));
  auto t = std::make_shared<Tensor>();
  t->shape = shape;
  t->dtype = dtype;
  t->device = device;
  t->storage = std::make_shared<Storage>(device, t->nbytes());
  return t;
}

MemoryStats memory_stats(Device d) {
  DeviceState& st = state(d);
  MemoryStats m;
  m.live_tensors = st.live_tensors;
  m.live_bytes = st.live_bytes;
  m.peak_bytes = st.peak_bytes;
  m.cached_bytes = st.alloc.cached_bytes ? st.alloc.cached_bytes() : 0;
  return m;
}

}  // namespace vnet
