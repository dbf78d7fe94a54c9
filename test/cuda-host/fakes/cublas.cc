// A stand-in libcublas.so.13 for the host shim's tests: cublasGemmEx (column-major, f32 or f16
// storage, fp32 accumulation) with plain loops on the shim's host-memory "device" pointers,
// queued on the handle's stream, so the engine's GEMM formulation of the stride-2 convolutions
// (conv_gemm.cc) runs end to end.
#include <cstdint>

#include "native/cuda/cublas_api.h"
#include "native/half.h"
#include "on_stream.h"

using namespace vnet::blas;

struct cublasContext {
  cudaStream_t stream = nullptr;
  int math = 0;
};

namespace {

double at(const void* p, cudaDataType_t t, long i) {
  return t == CUDA_R_16F ? double(vnet::half_to_float(static_cast<const uint16_t*>(p)[i])) : double(static_cast<const float*>(p)[i]);
}

}  // namespace

extern "C" {

Status cublasCreate_v2(Handle* h) { *h = new cublasContext(); return CUBLAS_STATUS_SUCCESS; }
Status cublasDestroy_v2(Handle h) { delete h; return CUBLAS_STATUS_SUCCESS; }
Status cublasSetStream_v2(Handle h, cudaStream_t s) { h->stream = s; return CUBLAS_STATUS_SUCCESS; }
Status cublasGetVersion_v2(Handle, int* v) { *v = 130000; return CUBLAS_STATUS_SUCCESS; }
Status cublasGetProperty(libraryPropertyType t, int* v) {
  *v = t == MAJOR_VERSION ? 13 : 0;
  return CUBLAS_STATUS_SUCCESS;
}
Status cublasSetMathMode(Handle h, MathMode m) { h->math = m; return CUBLAS_STATUS_SUCCESS; }
const char* cublasGetStatusString(Status s) { return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE"; }

// C (m x n) = alpha op(A) op(B) + beta C, column-major with leading dimensions.
Status cublasGemmEx(Handle h, Operation ta, Operation tb, int m, int n, int k, const void* alpha, const void* A, cudaDataType_t at_,
                    int lda, const void* B, cudaDataType_t bt, int ldb, const void* beta, void* C, cudaDataType_t ct, int ldc,
                    ComputeType, GemmAlgo) {
  if (m < 0 || n < 0 || k < 0 || lda < (ta == CUBLAS_OP_N ? m : k) || ldb < (tb == CUBLAS_OP_N ? k : n) || ldc < m)
    return CUBLAS_STATUS_INVALID_VALUE;
  const double al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  on_stream(h->stream, [=] {
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++) {
      double s = 0;
      for (int l = 0; l < k; l++) {
        double a = ta == CUBLAS_OP_N ? at(A, at_, i + long(l) * lda) : at(A, at_, l + long(i) * lda);
        double b = tb == CUBLAS_OP_N ? at(B, bt, l + long(j) * ldb) : at(B, bt, j + long(l) * ldb);
        s += a * b;
      }
      const long ci = i + long(j) * ldc;
      const double v = al * s + (be != 0 ? be * at(C, ct, ci) : 0);
      if (ct == CUDA_R_16F) static_cast<uint16_t*>(C)[ci] = vnet::float_to_half(float(v));
      else static_cast<float*>(C)[ci] = float(v);
    }
  });
  return CUBLAS_STATUS_SUCCESS;
}

}  // extern "C"
