// Compile-time proof that the hand-written declarations (cudnn_api.h, cublas_api.h,
// nccl_api.h) agree with NVIDIA's headers, where those headers exist at build time: enum
// values, struct sizes and offsets, and every function signature (decltype of the real
// function against ours, with our enums and structs mapped to the real types). Where the
// headers are absent (this project's CI) the file compiles to nothing.
#include <cstddef>
#include <type_traits>

// cuDNN 9 marks the legacy convolution API deprecated; naming it in decltype is the point here.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include "cublas_api.h"
#include "cudnn_api.h"
#include "nccl_api.h"

namespace vnet::api_check {

// abi<T>::type rewrites one of our types into the real header's type.
template <class T> struct abi { using type = T; };
template <class T> struct abi<T*> { using type = typename abi<T>::type*; };
template <class T> struct abi<const T> { using type = const typename abi<T>::type; };
template <class R, class... A> struct abi<R (*)(A...)> {
  using type = typename abi<R>::type (*)(typename abi<A>::type...);
};
template <class Ours, class Real>
constexpr bool same_signature = std::is_same_v<typename abi<Ours>::type, Real>;

}  // namespace vnet::api_check

// -DVNET_API_CHECK_REQUIRE (bench/gpu/check.sh on the GPU machine): a missing header is an
// error, not a silent skip, and each header checked says so.
#ifdef VNET_API_CHECK_REQUIRE
#if !__has_include(<cudnn.h>)
#error "api_check: <cudnn.h> is not on the include path"
#endif
#if !__has_include(<cublas_v2.h>)
#error "api_check: <cublas_v2.h> is not on the include path"
#endif
#if !__has_include(<nccl.h>)
#error "api_check: <nccl.h> is not on the include path"
#endif
#endif

#define VNET_MAP(ours, real) \
  template <> struct vnet::api_check::abi<ours> { using type = real; };
#define VNET_SAME_ENUM(ns, name) static_assert(int(ns::name) == int(::name), #name " differs from the real header");

#if __has_include(<cudnn.h>)
#include <cudnn.h>
#ifdef VNET_API_CHECK_REQUIRE
#pragma message("api_check: checking <cudnn.h>")
#endif
VNET_MAP(vnet::dnn::Status, cudnnStatus_t)
VNET_MAP(vnet::dnn::DataType, cudnnDataType_t)
VNET_MAP(vnet::dnn::TensorFormat, cudnnTensorFormat_t)
VNET_MAP(vnet::dnn::ConvMode, cudnnConvolutionMode_t)
VNET_MAP(vnet::dnn::MathType, cudnnMathType_t)
VNET_MAP(vnet::dnn::FwdAlgo, cudnnConvolutionFwdAlgo_t)
VNET_MAP(vnet::dnn::BwdDataAlgo, cudnnConvolutionBwdDataAlgo_t)
VNET_MAP(vnet::dnn::BwdFilterAlgo, cudnnConvolutionBwdFilterAlgo_t)
VNET_MAP(vnet::dnn::FwdPerf, cudnnConvolutionFwdAlgoPerf_t)
VNET_MAP(vnet::dnn::BwdDataPerf, cudnnConvolutionBwdDataAlgoPerf_t)
VNET_MAP(vnet::dnn::BwdFilterPerf, cudnnConvolutionBwdFilterAlgoPerf_t)
static_assert(std::is_same_v<vnet::dnn::Handle, cudnnHandle_t>);
static_assert(std::is_same_v<vnet::dnn::TensorDesc, cudnnTensorDescriptor_t>);
static_assert(std::is_same_v<vnet::dnn::FilterDesc, cudnnFilterDescriptor_t>);
static_assert(std::is_same_v<vnet::dnn::ConvDesc, cudnnConvolutionDescriptor_t>);
VNET_SAME_ENUM(vnet::dnn, CUDNN_STATUS_SUCCESS)
VNET_SAME_ENUM(vnet::dnn, CUDNN_DATA_FLOAT)
VNET_SAME_ENUM(vnet::dnn, CUDNN_DATA_DOUBLE)
VNET_SAME_ENUM(vnet::dnn, CUDNN_DATA_HALF)
VNET_SAME_ENUM(vnet::dnn, CUDNN_DATA_BFLOAT16)
VNET_SAME_ENUM(vnet::dnn, CUDNN_TENSOR_NCHW)
VNET_SAME_ENUM(vnet::dnn, CUDNN_TENSOR_NHWC)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CROSS_CORRELATION)
VNET_SAME_ENUM(vnet::dnn, CUDNN_DEFAULT_MATH)
VNET_SAME_ENUM(vnet::dnn, CUDNN_TENSOR_OP_MATH)
VNET_SAME_ENUM(vnet::dnn, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
VNET_SAME_ENUM(vnet::dnn, CUDNN_FMA_MATH)
VNET_SAME_ENUM(vnet::dnn, CUDNN_NON_DETERMINISTIC)
VNET_SAME_ENUM(vnet::dnn, CUDNN_DETERMINISTIC)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_FWD_ALGO_GEMM)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_FWD_ALGO_DIRECT)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_FWD_ALGO_FFT)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_FWD_ALGO_COUNT)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_BWD_DATA_ALGO_0)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING)
VNET_SAME_ENUM(vnet::dnn, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT)
#define VNET_PERF_LAYOUT(ours, real)                                                     \
  static_assert(sizeof(ours) == sizeof(real) && alignof(ours) == alignof(real));         \
  static_assert(offsetof(ours, algo) == offsetof(real, algo));                           \
  static_assert(offsetof(ours, status) == offsetof(real, status));                       \
  static_assert(offsetof(ours, time) == offsetof(real, time));                           \
  static_assert(offsetof(ours, memory) == offsetof(real, memory));                       \
  static_assert(offsetof(ours, determinism) == offsetof(real, determinism));             \
  static_assert(offsetof(ours, mathType) == offsetof(real, mathType));
