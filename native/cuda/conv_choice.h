// The choice of a cuDNN convolution algorithm as a pure function of what cuDNN reported, kept
// apart from cuDNN so that it is unit-tested on the CPU with synthetic result lists
// (test/cuda-host/host_tests.cc). The order: cuDNN's timed search (Find) for the engine's
// channels-last layout, then cuDNN's heuristics for it, then both again for a channels-first
// formulation (operands transposed by the engine's own kernel); the first acceptable result
// wins. Only when none of the four offers one is it an error, naming the geometry and what each
// search offered.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace vnet::cuda {

// One entry of a cuDNN perf list, in cuDNN's numbers: status 0 is success; math 0 default,
// 1 tensor op, 2 tensor op allowing conversion, 3 FMA.
struct AlgoResult {
  int algo = 0;
  int status = 0;
  size_t memory = 0;
  bool deterministic = true;
  int math = 0;
};

enum class ConvLayout { ChannelsLast, ChannelsFirst };
enum class AlgoSearch { Find, Heuristics };

// What one search returned: its list (fastest first) and the workspace it may use (Find: what
// could be allocated for it; heuristics: the configured cap).
struct AlgoQuery {
  std::vector<AlgoResult> results;
  size_t workspace_limit = 0;
};

struct AlgoChoice {
  int algo = 0;
  int math = 0;          // the math type to set on the descriptor
  size_t workspace = 0;  // as reported; the caller asks cuDNN for the exact size
  ConvLayout layout = ConvLayout::ChannelsLast;
  AlgoSearch search = AlgoSearch::Find;
};

constexpr int kMathFma = 3;

// Index of the first result that succeeded, fits `limit`, is deterministic when asked, and
// uses tensor cores only when allowed; -1 when none. `why` gets a phrase per rejected result.
int first_acceptable(const std::vector<AlgoResult>& results, bool deterministic, bool allow_tensor_ops, size_t limit,
                     std::string* why = nullptr);

// Asks `ask` in the order above (Find only when `use_find`); a search that throws counts as
// offering nothing, with its message. Throws VNET_E_UNSUPPORTED with `geometry` and every
// search's answer when no search offers an acceptable algorithm. Without tensor ops the chosen
// math is FMA whatever the search reported (cuDNN's DEFAULT_MATH would allow TF32).
AlgoChoice choose_conv_algo(const std::function<AlgoQuery(ConvLayout, AlgoSearch)>& ask, bool deterministic,
                            bool allow_tensor_ops, bool use_find, const std::string& direction,
                            const std::string& geometry);

}  // namespace vnet::cuda
