// A stand-in libnccl.so.2 for the host shim's tests: a communicator of one rank (all-reduce and
// broadcast are copies), enough to run the engine's flat all-reduce and its set-up and tear-down
// on the CPU. VNET_FAKE_NCCL_LOG names a file that gets one line per call, so a test can check
// the order (init before all-reduce, destroy at the end).
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "native/cuda/nccl_api.h"
#include "on_stream.h"

using namespace vnet::nccl;

struct ncclComm {
  int rank = 0, nranks = 1;
};

namespace {

void note(const char* call) {
  if (const char* path = std::getenv("VNET_FAKE_NCCL_LOG"))
    if (FILE* f = std::fopen(path, "a")) {
      std::fprintf(f, "%s\n", call);
      std::fclose(f);
    }
}

size_t bytes_of(DataType t) { return t == ncclFloat16 ? 2 : t == ncclFloat64 || t == ncclInt64 || t == ncclUint64 ? 8 : t <= ncclUint8 ? 1 : 4; }

}  // namespace

extern "C" {

Result ncclGetVersion(int* v) { *v = 22707; return ncclSuccess; }
const char* ncclGetErrorString(Result r) { return r == ncclSuccess ? "no error" : r == ncclInvalidUsage ? "invalid usage" : "invalid argument"; }
Result ncclGetUniqueId(UniqueId* id) {
  note("ncclGetUniqueId");
  std::memset(id->internal, 0, sizeof id->internal);
  std::snprintf(id->internal, sizeof id->internal, "vnet fake nccl");
  return ncclSuccess;
}
Result ncclCommInitRank(Comm* c, int nranks, UniqueId, int rank) {
  note("ncclCommInitRank");
  if (nranks != 1 || rank != 0) return ncclInvalidUsage;  // one process cannot stand in for several ranks
  *c = new ncclComm();
  return ncclSuccess;
}
Result ncclCommDestroy(Comm c) {
  note("ncclCommDestroy");
  if (!c) return ncclInvalidArgument;
  delete c;
  return ncclSuccess;
}
Result ncclAllReduce(const void* send, void* recv, size_t count, DataType t, RedOp, Comm c, cudaStream_t s) {
  note("ncclAllReduce");
  if (!c) return ncclInvalidArgument;
  const size_t n = count * bytes_of(t);
  if (send != recv) on_stream(s, [=] { std::memmove(recv, send, n); });  // sum or mean over one rank
  return ncclSuccess;
}
Result ncclBroadcast(const void* send, void* recv, size_t count, DataType t, int root, Comm c, cudaStream_t s) {
  note("ncclBroadcast");
  if (!c || root != 0) return ncclInvalidArgument;
  const size_t n = count * bytes_of(t);
  if (send != recv) on_stream(s, [=] { std::memmove(recv, send, n); });
  return ncclSuccess;
}

}  // extern "C"
