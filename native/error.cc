// Error code names and the throw helper.
#include "error.h"

namespace vnet {

const char* error_code_name(ErrorCode c) {
  switch (c) {
#define VNET_X(name) \
  case ErrorCode::name: return #name;
    VNET_ERROR_CODES(VNET_X)
#undef VNET_X
  }
  return "VNET_E_INTERNAL";
}

void throw_error(ErrorCode code, const std::string& msg) { throw VnetError(code, msg); }

}  // namespace vnet