VNET_PERF_LAYOUT(vnet::dnn::FwdPerf, cudnnConvolutionFwdAlgoPerf_t)
VNET_PERF_LAYOUT(vnet::dnn::BwdDataPerf, cudnnConvolutionBwdDataAlgoPerf_t)
VNET_PERF_LAYOUT(vnet::dnn::BwdFilterPerf, cudnnConvolutionBwdFilterAlgoPerf_t)
#define VNET_X(name, ret, params)                                                                   \
  static_assert(vnet::api_check::same_signature<vnet::dnn::PFN_##name, decltype(&::name)>,          \
                #name ": our declaration differs from <cudnn.h>");
VNET_CUDNN_FUNCS(VNET_X)
#undef VNET_X
#endif  // cudnn.h

#if __has_include(<cublas_v2.h>)
#include <cublas_v2.h>
#ifdef VNET_API_CHECK_REQUIRE
#pragma message("api_check: checking <cublas_v2.h>")
#endif
VNET_MAP(vnet::blas::Status, cublasStatus_t)
VNET_MAP(vnet::blas::Operation, cublasOperation_t)
VNET_MAP(vnet::blas::MathMode, cublasMath_t)
VNET_MAP(vnet::blas::ComputeType, cublasComputeType_t)
VNET_MAP(vnet::blas::GemmAlgo, cublasGemmAlgo_t)
static_assert(std::is_same_v<vnet::blas::Handle, cublasHandle_t>);
VNET_SAME_ENUM(vnet::blas, CUBLAS_STATUS_SUCCESS)
VNET_SAME_ENUM(vnet::blas, CUBLAS_STATUS_NOT_INITIALIZED)
VNET_SAME_ENUM(vnet::blas, CUBLAS_STATUS_ALLOC_FAILED)
VNET_SAME_ENUM(vnet::blas, CUBLAS_STATUS_INVALID_VALUE)
VNET_SAME_ENUM(vnet::blas, CUBLAS_STATUS_ARCH_MISMATCH)
VNET_SAME_ENUM(vnet::blas, CUBLAS_STATUS_MAPPING_ERROR)
VNET_SAME_ENUM(vnet::blas, CUBLAS_STATUS_EXECUTION_FAILED)
VNET_SAME_ENUM(vnet::blas, CUBLAS_STATUS_INTERNAL_ERROR)
VNET_SAME_ENUM(vnet::blas, CUBLAS_STATUS_NOT_SUPPORTED)
VNET_SAME_ENUM(vnet::blas, CUBLAS_STATUS_LICENSE_ERROR)
VNET_SAME_ENUM(vnet::blas, CUBLAS_OP_N)
VNET_SAME_ENUM(vnet::blas, CUBLAS_OP_T)
VNET_SAME_ENUM(vnet::blas, CUBLAS_OP_C)
VNET_SAME_ENUM(vnet::blas, CUBLAS_DEFAULT_MATH)
VNET_SAME_ENUM(vnet::blas, CUBLAS_PEDANTIC_MATH)
VNET_SAME_ENUM(vnet::blas, CUBLAS_TF32_TENSOR_OP_MATH)
VNET_SAME_ENUM(vnet::blas, CUBLAS_COMPUTE_16F)
VNET_SAME_ENUM(vnet::blas, CUBLAS_COMPUTE_32F)
VNET_SAME_ENUM(vnet::blas, CUBLAS_COMPUTE_32F_PEDANTIC)
VNET_SAME_ENUM(vnet::blas, CUBLAS_COMPUTE_32F_FAST_16F)
VNET_SAME_ENUM(vnet::blas, CUBLAS_COMPUTE_32F_FAST_TF32)
VNET_SAME_ENUM(vnet::blas, CUBLAS_GEMM_DEFAULT)
VNET_SAME_ENUM(vnet::blas, CUBLAS_GEMM_DEFAULT_TENSOR_OP)
#define VNET_X(name, ret, params)                                                                   \
  static_assert(vnet::api_check::same_signature<vnet::blas::PFN_##name, decltype(&::name)>,         \
                #name ": our declaration differs from <cublas_v2.h>");
VNET_CUBLAS_FUNCS(VNET_X)
VNET_CUBLAS_OPTIONAL_FUNCS(VNET_X)
#undef VNET_X
#endif  // cublas_v2.h

#if __has_include(<nccl.h>)
#include <nccl.h>
#ifdef VNET_API_CHECK_REQUIRE
#pragma message("api_check: checking <nccl.h>")
#endif
VNET_MAP(vnet::nccl::Result, ncclResult_t)
VNET_MAP(vnet::nccl::DataType, ncclDataType_t)
VNET_MAP(vnet::nccl::RedOp, ncclRedOp_t)
VNET_MAP(vnet::nccl::UniqueId, ncclUniqueId)
static_assert(std::is_same_v<vnet::nccl::Comm, ncclComm_t>);
static_assert(sizeof(vnet::nccl::UniqueId) == sizeof(ncclUniqueId) && vnet::nccl::kUniqueIdBytes == NCCL_UNIQUE_ID_BYTES);
VNET_SAME_ENUM(vnet::nccl, ncclSuccess)
VNET_SAME_ENUM(vnet::nccl, ncclUnhandledCudaError)
VNET_SAME_ENUM(vnet::nccl, ncclSystemError)
VNET_SAME_ENUM(vnet::nccl, ncclInternalError)
VNET_SAME_ENUM(vnet::nccl, ncclInvalidArgument)
VNET_SAME_ENUM(vnet::nccl, ncclInvalidUsage)
VNET_SAME_ENUM(vnet::nccl, ncclInt8)
VNET_SAME_ENUM(vnet::nccl, ncclInt32)
VNET_SAME_ENUM(vnet::nccl, ncclFloat16)
VNET_SAME_ENUM(vnet::nccl, ncclFloat32)
VNET_SAME_ENUM(vnet::nccl, ncclFloat64)
VNET_SAME_ENUM(vnet::nccl, ncclSum)
VNET_SAME_ENUM(vnet::nccl, ncclMax)
VNET_SAME_ENUM(vnet::nccl, ncclAvg)
#define VNET_X(name, ret, params)                                                                   \
  static_assert(vnet::api_check::same_signature<vnet::nccl::PFN_##name, decltype(&::name)>,         \
                #name ": our declaration differs from <nccl.h>");
VNET_NCCL_FUNCS(VNET_X)
#undef VNET_X
#endif  // nccl.h
