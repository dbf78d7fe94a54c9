// CUDA Graphs for --xla: the training step (forward, loss, backward) is captured once from the
// op stream and then replayed with one launch per step. Shapes are static, every parameter and
// buffer keeps its address (optimizers update in place), and the step's intermediates live in
// the capture's private allocator pool (allocator.cc), so a replay recomputes everything into
// the same memory. Inputs are copied into fixed tensors before each replay.
//
// Capture is "relaxed" so the allocator may still cudaMalloc; anything that synchronises with
// the host (a D2H copy, cudaStreamSynchronize) makes the capture fail, and graph_abort() then
// closes it and drops the partial graph, so the caller can fall back to eager steps.
#include <map>
#include <mutex>

#include "../backend.h"
#include "device.h"

namespace vnet::cuda {

namespace {

struct Graph {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
};

std::mutex g_mu;
std::map<int, Graph> g_graphs;
int g_next = 1;
int g_open = 0;  // id of the capture in progress, 0 when none

}  // namespace

int graph_begin() {
  std::lock_guard<std::mutex> lock(g_mu);
  VNET_CHECK(!g_open, VNET_E_INVALID_ARG, "a CUDA Graph capture is already open");
  cudaStream_t s = stream();
  int id = g_next++;
  pool_begin(id);
  cudaError_t e = cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
  if (e != cudaSuccess) {
    pool_release(id);
    throw_cuda(e, "cudaStreamBeginCapture", __FILE__, __LINE__);
  }
  g_open = id;
  return id;
}

int graph_end() {
  std::lock_guard<std::mutex> lock(g_mu);
  VNET_CHECK(g_open, VNET_E_INVALID_ARG, "graph_end without graph_begin");
  int id = g_open;
  g_open = 0;
  pool_end();
  Graph g;
  cudaError_t e = cudaStreamEndCapture(stream(), &g.graph);
  if (e != cudaSuccess || !g.graph) {
    cudaGetLastError();
    pool_release(id);
    throw_cuda(e != cudaSuccess ? e : cudaErrorStreamCaptureInvalidated, "cudaStreamEndCapture", __FILE__, __LINE__);
  }
  e = cudaGraphInstantiate(&g.exec, g.graph, 0);
  if (e != cudaSuccess) {
    cudaGetLastError();
    cudaGraphDestroy(g.graph);
    pool_release(id);
    throw_cuda(e, "cudaGraphInstantiate", __FILE__, __LINE__);
  }
  g_graphs[id] = g;
  return id;
}

void graph_abort() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_open) return;
  int id = g_open;
  g_open = 0;
  pool_end();
  cudaGraph_t partial = nullptr;
  cudaStreamEndCapture(stream(), &partial);  // ends an invalidated capture too
  if (partial) cudaGraphDestroy(partial);
  cudaGetLastError();
  pool_release(id);
}

void graph_launch(int id) {
  cudaGraphExec_t exec = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_graphs.find(id);
    VNET_CHECK(it != g_graphs.end(), VNET_E_INVALID_ARG, "no CUDA Graph " + std::to_string(id));
    exec = it->second.exec;
  }
  VNET_CUDA_CHECK(cudaGraphLaunch(exec, stream()));
}

void graph_destroy(int id) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_graphs.find(id);
  if (it == g_graphs.end()) return;
  // A replay may still be running: the pool's blocks go back to shared use only after it.
  cudaStreamSynchronize(stream());
  cudaGraphExecDestroy(it->second.exec);
  cudaGraphDestroy(it->second.graph);
  g_graphs.erase(it);
  pool_release(id);
}

void memset_zero(void* p, size_t n) {
  if (!n) return;
  VNET_CUDA_CHECK(cudaMemsetAsync(p, 0, n, stream()));
}

}  // namespace vnet::cuda
