// The CPU's convolution algorithm choice (see conv_algo.h).
#include "conv_algo.h"

#include "../env.h"

#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>

#include "../error.h"
#include "../threadpool.h"
#include "cpu_features.h"
#include "winograd.h"

namespace vnet::cpu {

const char* conv_algo_name(ConvAlgo a) {
  switch (a) {
    case ConvAlgo::direct: return "direct";
    case ConvAlgo::winograd: return "winograd";
    case ConvAlgo::winograd4: return "winograd4";
    default: return "reference";
  }
}

const char* conv_dir_name(ConvDir d) { return d == ConvDir::fprop ? "fprop" : d == ConvDir::dgrad ? "dgrad" : "wgrad"; }

std::string conv_algo_setting() {
  const char* e = env::get("VNET_CONV_ALGO");
  const std::string v = e ? e : "";
  if (v.empty() || v == "auto") return "auto";
  VNET_CHECK(v == "direct" || v == "winograd", VNET_E_INVALID_ARG,
             "VNET_CONV_ALGO='" + v + "' is not one of auto, direct, winograd");
  return v;
}

namespace {

struct Memo {
  std::mutex mu;
  std::map<std::vector<int64_t>, size_t> index;  // key -> position in `order`
  std::vector<ConvChoice> order;
};
Memo& memo() {
  static Memo m;
  return m;
}

std::vector<int64_t> key_of(ConvDir d, const ConvGeom& g) {
  return {int64_t(d), g.N,  g.D,  g.H,  g.W,  g.C,  g.K,  g.kd, g.kh, g.kw, g.sd, g.sh, g.sw,
          g.pd,       g.ph, g.pw, g.OD, g.OH, g.OW, num_threads(), int64_t(detect_isa())};
}

double time_ms(const ConvRun& run, ConvAlgo a, bool* ok) {
  const auto t0 = std::chrono::steady_clock::now();
  *ok = run(a);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

ConvAlgo conv_algo_run(ConvDir d, const ConvGeom& g, const ConvRun& run) {
  const std::string setting = conv_algo_setting();
  if (setting == "direct" || !winograd_covers(g)) return run(ConvAlgo::direct), ConvAlgo::direct;
  if (setting == "winograd") {
    if (run(ConvAlgo::winograd)) return ConvAlgo::winograd;
    return run(ConvAlgo::direct), ConvAlgo::direct;
  }
  const std::vector<int64_t> key = key_of(d, g);
  Memo& m = memo();
  bool known = false;
  ConvAlgo a = ConvAlgo::direct;
  {
    std::lock_guard<std::mutex> lk(m.mu);
    auto it = m.index.find(key);
    if ((known = it != m.index.end())) a = m.order[it->second].algo;
  }
  if (known) {
    if (a != ConvAlgo::direct && run(a)) return a;
    return run(ConvAlgo::direct), ConvAlgo::direct;
  }
  // First use: the direct kernel's first call also pays for first-touch page faults of the
  // output, and on a shared machine any call may lose its core for a while, so each candidate
  // runs three times, alternating, and its shortest time counts. Winograd does a third of the
  // multiplies: it keeps the shape unless direct measured more than 10 % faster, so noise on a
  // busy machine does not hand a clear Winograd win to direct.
  ConvChoice c{d, g, num_threads()};
  double td = 1e300, tw = 1e300;
  bool wino_ok = true, ok = true;
  for (int rep = 0; rep < 3 && wino_ok; rep++) {
    td = std::min(td, time_ms(run, ConvAlgo::direct, &ok));
    const double t = time_ms(run, ConvAlgo::winograd, &wino_ok);
    if (wino_ok) tw = std::min(tw, t);
  }
  c.algo = wino_ok && tw <= 1.1 * td ? ConvAlgo::winograd : ConvAlgo::direct;
  c.direct_ms = td;
  c.winograd_ms = wino_ok ? tw : 0;
  if (c.algo == ConvAlgo::direct) run(ConvAlgo::direct);  // the last run was Winograd's
  std::lock_guard<std::mutex> lk(m.mu);
  if (!m.index.count(key)) {
    m.index[key] = m.order.size();
    m.order.push_back(c);
  }
  return c.algo;
}

std::vector<ConvChoice> conv_algo_choices() {
  Memo& m = memo();
  std::lock_guard<std::mutex> lk(m.mu);
  return m.order;
}

}  // namespace vnet::cpu
