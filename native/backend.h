// The CUDA backend's surface as the rest of the engine sees it. Built from native/cuda/ when
// nvcc is found; otherwise native/cuda_stub.cc answers "not compiled" for every call.
#pragma once
#include <cstddef>
#include <string>

namespace vnet::cuda {

bool compiled();                         // the addon was built with the CUDA code
bool available(std::string* why);        // a driver and a device are usable (no library loads)
void init(int device_index);             // select a device, install the allocator, load libraries
void memcpy_h2d(void* dst, const void* src, size_t n);
void memcpy_d2h(void* dst, const void* src, size_t n);
void memcpy_d2d(void* dst, const void* src, size_t n);
void synchronize();
std::string doctor_json();               // driver, runtime, cuDNN, cuBLAS, NCCL, GPUs, as JSON

}  // namespace vnet::cuda
