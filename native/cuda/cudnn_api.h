// The part of cuDNN's legacy convolution API the addon calls, declared from NVIDIA's public
// API reference (cuDNN 8.x and 9.x agree on all of it) and resolved at run time with dlsym.
// Types live in vnet::dnn so that api_check.cc can compare them with the real <cudnn.h>.
// Handles reuse cuDNN's own struct tags, so the pointer types are identical to the real ones.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

struct cudnnContext;
struct cudnnTensorStruct;
struct cudnnFilterStruct;
struct cudnnConvolutionStruct;

namespace vnet::dnn {

using Handle = cudnnContext*;
using TensorDesc = cudnnTensorStruct*;
using FilterDesc = cudnnFilterStruct*;
using ConvDesc = cudnnConvolutionStruct*;

// cuDNN 9 renumbered the error codes; only success (0) is relied on, the rest are named by
// cudnnGetErrorString.
enum Status : int { CUDNN_STATUS_SUCCESS = 0 };
enum DataType : int { CUDNN_DATA_FLOAT = 0, CUDNN_DATA_DOUBLE = 1, CUDNN_DATA_HALF = 2, CUDNN_DATA_BFLOAT16 = 9 };
enum TensorFormat : int { CUDNN_TENSOR_NCHW = 0, CUDNN_TENSOR_NHWC = 1 };
enum ConvMode : int { CUDNN_CONVOLUTION = 0, CUDNN_CROSS_CORRELATION = 1 };
enum MathType : int {
  CUDNN_DEFAULT_MATH = 0,
  CUDNN_TENSOR_OP_MATH = 1,
  CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION = 2,
  CUDNN_FMA_MATH = 3
};
enum Determinism : int { CUDNN_NON_DETERMINISTIC = 0, CUDNN_DETERMINISTIC = 1 };
enum FwdAlgo : int {
  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM = 0,
  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM = 1,
  CUDNN_CONVOLUTION_FWD_ALGO_GEMM = 2,
  CUDNN_CONVOLUTION_FWD_ALGO_DIRECT = 3,
  CUDNN_CONVOLUTION_FWD_ALGO_FFT = 4,
  CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING = 5,
  CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD = 6,
  CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED = 7,
  CUDNN_CONVOLUTION_FWD_ALGO_COUNT = 8
};
enum BwdDataAlgo : int {
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 = 0,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_1 = 1,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT = 2,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING = 3,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD = 4,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED = 5,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT = 6
};
enum BwdFilterAlgo : int {
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 = 0,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 = 1,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT = 2,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3 = 3,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD = 4,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED = 5,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING = 6,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT = 7
};

// The three *AlgoPerf_t structs share one layout.
template <class Algo>
struct AlgoPerf {
  Algo algo;
  Status status;
  float time;
  size_t memory;
  Determinism determinism;
  MathType mathType;
  int reserved[3];
};
using FwdPerf = AlgoPerf<FwdAlgo>;
using BwdDataPerf = AlgoPerf<BwdDataAlgo>;
using BwdFilterPerf = AlgoPerf<BwdFilterAlgo>;

// X(name, return, (params)) for every entry point used.
#define VNET_CUDNN_FUNCS(X)                                                                         \
  X(cudnnGetVersion, size_t, (void))                                                                \
  X(cudnnGetErrorString, const char*, (Status))                                                     \
  X(cudnnCreate, Status, (Handle*))                                                                 \
  X(cudnnDestroy, Status, (Handle))                                                                 \
  X(cudnnSetStream, Status, (Handle, cudaStream_t))                                                 \
  X(cudnnCreateTensorDescriptor, Status, (TensorDesc*))                                             \
  X(cudnnDestroyTensorDescriptor, Status, (TensorDesc))                                             \
  X(cudnnSetTensorNdDescriptor, Status, (TensorDesc, DataType, int, const int*, const int*))        \
  X(cudnnCreateFilterDescriptor, Status, (FilterDesc*))                                             \
  X(cudnnDestroyFilterDescriptor, Status, (FilterDesc))                                             \
  X(cudnnSetFilterNdDescriptor, Status, (FilterDesc, DataType, TensorFormat, int, const int*))      \
  X(cudnnCreateConvolutionDescriptor, Status, (ConvDesc*))                                          \
  X(cudnnDestroyConvolutionDescriptor, Status, (ConvDesc))                                          \
  X(cudnnSetConvolutionNdDescriptor, Status,                                                        \
    (ConvDesc, int, const int*, const int*, const int*, ConvMode, DataType))                        \
  X(cudnnSetConvolutionMathType, Status, (ConvDesc, MathType))                                      \
  X(cudnnGetConvolutionForwardAlgorithm_v7, Status,                                                 \
    (Handle, TensorDesc, FilterDesc, ConvDesc, TensorDesc, int, int*, FwdPerf*))                    \
  X(cudnnFindConvolutionForwardAlgorithmEx, Status,                                                 \
    (Handle, TensorDesc, const void*, FilterDesc, const void*, ConvDesc, TensorDesc, void*, int,    \
     int*, FwdPerf*, void*, size_t))                                                                \
  X(cudnnGetConvolutionForwardWorkspaceSize, Status,                                                \
    (Handle, TensorDesc, FilterDesc, ConvDesc, TensorDesc, FwdAlgo, size_t*))                       \
  X(cudnnConvolutionForward, Status,                                                                \
    (Handle, const void*, TensorDesc, const void*, FilterDesc, const void*, ConvDesc, FwdAlgo,      \
     void*, size_t, const void*, TensorDesc, void*))                                                \
  X(cudnnGetConvolutionBackwardDataAlgorithm_v7, Status,                                            \
    (Handle, FilterDesc, TensorDesc, ConvDesc, TensorDesc, int, int*, BwdDataPerf*))                \
  X(cudnnFindConvolutionBackwardDataAlgorithmEx, Status,                                            \
    (Handle, FilterDesc, const void*, TensorDesc, const void*, ConvDesc, TensorDesc, void*, int,    \
     int*, BwdDataPerf*, void*, size_t))                                                            \
  X(cudnnGetConvolutionBackwardDataWorkspaceSize, Status,                                           \
    (Handle, FilterDesc, TensorDesc, ConvDesc, TensorDesc, BwdDataAlgo, size_t*))                   \
  X(cudnnConvolutionBackwardData, Status,                                                           \
    (Handle, const void*, FilterDesc, const void*, TensorDesc, const void*, ConvDesc, BwdDataAlgo,  \
     void*, size_t, const void*, TensorDesc, void*))                                                \
  X(cudnnGetConvolutionBackwardFilterAlgorithm_v7, Status,                                          \
    (Handle, TensorDesc, TensorDesc, ConvDesc, FilterDesc, int, int*, BwdFilterPerf*))              \
  X(cudnnFindConvolutionBackwardFilterAlgorithmEx, Status,                                          \
    (Handle, TensorDesc, const void*, TensorDesc, const void*, ConvDesc, FilterDesc, void*, int,    \
     int*, BwdFilterPerf*, void*, size_t))                                                          \
  X(cudnnGetConvolutionBackwardFilterWorkspaceSize, Status,                                         \
    (Handle, TensorDesc, TensorDesc, ConvDesc, FilterDesc, BwdFilterAlgo, size_t*))                 \
  X(cudnnConvolutionBackwardFilter, Status,                                                         \
    (Handle, const void*, TensorDesc, const void*, TensorDesc, const void*, ConvDesc,               \
     BwdFilterAlgo, void*, size_t, const void*, FilterDesc, void*))

struct Api {
#define VNET_X(name, ret, params) ret(*name) params = nullptr;
  VNET_CUDNN_FUNCS(VNET_X)
#undef VNET_X
};

// Function-pointer types, one per entry (PFN_cudnnCreate ...), for api_check.cc.
#define VNET_X(name, ret, params) using PFN_##name = ret(*) params;
VNET_CUDNN_FUNCS(VNET_X)
#undef VNET_X

constexpr size_t kMinVersion = 8000;  // cudnnGetVersion(): 8.x = 8xyz, 9.x = 9xyzz

}  // namespace vnet::dnn
