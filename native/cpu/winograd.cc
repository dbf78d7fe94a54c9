// Winograd F(m³, 3³) convolutions on the CPU: tile plans, the filter transforms and their cache,
// and the split of tiles over the thread pool; the ISA kernels (isa/winograd_body.h) do the work.
// Baseline-compiled like conv3d_fast.cc.
//
// Error (max |err| / max |out| against float64, `test/conv_winograd.test.ts`, both ISAs):
// F(2³, 3³) at most 7.2e-7 on random data and 5.4e-7 on real V-Net activations, within the
// 1e-5 bound in every direction; F(4³, 3³) up to 4.7e-5 and 2.1e-5: its transforms amplify
// rounding, so the engine never picks it (winograd4 in `bench conv`).
#include "winograd.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

#include "../threadpool.h"
#include "conv_tasks.h"
#include "cpu_features.h"

namespace vnet::cpu {

namespace {

const WinoIsaKernels* pick_wino() {
  static const WinoIsaKernels* k = [] {
    const Isa isa = detect_isa();
    return isa == Isa::Avx512 ? wino_kernels_avx512() : isa == Isa::Avx2 ? wino_kernels_avx2() : nullptr;
  }();
  return k;
}

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }

// Tiles of m³ outputs over the output grid (OD, OH, OW) of an input grid (ID, IH, IW).
WinoTiles make_tiles(int m, int64_t N, int64_t ID, int64_t IH, int64_t IW, int64_t OD, int64_t OH, int64_t OW,
                     int64_t pd, int64_t ph, int64_t pw) {
  WinoTiles t;
  t.m = m;
  t.N = N;
  t.ID = ID; t.IH = IH; t.IW = IW;
  t.OD = OD; t.OH = OH; t.OW = OW;
  t.pd = pd; t.ph = ph; t.pw = pw;
  t.td = cdiv(OD, m); t.th = cdiv(OH, m); t.tw = cdiv(OW, m);
  return t;
}

// Tiles per block: the block's Winograd-domain scratch (a³ x block x `row` floats) within
// about `kib` KiB, a multiple of the GEMM's register tile, in [lo, hi]. fprop keeps its block
// (384 KiB) in the 1 MiB L2 beside the filter panels streaming through; wgrad's reduction runs
// over the block's tiles with the register tile of dU held, so it wants many (2 MiB, at least
// 32: the per-e slices it reads stay in L2 while the whole block streams from L3).
int64_t block_tiles(int m, int64_t row, int rw, int64_t kib, int64_t lo, int64_t hi) {
  const int64_t e = int64_t(m + 2) * (m + 2) * (m + 2);
  const int64_t fit = (kib << 10) / (4 * e * row);
  return std::max<int64_t>(lo, std::min<int64_t>(hi, fit / rw * rw));
}

// ---- filter transforms, cached per weight contents ------------------------------------------

struct CacheKey {
  uint64_t id;
  int dir, m, kb;
  bool operator<(const CacheKey& o) const {
    return id != o.id ? id < o.id : dir != o.dir ? dir < o.dir : m != o.m ? m < o.m : kb < o.kb;
  }
};
struct CacheEntry {
  std::weak_ptr<const void> owner;
  uint64_t version = 0;
  int64_t cin = 0, cout = 0;
  std::shared_ptr<std::vector<float>> buf;  // null while these contents were used only once
  const float* u = nullptr;
};

// One entry per (weights, direction, tile size, ISA panel). A transform is kept from the second
// call that sees the same contents on: a training step uses each version of the weights once
// per direction, so training holds no transforms (its peak memory stays put), while inference
// and evaluation, which reuse them, compute each once. A new version replaces the entry, an
// entry whose weights were freed goes at the next insertion, and the kept transforms stay
// under 64 MiB (the V-Net's 15 residual layers need 32 MiB per direction).
class FilterCache {
 public:
  // The transform u (nkb, a³, cin, KB) of `tag`'s current contents: cached, or computed by
  // `make` into the cache (second use) or into `scratch` (first use).
  template <class Make>
  std::shared_ptr<std::vector<float>> get(const CacheKey& key, const WeightTag& tag, int64_t cin, int64_t cout,
                                          size_t n, Make make, std::vector<float>& scratch, const float** u) {
    bool seen = false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      auto it = map_.find(key);
      if (it != map_.end() && it->second.version == tag.version && it->second.cin == cin && it->second.cout == cout &&
          !it->second.owner.expired()) {
        if (it->second.buf) {
          hits_++;
          *u = it->second.u;
          return it->second.buf;
        }
        seen = true;
      }
    }
    std::shared_ptr<std::vector<float>> buf;
    float* dst = nullptr;
    if (seen) {
      buf = std::make_shared<std::vector<float>>();
      dst = grow64(*buf, n);
    } else {
      dst = grow64(scratch, n);
    }
    make(dst);
    std::lock_guard<std::mutex> lk(mu_);
    misses_++;
    map_[key] = CacheEntry{tag.owner, tag.version, cin, cout, buf, buf ? dst : nullptr};
    trim();
    *u = dst;
    return buf;
  }

