// Run-time loading of the NVIDIA libraries (cuDNN, cuBLAS, NCCL) with dlopen: the addon links
// none of them, so it builds and loads where they are absent and finds them where GPU machines
// keep them (system folders, LD_LIBRARY_PATH, Python's site-packages/nvidia/*/lib).
#pragma once
#include <string>
#include <vector>

namespace vnet::cuda {

struct LibSpec {
  const char* display;                    // "cuDNN"
  const char* env_var;                    // "VNET_CUDNN_PATH": a file or a folder
  const char* pip_dir;                    // "cudnn": site-packages/nvidia/<pip_dir>/lib
  std::vector<const char*> sonames;       // tried in order in each folder
  // Companion libraries loaded (RTLD_GLOBAL) from the same folder first, best effort: cuDNN's
  // dispatcher opens its sub-libraries by bare soname, cuBLAS needs cuBLASLt.
  std::vector<const char*> companions;
  const char* needed;                     // "cuDNN >= 8.0 (9.x preferred)"
};

struct LoadedLib {
  void* handle = nullptr;
  std::string path;                // the file that loaded
  std::vector<std::string> tried;  // every candidate, with why it failed
  std::string error() const;      // "<display> not found: tried ..." for messages
  std::string display;
  std::string needed;
};

// Folders searched, in order, for one library (env var, LD_LIBRARY_PATH, system, Python).
std::vector<std::string> library_search_dirs(const LibSpec& spec);

// Tries every folder and soname; finally a bare dlopen (the loader's own cache). Never throws.
LoadedLib load_library(const LibSpec& spec);

// Resolves a symbol or returns null; `required` throws VNET_E_LIBRARY naming lib and symbol.
void* find_symbol(const LoadedLib& lib, const char* name, bool required);

}  // namespace vnet::cuda
