// dlopen-based loader for the NVIDIA libraries (see dynlib.h). No Python is run: the folders
// Python installs wheels into are found by globbing.
#include "dynlib.h"

#include <dlfcn.h>
#include <glob.h>
#include <sys/stat.h>

#include <cstdlib>
#include <set>

#include "../env.h"
#include "../error.h"

namespace vnet::cuda {

namespace {

bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool is_file(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && !S_ISDIR(st.st_mode);
}

void add_glob(const std::string& pattern, std::vector<std::string>& out) {
  glob_t g;
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; i++) out.push_back(g.gl_pathv[i]);
  }
  globfree(&g);
}

void split_path(const char* v, std::vector<std::string>& out) {
  if (!v) return;
  std::string s(v);
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(':', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

std::string dirname_of(const std::string& p) {
  size_t k = p.rfind('/');
  return k == std::string::npos ? "." : p.substr(0, k);
}

}  // namespace

std::string LoadedLib::error() const {
  std::string s = display + " could not be loaded (needed: " + needed + "). Tried:";
  size_t shown = 0;
  for (auto& t : tried) {
    if (++shown > 40) {
      s += " ... (" + std::to_string(tried.size() - 40) + " more)";
      break;
    }
    s += "\n  " + t;
  }
  return s;
}

std::vector<std::string> library_search_dirs(const LibSpec& spec) {
  const char* root_env = env::get("VNET_LIB_ROOT");
  const std::string root = root_env ? root_env : "";
  std::vector<std::string> dirs;
  split_path(std::getenv("LD_LIBRARY_PATH"), dirs);
  for (const char* d : {"/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib",
                        "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/local/lib", "/usr/lib",
                        "/opt/nvidia/lib64"})
    dirs.push_back(root + d);
  add_glob(root + "/usr/local/cuda-*/lib64", dirs);
  // Python wheels: site-packages/nvidia/<dir>/lib under the usual prefixes, conda and virtual
  // environments under /opt (/opt/conda, /opt/torch/.venv: glob's * skips dot folders, so
  // .venv is named), the user's and the active environment's.
  std::vector<std::string> roots;
  for (const char* pat : {"/usr/lib/python3*/dist-packages", "/usr/lib/python3*/site-packages",
                          "/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages",
                          "/usr/lib64/python3*/site-packages", "/opt/*/lib/python3*/site-packages",
                          "/opt/*/.venv/lib/python3*/site-packages", "/opt/*/venv/lib/python3*/site-packages",
                          "/opt/*/*/lib/python3*/site-packages", "/opt/.venv/lib/python3*/site-packages",
                          "/opt/venv/lib/python3*/site-packages"})
    add_glob(root + pat, roots);
  if (const char* h = std::getenv("HOME")) add_glob(std::string(h) + "/.local/lib/python3*/site-packages", roots);
  for (const char* env : {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
    if (const char* p = std::getenv(env)) add_glob(std::string(p) + "/lib/python3*/site-packages", roots);
  }
  split_path(std::getenv("PYTHONPATH"), roots);
  for (auto& r : roots)
    for (const char* pd : spec.pip_dirs) dirs.push_back(r + "/nvidia/" + pd + "/lib");
  // Keep the first occurrence of each folder.
  std::vector<std::string> uniq;
  std::set<std::string> seen;
  for (auto& d : dirs)
    if (seen.insert(d).second) uniq.push_back(d);
  return uniq;
}

LoadedLib load_library(const LibSpec& spec) {
  LoadedLib lib;
  lib.display = spec.display;
  lib.needed = spec.needed;
  auto try_file = [&](const std::string& path) -> bool {
    if (!is_file(path)) {
      lib.tried.push_back(path + " (no such file)");
      return false;
    }
    std::string dir = dirname_of(path);
    // Companions first, twice (one may need another loaded before it); failures are noted,
    // not fatal: the main library reports what it lacks.
    std::vector<std::string> comp;
    for (const char* c : spec.companions) add_glob(dir + "/" + c, comp);
    std::vector<Preloaded> pre;
    std::set<std::string> done;
    for (int pass = 0; pass < 2; pass++)
      for (const std::string& cp : comp) {
        if (done.count(cp) || cp == path) continue;
        void* h = dlopen(cp.c_str(), RTLD_NOW | RTLD_GLOBAL);
        if (h) {
          done.insert(cp);
          pre.push_back({cp, h});
        } else if (pass == 1) {
          const char* e = dlerror();
          lib.tried.push_back(cp + " (companion: " + (e ? e : "dlopen failed") + ")");
        }
      }
    void* h = dlopen(path.c_str(), RTLD_NOW | (spec.global ? RTLD_GLOBAL : RTLD_LOCAL));
    if (!h) {
      const char* e = dlerror();
      lib.tried.push_back(path + " (" + (e ? e : "dlopen failed") + ")");
      return false;
    }
    lib.handle = h;
    lib.path = path;
    lib.preloaded = pre;
    return true;
  };

  // 1. The env var: a file, or a folder to look in.
  if (const char* ev = env::get(spec.env_var); ev && *ev) {
    std::string p(ev);
    if (is_dir(p)) {
      for (const char* so : spec.sonames)
        if (try_file(p + "/" + so)) return lib;
    } else if (try_file(p)) {
      return lib;
    }
  }
  // VNET_LIB_SEARCH=env: only the env var is tried (tests, and users who pin a library).
  if (const char* only = env::get("VNET_LIB_SEARCH"); only && std::string(only) == "env") {
    if (lib.tried.empty()) lib.tried.push_back(std::string(spec.env_var) + " is not set (VNET_LIB_SEARCH=env)");
    return lib;
  }
  // 2. Folders (LD_LIBRARY_PATH, system, Python wheels). Missing folders are noted once.
  for (const std::string& d : library_search_dirs(spec)) {
    if (!is_dir(d)) {
      lib.tried.push_back(d + "/ (no such folder)");
      continue;
    }
    for (const char* so : spec.sonames)
      if (try_file(d + "/" + so)) return lib;
  }
  // 3. The dynamic loader's own search (ld.so.cache, RUNPATH); not under a test root.
  if (const char* r = env::get("VNET_LIB_ROOT"); r && *r) return lib;
  for (const char* so : spec.sonames) {
    void* h = dlopen(so, RTLD_NOW | (spec.global ? RTLD_GLOBAL : RTLD_LOCAL));
    if (h) {
      lib.handle = h;
      char buf[4096];
      lib.path = so;
      if (dlinfo(h, RTLD_DI_ORIGIN, buf) == 0) lib.path = std::string(buf) + "/" + so;
      return lib;
    }
    const char* e = dlerror();
    lib.tried.push_back(std::string("dlopen(\"") + so + "\") (" + (e ? e : "failed") + ")");
  }
  return lib;
}

void* find_symbol(const LoadedLib& lib, const char* name, bool required) {
  void* p = lib.handle ? dlsym(lib.handle, name) : nullptr;
  if (!p && required)
    throw_error(ErrorCode::VNET_E_LIBRARY, lib.display + " at " + lib.path + " lacks the symbol " + name +
                                               " (needed: " + lib.needed + ")");
  return p;
}

}  // namespace vnet::cuda
