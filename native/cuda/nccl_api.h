// The part of NCCL the data-parallel trainer needs (unique id, communicator, all-reduce,
// broadcast), declared from NCCL's public API reference and resolved at run time.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

struct ncclComm;

namespace vnet::nccl {

using Comm = ncclComm*;
constexpr int kUniqueIdBytes = 128;
struct UniqueId {
  char internal[kUniqueIdBytes];
};

enum Result : int {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7
};
enum DataType : int {
  ncclInt8 = 0, ncclUint8 = 1, ncclInt32 = 2, ncclUint32 = 3, ncclInt64 = 4, ncclUint64 = 5,
  ncclFloat16 = 6, ncclFloat32 = 7, ncclFloat64 = 8
};
enum RedOp : int { ncclSum = 0, ncclProd = 1, ncclMax = 2, ncclMin = 3, ncclAvg = 4 };

#define VNET_NCCL_FUNCS(X)                                                                      \
  X(ncclGetVersion, Result, (int*))                                                             \
  X(ncclGetErrorString, const char*, (Result))                                                  \
  X(ncclGetUniqueId, Result, (UniqueId*))                                                       \
  X(ncclCommInitRank, Result, (Comm*, int, UniqueId, int))                                      \
  X(ncclCommDestroy, Result, (Comm))                                                            \
  X(ncclAllReduce, Result, (const void*, void*, size_t, DataType, RedOp, Comm, cudaStream_t))   \
  X(ncclBroadcast, Result, (const void*, void*, size_t, DataType, int, Comm, cudaStream_t))

struct Api {
#define VNET_X(name, ret, params) ret(*name) params = nullptr;
  VNET_NCCL_FUNCS(VNET_X)
#undef VNET_X
};

#define VNET_X(name, ret, params) using PFN_##name = ret(*) params;
VNET_NCCL_FUNCS(VNET_X)
#undef VNET_X

constexpr int kMinVersion = 21000;  // ncclGetVersion: major*10000 + minor*100 + patch (2.10+)

}  // namespace vnet::nccl
