// Which algorithm computes a CPU convolution: VNET_CONV_ALGO, or (auto, the default) the faster
// of the direct kernel and Winograd F(2³, 3³) for the direction and shape, timed on the first
// call itself and remembered for the process, as cuDNN's find does.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "../conv_geom.h"

namespace vnet::cpu {

enum class ConvDir { fprop, dgrad, wgrad };
// winograd: F(2³, 3³); winograd4: F(4³, 3³), never chosen by the engine (its error is above the
// 1e-5 bound, see winograd.cc), only timed by `bench conv --algo all` and tested.
enum class ConvAlgo { direct, winograd, winograd4, reference };
const char* conv_algo_name(ConvAlgo a);
const char* conv_dir_name(ConvDir d);

// VNET_CONV_ALGO: "auto" (also when unset or empty), "direct" or "winograd"; any other value
// throws VNET_E_INVALID_ARG naming the variable.
std::string conv_algo_setting();

// Runs the call with algorithm a; false when a does not cover it (direct always does: it falls
// back to the reference loops).
using ConvRun = std::function<bool(ConvAlgo)>;

// Computes the call and returns the algorithm that did. Under auto, the first call of a
// (direction, shape, thread count, ISA) runs both candidates three times, alternating, keeps
// Winograd unless direct's shortest time is more than 10 % below Winograd's and, when the
// kept one was not the last to run, runs it once more, so every call's result comes from the
// remembered algorithm.
ConvAlgo conv_algo_run(ConvDir d, const ConvGeom& g, const ConvRun& run);

// What auto has measured so far, in first-use order.
struct ConvChoice {
  ConvDir dir;
  ConvGeom g;
  int threads = 0;
  ConvAlgo algo = ConvAlgo::direct;
  double direct_ms = 0, winograd_ms = 0;
};
std::vector<ConvChoice> conv_algo_choices();

}  // namespace vnet::cpu