  WinoCacheStats stats() {
    std::lock_guard<std::mutex> lk(mu_);
    WinoCacheStats s{hits_, misses_, 0, 0};
    for (auto& [k, e] : map_)
      if (e.buf) {
        s.entries++;
        s.bytes += int64_t(e.buf->size() * sizeof(float));
      }
    return s;
  }

 private:
  void trim() {
    size_t bytes = 0;
    for (auto it = map_.begin(); it != map_.end();) {
      if (it->second.owner.expired()) {
        it = map_.erase(it);
      } else {
        if (it->second.buf) bytes += it->second.buf->size() * sizeof(float);
        ++it;
      }
    }
    // Oldest storages first (ids grow with allocation order).
    for (auto it = map_.begin(); bytes > kMaxBytes && it != map_.end(); ++it)
      if (it->second.buf) {
        bytes -= it->second.buf->size() * sizeof(float);
        it->second.buf.reset();
        it->second.u = nullptr;
      }
  }

  static constexpr size_t kMaxBytes = size_t(64) << 20;
  std::mutex mu_;
  std::map<CacheKey, CacheEntry> map_;
  int64_t hits_ = 0, misses_ = 0;
};

FilterCache& filter_cache() {
  static FilterCache c;
  return c;
}

// The filters of an fprop-shaped pass (dir 0: w (27, C, K) as is; dir 1, dgrad: flipped on the
// three axes with C and K swapped) transformed into (nkb, a³, cin, KB).
const float* filter_transform(const WinoIsaKernels* k, int m, int dir, const ConvGeom& g, const float* w,
                              const WeightTag* tag, std::shared_ptr<std::vector<float>>& hold) {
  const int64_t cin = dir == 0 ? g.C : g.K, cout = dir == 0 ? g.K : g.C, e = int64_t(m + 2) * (m + 2) * (m + 2);
  const size_t n = size_t(cdiv(cout, k->kb) * e * cin * k->kb);
  auto make = [&](float* u) {
    // dgrad reads w(26 - tap, co, ci): the flipped filter with its channels swapped.
    const float* base = dir == 0 ? w : w + 26 * g.C * g.K;
    const int64_t ts = dir == 0 ? g.C * g.K : -g.C * g.K, cs = dir == 0 ? g.K : 1, os = dir == 0 ? 1 : g.K;
    const int64_t items = cdiv(cout, k->kb) * cin;
    parallel_for(items, 8, [&](int64_t i0, int64_t i1) { k->filter(m, base, ts, cs, os, cin, cout, i0, i1, u); });
  };
  // This thread's transform of weights seen once (or untagged): reused by its next call.
  thread_local std::vector<float> scratch;
  const float* u = nullptr;
  if (tag) {
    hold = filter_cache().get(CacheKey{tag->id, dir, m, k->kb}, *tag, cin, cout, n, make, scratch, &u);
    return u;
  }
  float* dst = grow64(scratch, n);
  make(dst);
  return dst;
}

