// The 2x2x2 stride-2 convolutions (the V-Net's down- and up-sampling) as single GEMMs on
// cuBLAS. In NDHWC their windows do not overlap, so gathering every window into a row gives
// cols (M = N·OD·OH·OW, 8·C) with columns ordered (tap, c) exactly like the weight rows
// (kd,kh,kw,C | K):  fprop y = cols·W,  dgrad cols = dy·Wᵀ then scatter,  wgrad dW = colsᵀ·dy.
// cuBLAS is column-major, so each row-major product is issued transposed.
#include "kernels/kernels.h"
#include "conv.h"
#include "device.h"
#include "libs.h"

namespace vnet::cuda {

namespace {

// Row-major C (m_rows, n_cols) = op(A) · op(B), expressed as the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ
// by the callers below; this wrapper just issues one cublasGemmEx.
void gemm(blas::Operation ta, blas::Operation tb, int64_t m, int64_t n, int64_t k, const void* A, int64_t lda,
          const void* B, int64_t ldb, void* C, int64_t ldc, DType dt, bool tf32) {
  const blas::Api& api = cublas();
  for (int64_t v : {m, n, k, lda, ldb, ldc})
    VNET_CHECK(v <= INT32_MAX, VNET_E_SHAPE, "GEMM dimension too large for cuBLAS (" + std::to_string(v) + ")");
  const float one = 1.f, zero = 0.f;
  cudaDataType_t t = dt == DType::F16 ? CUDA_R_16F : CUDA_R_32F;
  blas::ComputeType ct = dt == DType::F32 && tf32 ? blas::CUBLAS_COMPUTE_32F_FAST_TF32 : blas::CUBLAS_COMPUTE_32F;
  VNET_CUBLAS_CHECK(api.cublasGemmEx(cublas_handle(), ta, tb, int(m), int(n), int(k), &one, A, t, int(lda), B, t,
                                     int(ldb), &zero, C, t, int(ldc), ct, blas::CUBLAS_GEMM_DEFAULT));
}

}  // namespace

bool gemm_conv_applies(const ConvGeom& g) {
  return g.kd == 2 && g.kh == 2 && g.kw == 2 && g.sd == 2 && g.sh == 2 && g.sw == 2 && g.pd == 0 && g.ph == 0 &&
         g.pw == 0 && g.D == 2 * g.OD && g.H == 2 * g.OH && g.W == 2 * g.OW;
}

void gemm_conv(const OpCall& c, const ConvGeom& g) {
  const DType dt = c.in[0]->dtype;
  const bool tf32 = tf32_for(c.attrs);
  const int64_t M = g.N * g.OD * g.OH * g.OW, KC = 8 * g.C, K = g.K;
  Scratch cols(size_t(M * KC) * dtype_size(dt));
  using blas::CUBLAS_OP_N;
  using blas::CUBLAS_OP_T;
  switch (c.op) {
    case Op::conv3d_fprop:  // y (M,K) = cols (M,KC) · W (KC,K)
      launch_s2_gather(c.in[0]->storage->data, cols.get(), g.N, g.OD, g.OH, g.OW, g.C, dt);
      gemm(CUBLAS_OP_N, CUBLAS_OP_N, K, M, KC, c.in[1]->storage->data, K, cols.get(), KC, c.out[0]->storage->data, K, dt, tf32);
      break;
    case Op::conv3d_dgrad:  // cols (M,KC) = dy (M,K) · Wᵀ (K,KC), then scattered into dx
      gemm(CUBLAS_OP_T, CUBLAS_OP_N, KC, M, K, c.in[1]->storage->data, K, c.in[0]->storage->data, K, cols.get(), KC, dt, tf32);
      launch_s2_scatter(cols.get(), c.out[0]->storage->data, g.N, g.OD, g.OH, g.OW, g.C, dt);
      break;
    case Op::conv3d_wgrad:  // dW (KC,K) = colsᵀ (KC,M) · dy (M,K)
      launch_s2_gather(c.in[0]->storage->data, cols.get(), g.N, g.OD, g.OH, g.OW, g.C, dt);
      gemm(CUBLAS_OP_N, CUBLAS_OP_T, K, KC, M, c.in[1]->storage->data, K, cols.get(), KC, c.out[0]->storage->data, K, dt, tf32);
      break;
    default:
      throw_error(ErrorCode::VNET_E_INTERNAL, "gemm_conv on a non-conv op");
  }
}

}  // namespace vnet::cuda
