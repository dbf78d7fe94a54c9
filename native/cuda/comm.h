// Data-parallel communication over NCCL (one process per GPU): the unique id that rank 0
// creates and the launcher hands to every rank, the communicator, an in-place all-reduce
// (sum or average) and a broadcast from a root rank, all queued on the op stream.
// Not yet exposed through the binding (see the issue notes for the surface it needs).
#pragma once
#include <string>

#include "../tensor.h"

namespace vnet::cuda {

std::string nccl_unique_id();                                   // 128 bytes
void nccl_init(int rank, int nranks, const std::string& unique_id);
bool nccl_ready();
void nccl_broadcast(Tensor& t, int root);                       // in place
void nccl_finalize();

}  // namespace vnet::cuda
