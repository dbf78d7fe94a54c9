// How the stand-in NVIDIA libraries queue their work: on the host shim's stream (HostStreamView
// in its cuda_runtime.h), so that it runs in stream order and a CUDA Graph capture records it,
// as the real libraries' kernels are. Arguments are captured by value when the call is made.
#pragma once
#include <cuda_runtime.h>

#include <utility>

template <class F>
void on_stream(cudaStream_t s, F f) {
  auto* job = new F(std::move(f));
  if (!s) {  // no stream set: the library's default stream, which the shim does not model
    (*job)();
    delete job;
    return;
  }
  reinterpret_cast<HostStreamView*>(s)->enqueue(
      s, [](void* j) { (*static_cast<F*>(j))(); }, job, [](void* j) { delete static_cast<F*>(j); });
}
