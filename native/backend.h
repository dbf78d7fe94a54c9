// The CUDA backend's surface as the rest of the engine sees it. Built from native/cuda/ when
// nvcc is found; otherwise native/cuda_stub.cc answers "not compiled" for every call.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "tensor.h"

namespace vnet::cuda {

bool compiled();                         // the addon was built with the CUDA code
bool available(std::string* why);        // a driver and a device are usable (no library loads)
void init(int device_index);             // select a device, install the allocator, load libraries
void memcpy_h2d(void* dst, const void* src, size_t n);
void memcpy_d2h(void* dst, const void* src, size_t n);
void memcpy_d2d(void* dst, const void* src, size_t n);
void synchronize();
std::string doctor_json();               // driver, runtime, cuDNN, cuBLAS, NCCL, GPUs, as JSON
void memset_zero(void* p, size_t n);     // queued on the op stream (capturable, unlike an H2D copy)
// Math modes for every later CUDA op: TF32 for fp32 convolutions and GEMMs (default on), only
// deterministic algorithms (default off). Each argument: 1 on, 0 off, -1 unchanged. The process
// default comes from VNET_TF32 / VNET_DETERMINISTIC; a call's attrs (tf32, deterministic) win.
void set_math_modes(int tf32, int deterministic);
bool tf32_enabled();
bool deterministic_mode();

// CUDA Graphs (native/cuda/graph.cc): capture the ops queued between graph_begin and graph_end,
// replay them with graph_launch. graph_abort closes a failed capture and drops it.
int graph_begin();
int graph_end();
void graph_abort();
void graph_launch(int id);
void graph_destroy(int id);

// Data parallel over NCCL (native/cuda/comm.cc): rank 0 makes the id, the launcher's rendezvous
// hands it to every rank.
std::string nccl_unique_id();            // 128 bytes
void nccl_init(int rank, int nranks, const std::string& unique_id);
// One all-reduce over all of `ts` (same dtype), packed into one flat device buffer and back.
void nccl_all_reduce_flat(const std::vector<Tensor*>& ts, bool average);
void nccl_broadcast(Tensor& t, int root);
void nccl_finalize();

}  // namespace vnet::cuda
