// Engine errors: every native failure is a VnetError with a stable code; the binding turns it
// into a JS Error whose `code` property is that string. Nothing in the engine aborts.
#pragma once
#include <stdexcept>
#include <string>

namespace vnet {

// Stable codes, surfaced to JS as `err.code`.
#define VNET_ERROR_CODES(X)                                                              \
  X(VNET_E_INVALID_ARG)   /* bad argument: wrong count, type or attribute */             \
  X(VNET_E_SHAPE)         /* shapes do not fit the op's shape rule */                    \
  X(VNET_E_DTYPE)         /* dtype not accepted by the op */                             \
  X(VNET_E_DEVICE)        /* tensors on different devices, or device unavailable */      \
  X(VNET_E_UNSUPPORTED)   /* no kernel for this (op, device, dtype) */                   \
  X(VNET_E_DISPOSED)      /* a disposed tensor was used */                               \
  X(VNET_E_OOM)           /* allocation failed */                                        \
  X(VNET_E_CUDA)          /* a CUDA runtime or driver status */                          \
  X(VNET_E_CUDNN)         /* a cuDNN status */                                           \
  X(VNET_E_CUBLAS)        /* a cuBLAS status */                                          \
  X(VNET_E_NCCL)          /* an NCCL status */                                           \
  X(VNET_E_LIBRARY)       /* a GPU library could not be loaded or is too old */          \
  X(VNET_E_INTERNAL)      /* a bug: an invariant did not hold */

enum class ErrorCode {
#define VNET_X(name) name,
  VNET_ERROR_CODES(VNET_X)
#undef VNET_X
};

const char* error_code_name(ErrorCode c);

class VnetError : public std::runtime_error {
 public:
  VnetError(ErrorCode code, const std::string& msg) : std::runtime_error(msg), code_(code) {}
  ErrorCode code() const { return code_; }
  const char* code_name() const { return error_code_name(code_); }

 private:
  ErrorCode code_;
};

[[noreturn]] void throw_error(ErrorCode code, const std::string& msg);

}  // namespace vnet

#define VNET_CHECK(cond, code, msg)                         \
  do {                                                      \
    if (!(cond)) ::vnet::throw_error(::vnet::ErrorCode::code, (msg)); \
  } while (0)
