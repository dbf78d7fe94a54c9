// The part of cuBLAS the addon calls (GEMMs for the 2x2x2 stride-2 convolutions), declared
// from NVIDIA's public cuBLAS reference and resolved at run time. cudaDataType_t and
// libraryPropertyType come from the CUDA toolkit's <library_types.h>, present wherever nvcc is.
#pragma once
#include <cuda_runtime.h>
#include <library_types.h>

struct cublasContext;

namespace vnet::blas {

using Handle = cublasContext*;

enum Status : int {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_ARCH_MISMATCH = 8,
  CUBLAS_STATUS_MAPPING_ERROR = 11,
  CUBLAS_STATUS_EXECUTION_FAILED = 13,
  CUBLAS_STATUS_INTERNAL_ERROR = 14,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
  CUBLAS_STATUS_LICENSE_ERROR = 16
};
enum Operation : int { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 };
enum MathMode : int {
  CUBLAS_DEFAULT_MATH = 0,
  CUBLAS_TENSOR_OP_MATH = 1,
  CUBLAS_PEDANTIC_MATH = 2,
  CUBLAS_TF32_TENSOR_OP_MATH = 3
};
enum ComputeType : int {
  CUBLAS_COMPUTE_16F = 64,
  CUBLAS_COMPUTE_32F = 68,
  CUBLAS_COMPUTE_32F_PEDANTIC = 69,
  CUBLAS_COMPUTE_32F_FAST_16F = 74,
  CUBLAS_COMPUTE_32F_FAST_TF32 = 77
};
enum GemmAlgo : int { CUBLAS_GEMM_DEFAULT = -1, CUBLAS_GEMM_DEFAULT_TENSOR_OP = 99 };

#define VNET_CUBLAS_FUNCS(X)                                                                     \
  X(cublasCreate_v2, Status, (Handle*))                                                          \
  X(cublasDestroy_v2, Status, (Handle))                                                          \
  X(cublasSetStream_v2, Status, (Handle, cudaStream_t))                                          \
  X(cublasGetVersion_v2, Status, (Handle, int*))                                                 \
  X(cublasGetProperty, Status, (libraryPropertyType, int*))                                      \
  X(cublasSetMathMode, Status, (Handle, MathMode))                                               \
  X(cublasGemmEx, Status,                                                                        \
    (Handle, Operation, Operation, int, int, int, const void*, const void*, cudaDataType_t, int, \
     const void*, cudaDataType_t, int, const void*, void*, cudaDataType_t, int, ComputeType,     \
     GemmAlgo))

// Resolved when present (cuBLAS >= 11.4 / 12.0), not required.
#define VNET_CUBLAS_OPTIONAL_FUNCS(X)                          \
  X(cublasGetStatusString, const char*, (Status))              \
  X(cublasSetWorkspace_v2, Status, (Handle, void*, size_t))

struct Api {
#define VNET_X(name, ret, params) ret(*name) params = nullptr;
  VNET_CUBLAS_FUNCS(VNET_X)
  VNET_CUBLAS_OPTIONAL_FUNCS(VNET_X)
#undef VNET_X
};

#define VNET_X(name, ret, params) using PFN_##name = ret(*) params;
VNET_CUBLAS_FUNCS(VNET_X)
VNET_CUBLAS_OPTIONAL_FUNCS(VNET_X)
#undef VNET_X

constexpr int kMinVersion = 11000;  // cublasGetVersion: major*10000 + minor*100 + patch (11.x+)

}  // namespace vnet::blas
