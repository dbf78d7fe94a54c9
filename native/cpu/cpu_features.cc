// CPU feature detection (see cpu_features.h).
#include "cpu_features.h"

#include "../env.h"

#include <cstdlib>
#include <cstring>

namespace vnet::cpu {

namespace {
Isa probe() {
  Isa best = Isa::Portable;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = Isa::Avx2;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl"))
    best = Isa::Avx512;
#endif
  if (const char* e = env::get("VNET_ISA")) {
    Isa want = !std::strcmp(e, "avx512") ? Isa::Avx512 : !std::strcmp(e, "avx2") ? Isa::Avx2 : Isa::Portable;
    if (int(want) < int(best)) best = want;
  }
  return best;
}
}  // namespace

Isa detect_isa() {
  static const Isa isa = probe();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "portable";
  }
}

}  // namespace vnet::cpu
