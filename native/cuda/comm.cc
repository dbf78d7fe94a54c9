// NCCL communicator for data-parallel training (see comm.h).
#include "comm.h"

#include <cstring>
#include <mutex>

#include "../backend.h"
#include "device.h"
#include "libs.h"

namespace vnet::cuda {

namespace {

std::mutex g_mu;
nccl::Comm g_comm = nullptr;
int g_nranks = 0;

void check(nccl::Result r, const char* call) {
  if (r == nccl::ncclSuccess) return;
  const char* s = nccl().ncclGetErrorString ? nccl().ncclGetErrorString(r) : "?";
  throw_error(ErrorCode::VNET_E_NCCL, std::string(call) + ": " + s + " (NCCL result " + std::to_string(int(r)) + ")");
}

nccl::DataType nccl_type(DType dt) {
  switch (dt) {
    case DType::F32: return nccl::ncclFloat32;
    case DType::F16: return nccl::ncclFloat16;
    case DType::I32: return nccl::ncclInt32;
  }
  return nccl::ncclFloat32;
}

}  // namespace

std::string nccl_unique_id() {
  nccl::UniqueId id;
  check(nccl().ncclGetUniqueId(&id), "ncclGetUniqueId");
  return std::string(id.internal, sizeof id.internal);
}

void nccl_init(int rank, int nranks, const std::string& unique_id) {
  std::lock_guard<std::mutex> lock(g_mu);
  VNET_CHECK(!g_comm, VNET_E_INVALID_ARG, "NCCL is already initialised in this process");
  VNET_CHECK(unique_id.size() == size_t(nccl::kUniqueIdBytes), VNET_E_INVALID_ARG,
             "the NCCL unique id must be " + std::to_string(nccl::kUniqueIdBytes) + " bytes");
  VNET_CHECK(nranks >= 1 && rank >= 0 && rank < nranks, VNET_E_INVALID_ARG, "bad NCCL rank or world size");
  stream();  // the device must be initialised first
  nccl::UniqueId id;
  std::memcpy(id.internal, unique_id.data(), sizeof id.internal);
  nccl::Comm c = nullptr;
  check(nccl().ncclCommInitRank(&c, nranks, id, rank), "ncclCommInitRank");
  g_comm = c;
  g_nranks = nranks;
}

bool nccl_ready() { return g_comm != nullptr; }

// The flat buffer stays allocated between steps (the same size every step).
void nccl_all_reduce_flat(const std::vector<Tensor*>& ts, bool average) {
  VNET_CHECK(g_comm, VNET_E_INVALID_ARG, "NCCL all-reduce before nccl_init");
  if (ts.empty()) return;
  DType dt = ts[0]->dtype;
  size_t total = 0;
  for (Tensor* t : ts) {
    VNET_CHECK(t->device == Device::CUDA, VNET_E_DEVICE, "NCCL all-reduce needs CUDA tensors");
    VNET_CHECK(t->dtype == dt, VNET_E_DTYPE, "a flat all-reduce needs tensors of one dtype");
    total += t->nbytes();
  }
  static Scratch flat;
  if (flat.bytes() < total) flat = Scratch(total);
  uint8_t* base = flat.get<uint8_t>();
  size_t off = 0;
  for (Tensor* t : ts) {
    memcpy_d2d(base + off, t->storage->data, t->nbytes());
    off += t->nbytes();
  }
  check(nccl().ncclAllReduce(base, base, total / size_t(dtype_size(dt)), nccl_type(dt),
                             average ? nccl::ncclAvg : nccl::ncclSum, g_comm, stream()),
        "ncclAllReduce");
  off = 0;
  for (Tensor* t : ts) {
    memcpy_d2d(t->storage->data, base + off, t->nbytes());
    off += t->nbytes();
  }
}

void nccl_broadcast(Tensor& t, int root) {
  VNET_CHECK(g_comm, VNET_E_INVALID_ARG, "NCCL broadcast before nccl_init");
  VNET_CHECK(t.device == Device::CUDA, VNET_E_DEVICE, "NCCL broadcast needs a CUDA tensor");
  VNET_CHECK(root >= 0 && root < g_nranks, VNET_E_INVALID_ARG, "bad broadcast root");
  void* p = t.storage->data;
  check(nccl().ncclBroadcast(p, p, size_t(t.numel()), nccl_type(t.dtype), root, g_comm, stream()), "ncclBroadcast");
}

void nccl_finalize() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_comm) return;
  synchronize();
  nccl().ncclCommDestroy(g_comm);
  g_comm = nullptr;
  g_nranks = 0;
}

}  // namespace vnet::cuda