bool run_fprop(const ConvGeom& g, int m, int dir, const float* in, const float* w, float* out, const WeightTag* tag) {
  const WinoIsaKernels* k = pick_wino();
  if (!k || !winograd_covers(g) || (m != 2 && m != 4)) return false;
  WinoFwdPlan p;
  // dgrad is the fprop of dy over the input grid with the flipped filter and pads 2 - p.
  p.t = dir == 0 ? make_tiles(m, g.N, g.D, g.H, g.W, g.OD, g.OH, g.OW, g.pd, g.ph, g.pw)
                 : make_tiles(m, g.N, g.OD, g.OH, g.OW, g.D, g.H, g.W, 2 - g.pd, 2 - g.ph, 2 - g.pw);
  p.cin = dir == 0 ? g.C : g.K;
  p.cout = dir == 0 ? g.K : g.C;
  p.cs = round_up(p.cin, k->kb / 2);
  p.in = in;
  p.out = out;
  std::shared_ptr<std::vector<float>> hold;
  p.u = filter_transform(k, m, dir, g, w, tag, hold);
  p.block = block_tiles(m, p.cs + k->kb, k->rw, 384, k->rw, 8 * k->rw);
  const int64_t scratch = wino_fprop_scratch(p, k->kb);
  const int64_t tiles = p.t.count();
  run_chunks(tiles, split_tasks(tiles, 1, p.block, num_threads()), [&](int64_t t0, int64_t t1) {
    thread_local std::vector<float> buf;  // this worker's own
    k->fprop(p, t0, t1, grow64(buf, size_t(scratch)));
  });
  return true;
}

}  // namespace

bool winograd_covers(const ConvGeom& g) {
  return g.kd == 3 && g.kh == 3 && g.kw == 3 && g.sd == 1 && g.sh == 1 && g.sw == 1 && g.pd >= 0 && g.pd <= 2 &&
         g.ph >= 0 && g.ph <= 2 && g.pw >= 0 && g.pw <= 2 && g.N > 0 && g.C > 0 && g.K > 0 && g.OD > 0 && g.OH > 0 &&
         g.OW > 0;
}

bool conv3d_fprop_winograd(const ConvGeom& g, int m, const float* x, const float* w, float* y, const WeightTag* tag) {
  return run_fprop(g, m, 0, x, w, y, tag);
}

bool conv3d_dgrad_winograd(const ConvGeom& g, int m, const float* dy, const float* w, float* dx, const WeightTag* tag) {
  return run_fprop(g, m, 1, dy, w, dx, tag);
}

bool conv3d_wgrad_winograd(const ConvGeom& g, int m, const float* x, const float* dy, float* dw) {
  const WinoIsaKernels* k = pick_wino();
  if (!k || !winograd_covers(g) || (m != 2 && m != 4)) return false;
  WinoWgradPlan p;
  p.t = make_tiles(m, g.N, g.D, g.H, g.W, g.OD, g.OH, g.OW, g.pd, g.ph, g.pw);
  p.C = g.C;
  p.K = g.K;
  p.cs = round_up(g.C, k->kb / 2);
  p.kp = round_up(g.K, k->kb);
  p.x = x;
  p.dy = dy;
  p.block = block_tiles(m, p.cs + p.kp, k->rw, 2048, 32, 256);
  const int64_t e = int64_t(m + 2) * (m + 2) * (m + 2), psize = e * g.C * p.kp, scratch = wino_wgrad_scratch(p);
  const int64_t tiles = p.t.count();
  // Each chunk of tiles sums into its own partial (zeroed by its task), added in chunk order:
  // the chunking depends only on the shape and the thread count, and so do the results. More
  // chunks than threads only while the partials stay within 8 MiB.
  const int nt = std::max(1, num_threads());
  const int64_t max_parts = std::max<int64_t>(nt, (int64_t(8) << 20) / (4 * psize));
  const int64_t np = std::max<int64_t>(1, std::min(max_parts, split_tasks(tiles, 1, 2 * p.block, nt)));
  thread_local std::vector<float> part_buf;
  float* part = grow64(part_buf, size_t(psize * np));
  parallel_tasks(int(np), [&](int t) {
    thread_local std::vector<float> buf;  // this worker's own
    const int64_t t0 = tiles * t / np, t1 = tiles * (t + 1) / np;
    std::fill(part + t * psize, part + (t + 1) * psize, 0.f);
    if (t0 < t1) k->wgrad(p, t0, t1, part + t * psize, grow64(buf, size_t(scratch)));
  });
  if (np > 1)
    parallel_for(psize, 4096, [&](int64_t i0, int64_t i1) {
      for (int64_t t = 1; t < np; t++) {
        const float* src = part + t * psize;
        for (int64_t i = i0; i < i1; i++) part[i] += src[i];
      }
    });
  parallel_for(g.C, 1, [&](int64_t c0, int64_t c1) { k->filter_grad(m, part, g.C, g.K, p.kp, c0, c1, dw); });
  return true;
}

WinoCacheStats wino_cache_stats() { return filter_cache().stats(); }

}  // namespace vnet::cpu
