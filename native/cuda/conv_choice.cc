// cuDNN algorithm choice (see conv_choice.h).
#include "conv_choice.h"

#include "../error.h"

namespace vnet::cuda {

namespace {

std::string mib(size_t b) { return std::to_string((b + (size_t(1) << 20) - 1) >> 20) + " MiB"; }

const char* layout_name(ConvLayout l) { return l == ConvLayout::ChannelsLast ? "channels-last" : "channels-first"; }
const char* search_name(AlgoSearch s) { return s == AlgoSearch::Find ? "timed search" : "heuristics"; }

}  // namespace

int first_acceptable(const std::vector<AlgoResult>& results, bool deterministic, bool allow_tensor_ops, size_t limit,
                     std::string* why) {
  for (size_t i = 0; i < results.size(); i++) {
    const AlgoResult& r = results[i];
    std::string no;
    if (r.status != 0) no = "status " + std::to_string(r.status);
    else if (r.memory > limit) no = "needs " + mib(r.memory) + " of workspace";
    else if (deterministic && !r.deterministic) no = "not deterministic";
    else if (!allow_tensor_ops && (r.math == 1 || r.math == 2)) no = "tensor-op math only";
    if (no.empty()) return int(i);
    if (why) *why += std::string(why->empty() ? "" : ", ") + "algo " + std::to_string(r.algo) + " " + no;
  }
  return -1;
}

AlgoChoice choose_conv_algo(const std::function<AlgoQuery(ConvLayout, AlgoSearch)>& ask, bool deterministic,
                            bool allow_tensor_ops, bool use_find, const std::string& direction,
                            const std::string& geometry) {
  std::string tried;
  for (ConvLayout layout : {ConvLayout::ChannelsLast, ConvLayout::ChannelsFirst}) {
    for (AlgoSearch search : {AlgoSearch::Find, AlgoSearch::Heuristics}) {
      if (search == AlgoSearch::Find && !use_find) continue;
      std::string what = std::string(layout_name(layout)) + " " + search_name(search) + ": ";
      AlgoQuery q;
      try {
        q = ask(layout, search);
      } catch (const VnetError& e) {
        tried += "; " + what + e.what();
        continue;
      }
      std::string why;
      const int i = first_acceptable(q.results, deterministic, allow_tensor_ops, q.workspace_limit, &why);
      if (i >= 0) {
        const AlgoResult& r = q.results[size_t(i)];
        return AlgoChoice{r.algo, allow_tensor_ops ? r.math : kMathFma, r.memory, layout, search};
      }
      tried += "; " + what + (q.results.empty() ? "no algorithm" : why) + " (workspace limit " + mib(q.workspace_limit) + ")";
    }
  }
  throw_error(ErrorCode::VNET_E_UNSUPPORTED,
              "cuDNN offers no " + direction + " algorithm for " + geometry + (deterministic ? " that is deterministic" : "") +
                  tried + ". Raise VNET_CUDNN_WORKSPACE_MB, or allow non-deterministic algorithms (no --deterministic)");
}

}  // namespace vnet::cuda
