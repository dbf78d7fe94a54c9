// Tensor metadata and storage. Tensors are dense and row-major (the last axis fastest); the
// engine's activations are NDHWC. Storage is reference-counted so that views and the JS
// handles can share it; live counts per device feed memory().
#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vnet {

enum class DType : int { F32 = 0, F16 = 1, I32 = 2 };
enum class Device : int { CPU = 0, CUDA = 1 };
constexpr int kNumDevices = 2;

size_t dtype_size(DType t);
const char* dtype_name(DType t);
const char* device_name(Device d);
DType dtype_from_name(const std::string& s);
Device device_from_name(const std::string& s);

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

// Raw memory on one device. The destructor returns it to the device's allocator.
// `id` is unique in the process and `version` grows with every write into the memory after
// its creation (an op that updates inputs in place, a copy from the host), so (id, version)
// names the contents: what is derived from them (the CPU's Winograd filter transforms) is
// cached under that name and can never be reused for other values.
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device = Device::CPU;
  const uint64_t id;
  std::atomic<uint64_t> version{0};
  Storage(Device dev, size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

struct Tensor {
  std::shared_ptr<Storage> storage;
  Shape shape;
  DType dtype = DType::F32;
  Device device = Device::CPU;

  int64_t numel() const { return shape_numel(shape); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype); }
  int ndim() const { return int(shape.size()); }
  int64_t dim(int i) const { return shape[size_t(i < 0 ? i + ndim() : i)]; }
  template <class T> T* data() const { return static_cast<T*>(storage->data); }
  std::string describe() const;  // "f32[2,32,32,32,16]@cpu"
};
using TensorPtr = std::shared_ptr<Tensor>;

// Allocates an uninitialised tensor on `device`.
TensorPtr make_tensor(const Shape& shape, DType dtype, Device device);

// Live storages and bytes per device (what memory() reports), plus the allocator's cache.
struct MemoryStats {
  int64_t live_tensors = 0;
  int64_t live_bytes = 0;
  int64_t peak_bytes = 0;
  int64_t cached_bytes = 0;  // held by a caching allocator, not in use
};
MemoryStats memory_stats(Device d);

// Per-device allocator hooks; the CPU one is built in, the CUDA backend installs its own.
struct DeviceAllocator {
  void* (*alloc)(size_t bytes) = nullptr;
  void (*free)(void* p, size_t bytes) = nullptr;
  int64_t (*cached_bytes)() = nullptr;
};
void set_device_allocator(Device d, DeviceAllocator a);
bool device_available(Device d);

}  // namespace vnet
