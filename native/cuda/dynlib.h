// Run-time loading of the NVIDIA libraries (cuDNN, cuBLAS, NVRTC, NCCL) with dlopen: the addon
// links none of them, so it builds and loads where they are absent and finds them where GPU
// machines keep them (system folders, LD_LIBRARY_PATH, Python's site-packages/nvidia/*/lib,
// including the CUDA 13 wheels' shared nvidia/cu13/lib and virtual environments under /opt).
#pragma once
#include <string>
#include <vector>

namespace vnet::cuda {

struct LibSpec {
  const char* display;                 // "cuDNN"
  const char* env_var;                 // "VNET_CUDNN_PATH": a file or a folder
  std::vector<const char*> pip_dirs;   // {"cublas", "cu13"}: site-packages/nvidia/<dir>/lib
  std::vector<const char*> sonames;    // tried in order in each folder
  // Companions: glob patterns loaded (RTLD_GLOBAL) from the library's own folder first, best
  // effort. cuDNN's dispatcher opens its sub-libraries by bare soname, so every libcudnn_*.so.9
  // of the same folder must already be loaded (a stray system copy gives a version mismatch).
  std::vector<const char*> companions;
  const char* needed;                  // "cuDNN >= 8.0 (9.x preferred)"
  // Load the library itself RTLD_GLOBAL: for libraries another one dlopens by soname (cuDNN
  // opens libcublasLt and libnvrtc itself, and its RUNPATH is only $ORIGIN).
  bool global = false;
};

struct Preloaded {
  std::string path;
  void* handle = nullptr;
};

struct LoadedLib {
  void* handle = nullptr;
  std::string path;                 // the file that loaded
  std::vector<Preloaded> preloaded; // companions that loaded, in order
  std::vector<std::string> tried;   // every candidate, with why it failed
  std::string error() const;        // "<display> could not be loaded ... Tried: ..." for messages
  std::string display;
  std::string needed;
};

// Folders searched, in order, for one library: LD_LIBRARY_PATH, the system's CUDA folders, then
// Python's wheels. VNET_LIB_ROOT=<dir> (tests) puts every fixed and globbed folder under <dir>
// and drops the loader's own search, so a fake tree shows exactly what would be tried.
std::vector<std::string> library_search_dirs(const LibSpec& spec);

// Tries every folder and soname; finally a bare dlopen (the loader's own cache). Never throws.
LoadedLib load_library(const LibSpec& spec);

// Resolves a symbol or returns null; `required` throws VNET_E_LIBRARY naming lib and symbol.
void* find_symbol(const LoadedLib& lib, const char* name, bool required);

}  // namespace vnet::cuda
