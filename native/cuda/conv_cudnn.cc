// 3-D convolutions through cuDNN's legacy API (cudnnConvolutionForward / BackwardData /
// BackwardFilter, present in cuDNN 8.x and 9.x): NDHWC activations as 5-D strided descriptors,
// fp32 accumulation for f16, TF32 for f32 unless VNET_TF32=0 (or attrs tf32=0). A plan (descriptors, algorithm,
// math type, workspace size) is chosen once per geometry, dtype, math and determinism, with
// cudnnFind*AlgorithmEx (VNET_CUDNN_FIND=0: the _v7 heuristics), and cached. Weights are stored
// (kd,kh,kw,Cin,Cout); cuDNN's NHWC filter wants (Cout,kd,kh,kw,Cin), so each call transposes
// them into scratch memory (CudnnConv does it in steps, so that conv_bench.cc can time the
// library call alone). cuDNN pads symmetrically; TF 'same' padding with an odd total is
// run on an explicitly padded copy of the input.
#include <climits>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "kernels/kernels.h"
#include "conv.h"
#include "../env.h"
#include "device.h"
#include "libs.h"

namespace vnet::cuda {

namespace {

std::mutex g_mu;
std::map<std::vector<int64_t>, CudnnConv::Plan> g_plans;

int to_int(int64_t v, const char* what) {
  VNET_CHECK(v <= INT_MAX, VNET_E_SHAPE, std::string(what) + " is too large for cuDNN");
  return int(v);
}

void set_ndhwc(const dnn::Api& api, dnn::TensorDesc d, dnn::DataType dt, int64_t N, int64_t C, int64_t D, int64_t H,
               int64_t W) {
  int dims[5] = {to_int(N, "N"), to_int(C, "C"), to_int(D, "D"), to_int(H, "H"), to_int(W, "W")};
  int strides[5] = {to_int(D * H * W * C, "volume"), 1, to_int(H * W * C, "plane"), to_int(W * C, "row"), to_int(C, "C")};
  VNET_CUDNN_CHECK(api.cudnnSetTensorNdDescriptor(d, dt, 5, dims, strides));
}

size_t workspace_limit() {
  const char* v = env::get("VNET_CUDNN_WORKSPACE_MB");
  long mb = v && *v ? std::atol(v) : 1024;
  return size_t(mb < 0 ? 0 : mb) << 20;
}
bool use_find() {
  const char* v = env::get("VNET_CUDNN_FIND");
  return !(v && v[0] == '0');
}

template <class Perf>
bool acceptable(const Perf& p, bool det, bool allow_tensor, size_t limit) {
  if (p.status != dnn::CUDNN_STATUS_SUCCESS) return false;
  if (p.memory > limit) return false;
  if (det && p.determinism != dnn::CUDNN_DETERMINISTIC) return false;
  if (!allow_tensor && (p.mathType == dnn::CUDNN_TENSOR_OP_MATH || p.mathType == dnn::CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
    return false;
  return true;
}

// Picks the first acceptable result (the lists come sorted fastest first).
template <class Perf>
void choose(const dnn::Api& api, CudnnConv::Plan& p, const Perf* perf, int n, bool det, bool allow_tensor, size_t limit,
            const char* what) {
  for (int i = 0; i < n; i++) {
    if (!acceptable(perf[i], det, allow_tensor, limit)) continue;
    p.algo = int(perf[i].algo);
    p.ws = perf[i].memory;
    // DEFAULT_MATH lets cuDNN use TF32 for fp32 on Ampere and newer, so without TF32 the
    // descriptor stays FMA-only whatever the search reported.
    p.math = int(allow_tensor ? perf[i].mathType : dnn::CUDNN_FMA_MATH);
    VNET_CUDNN_CHECK(api.cudnnSetConvolutionMathType(p.conv, dnn::MathType(p.math)));
    return;
  }
  throw_error(ErrorCode::VNET_E_UNSUPPORTED,
              std::string("cuDNN offers no ") + what + " algorithm for this geometry" +
                  (det ? " that is deterministic" : "") + " within " + std::to_string(limit >> 20) +
                  " MiB of workspace (VNET_CUDNN_WORKSPACE_MB)");
}

}  // namespace

struct CudnnConv::Plan {
  dnn::TensorDesc x = nullptr, y = nullptr;  // x: the (possibly padded) input
  dnn::FilterDesc w = nullptr;
  dnn::ConvDesc conv = nullptr;
  int algo = 0;
  int math = 0;
  size_t ws = 0;
  bool padded = false;
  int64_t in_dhw[3] = {0, 0, 0};  // the input cuDNN sees
};

CudnnConv::CudnnConv(const OpCall& c, const ConvGeom& g) : c_(c), g_(g) {
  const dnn::Api& api = cudnn();
  dnn::Handle h = cudnn_handle();
  const DType dt = c.in[0]->dtype;
  const bool det = deterministic(c.attrs);
  const bool tf32 = dt == DType::F32 && tf32_for(c.attrs);
  const dnn::DataType ddt = dt == DType::F16 ? dnn::CUDNN_DATA_HALF : dnn::CUDNN_DATA_FLOAT;
  const size_t es = dtype_size(dt), limit = workspace_limit();

  // cuDNN's output size with symmetric front padding; if it differs, pad explicitly.
  const int64_t in[3] = {g.D, g.H, g.W}, k[3] = {g.kd, g.kh, g.kw}, s[3] = {g.sd, g.sh, g.sw},
                pad[3] = {g.pd, g.ph, g.pw}, out[3] = {g.OD, g.OH, g.OW};
  bool padded = false;
  for (int i = 0; i < 3; i++)
    if (in[i] + 2 * pad[i] < k[i] || (in[i] + 2 * pad[i] - k[i]) / s[i] + 1 != out[i]) padded = true;
  int64_t pin[3];
  for (int i = 0; i < 3; i++) pin[i] = padded ? (out[i] - 1) * s[i] + k[i] : in[i];

  std::vector<int64_t> key = {int64_t(c.op), g.N, g.D, g.H, g.W, g.C, g.K, g.kd, g.kh, g.kw, g.sd, g.sh, g.sw,
                              g.pd, g.ph, g.pw, g.OD, g.OH, g.OW, int64_t(dt), tf32, det, int64_t(limit)};

  // Operands: weights transposed to (K, taps, C); the input padded when needed.
  const int64_t taps = g.kd * g.kh * g.kw;
  wt_ = Scratch(size_t(g.w_numel()) * es);
  xp_ = Scratch(padded && c.op != Op::conv3d_dgrad ? size_t(g.N * pin[0] * pin[1] * pin[2] * g.C) * es : 0);
  dxp_ = Scratch(padded && c.op == Op::conv3d_dgrad ? size_t(g.N * pin[0] * pin[1] * pin[2] * g.C) * es : 0);
  if (c.op == Op::conv3d_fprop || c.op == Op::conv3d_wgrad) {
    x_ = c.in[0]->storage->data;
    if (padded) {
      const int64_t off[3] = {-g.pd, -g.ph, -g.pw};
      launch_window_copy(x_, xp_.get(), g.N, g.C, in, pin, off, dt);
      x_ = xp_.get();
    }
  }
  if (c.op == Op::conv3d_fprop || c.op == Op::conv3d_dgrad)
    launch_transpose2d(c.in[1]->storage->data, wt_.get(), taps * g.C, g.K, dt);
  if (c.op == Op::conv3d_dgrad) dy_ = c.in[0]->storage->data;
  if (c.op == Op::conv3d_wgrad) dy_ = c.in[1]->storage->data;
  dst_ = c.op == Op::conv3d_fprop ? c.out[0]->storage->data
         : c.op == Op::conv3d_dgrad ? (padded ? dxp_.get() : c.out[0]->storage->data)
                                    : wt_.get();  // wgrad: (K, taps, C), transposed after
  const void* x = x_;
  const void* dy = dy_;
  void* dst = dst_;
  Scratch& wt = wt_;

  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_plans.find(key);
  if (it == g_plans.end()) {
    Plan p;
    p.padded = padded;
    for (int i = 0; i < 3; i++) p.in_dhw[i] = pin[i];
    VNET_CUDNN_CHECK(api.cudnnCreateTensorDescriptor(&p.x));
    VNET_CUDNN_CHECK(api.cudnnCreateTensorDescriptor(&p.y));
    VNET_CUDNN_CHECK(api.cudnnCreateFilterDescriptor(&p.w));
    VNET_CUDNN_CHECK(api.cudnnCreateConvolutionDescriptor(&p.conv));
    set_ndhwc(api, p.x, ddt, g.N, g.C, pin[0], pin[1], pin[2]);
    set_ndhwc(api, p.y, ddt, g.N, g.K, g.OD, g.OH, g.OW);
    int fdims[5] = {to_int(g.K, "K"), to_int(g.C, "C"), int(g.kd), int(g.kh), int(g.kw)};
    VNET_CUDNN_CHECK(api.cudnnSetFilterNdDescriptor(p.w, ddt, dnn::CUDNN_TENSOR_NHWC, 5, fdims));
    int cpad[3] = {padded ? 0 : int(g.pd), padded ? 0 : int(g.ph), padded ? 0 : int(g.pw)};
    int cstr[3] = {int(g.sd), int(g.sh), int(g.sw)}, dil[3] = {1, 1, 1};
    VNET_CUDNN_CHECK(api.cudnnSetConvolutionNdDescriptor(p.conv, 3, cpad, cstr, dil, dnn::CUDNN_CROSS_CORRELATION,
                                                         dnn::CUDNN_DATA_FLOAT));
    const dnn::MathType math = dt == DType::F16 ? dnn::CUDNN_TENSOR_OP_MATH
                               : tf32           ? dnn::CUDNN_DEFAULT_MATH
                                                : dnn::CUDNN_FMA_MATH;
    VNET_CUDNN_CHECK(api.cudnnSetConvolutionMathType(p.conv, math));
    const bool allow_tensor = dt == DType::F16 || tf32;
    // Find (timed) with as much workspace as the limit allows, else the heuristics.
    bool found = false;
    if (use_find()) {
      size_t wsz = limit;
      Scratch ws;
      while (wsz >= (size_t(1) << 20)) {
        try {
          Scratch t(wsz);
          ws = std::move(t);
          break;
        } catch (const VnetError& e) {
          if (e.code() != ErrorCode::VNET_E_OOM) throw;
          wsz /= 2;
        }
      }
      if (!ws.get()) wsz = 0;
      int n = 0;
      if (c.op == Op::conv3d_fprop) {
        dnn::FwdPerf perf[dnn::CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        VNET_CUDNN_CHECK(api.cudnnFindConvolutionForwardAlgorithmEx(h, p.x, x, p.w, wt.get(), p.conv, p.y, dst,
                                                                     dnn::CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf,
                                                                     ws.get(), wsz));
        choose(api, p, perf, n, det, allow_tensor, wsz, "forward");
      } else if (c.op == Op::conv3d_dgrad) {
        dnn::BwdDataPerf perf[dnn::CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        VNET_CUDNN_CHECK(api.cudnnFindConvolutionBackwardDataAlgorithmEx(h, p.w, wt.get(), p.y, dy, p.conv, p.x, dst,
                                                                          dnn::CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n,
                                                                          perf, ws.get(), wsz));
        choose(api, p, perf, n, det, allow_tensor, wsz, "backward-data");
      } else {
        dnn::BwdFilterPerf perf[dnn::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        VNET_CUDNN_CHECK(api.cudnnFindConvolutionBackwardFilterAlgorithmEx(
            h, p.x, x, p.y, dy, p.conv, p.w, dst, dnn::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf, ws.get(), wsz));
        choose(api, p, perf, n, det, allow_tensor, wsz, "backward-filter");
      }
      found = true;
    }
    if (!found) {
      int n = 0;
      if (c.op == Op::conv3d_fprop) {
        dnn::FwdPerf perf[dnn::CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        VNET_CUDNN_CHECK(api.cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y,
                                                                     dnn::CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
        choose(api, p, perf, n, det, allow_tensor, limit, "forward");
      } else if (c.op == Op::conv3d_dgrad) {
        dnn::BwdDataPerf perf[dnn::CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        VNET_CUDNN_CHECK(api.cudnnGetConvolutionBackwardDataAlgorithm_v7(
            h, p.w, p.y, p.conv, p.x, dnn::CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
        choose(api, p, perf, n, det, allow_tensor, limit, "backward-data");
      } else {
        dnn::BwdFilterPerf perf[dnn::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        VNET_CUDNN_CHECK(api.cudnnGetConvolutionBackwardFilterAlgorithm_v7(
            h, p.x, p.y, p.conv, p.w, dnn::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
        choose(api, p, perf, n, det, allow_tensor, limit, "backward-filter");
      }
    }
    // The exact workspace of the chosen algorithm under the chosen math type.
    size_t need = 0;
    if (c.op == Op::conv3d_fprop)
      VNET_CUDNN_CHECK(api.cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.conv, p.y, dnn::FwdAlgo(p.algo), &need));
    else if (c.op == Op::conv3d_dgrad)
      VNET_CUDNN_CHECK(api.cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w, p.y, p.conv, p.x,
                                                                       dnn::BwdDataAlgo(p.algo), &need));
    else
      VNET_CUDNN_CHECK(api.cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p.x, p.y, p.conv, p.w,
                                                                         dnn::BwdFilterAlgo(p.algo), &need));
    if (need > p.ws) p.ws = need;
    it = g_plans.emplace(key, p).first;
  }
  plan_ = &it->second;
}

int CudnnConv::algo() const { return plan_->algo; }
int CudnnConv::math() const { return plan_->math; }
size_t CudnnConv::workspace() const { return plan_->ws; }

bool CudnnConv::workspace_for(int algo, int math, size_t* bytes) const {
  const dnn::Api& api = cudnn();
  dnn::Handle h = cudnn_handle();
  const Plan& p = *plan_;
  std::lock_guard<std::mutex> lock(g_mu);
  if (api.cudnnSetConvolutionMathType(p.conv, dnn::MathType(math)) != dnn::CUDNN_STATUS_SUCCESS) return false;
  dnn::Status st;
  if (c_.op == Op::conv3d_fprop)
    st = api.cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.conv, p.y, dnn::FwdAlgo(algo), bytes);
  else if (c_.op == Op::conv3d_dgrad)
    st = api.cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w, p.y, p.conv, p.x, dnn::BwdDataAlgo(algo), bytes);
  else
    st = api.cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p.x, p.y, p.conv, p.w, dnn::BwdFilterAlgo(algo), bytes);
  VNET_CUDNN_CHECK(api.cudnnSetConvolutionMathType(p.conv, dnn::MathType(p.math)));
  return st == dnn::CUDNN_STATUS_SUCCESS;
}

int CudnnConv::run(int algo, int math, void* ws, size_t ws_bytes) const {
  const dnn::Api& api = cudnn();
  dnn::Handle h = cudnn_handle();
  const Plan& p = *plan_;
  if (algo < 0) algo = p.algo;
  if (math < 0) math = p.math;
  std::lock_guard<std::mutex> lock(g_mu);
  if (math != p.math) VNET_CUDNN_CHECK(api.cudnnSetConvolutionMathType(p.conv, dnn::MathType(math)));
  const float one = 1.f, zero = 0.f;
  dnn::Status st;
  if (c_.op == Op::conv3d_fprop)
    st = api.cudnnConvolutionForward(h, &one, p.x, x_, p.w, wt_.get(), p.conv, dnn::FwdAlgo(algo), ws, ws_bytes, &zero,
                                     p.y, dst_);
  else if (c_.op == Op::conv3d_dgrad)
    st = api.cudnnConvolutionBackwardData(h, &one, p.w, wt_.get(), p.y, dy_, p.conv, dnn::BwdDataAlgo(algo), ws,
                                          ws_bytes, &zero, p.x, dst_);
  else
    st = api.cudnnConvolutionBackwardFilter(h, &one, p.x, x_, p.y, dy_, p.conv, dnn::BwdFilterAlgo(algo), ws, ws_bytes,
                                            &zero, p.w, dst_);
  if (math != p.math) VNET_CUDNN_CHECK(api.cudnnSetConvolutionMathType(p.conv, dnn::MathType(p.math)));
  return int(st);
}

void CudnnConv::finish() const {
  const ConvGeom& g = g_;
  const DType dt = c_.in[0]->dtype;
  if (c_.op == Op::conv3d_dgrad && plan_->padded) {
    const int64_t in[3] = {g.D, g.H, g.W}, off[3] = {g.pd, g.ph, g.pw};
    launch_window_copy(dxp_.get(), c_.out[0]->storage->data, g.N, g.C, plan_->in_dhw, in, off, dt);
  } else if (c_.op == Op::conv3d_wgrad) {
    launch_transpose2d(dst_, c_.out[0]->storage->data, g.K, g.kd * g.kh * g.kw * g.C, dt);
  }
}

const char* CudnnConv::algo_name(Op op, int algo) {
  static const char* fwd[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING",
                              "WINOGRAD", "WINOGRAD_NONFUSED"};
  static const char* bwd_data[] = {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
  static const char* bwd_filter[] = {"ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED",
                                     "FFT_TILING"};
  if (op == Op::conv3d_fprop) return algo >= 0 && algo < 8 ? fwd[algo] : "?";
  if (op == Op::conv3d_dgrad) return algo >= 0 && algo < 6 ? bwd_data[algo] : "?";
  return algo >= 0 && algo < 7 ? bwd_filter[algo] : "?";
}

void cudnn_conv(const OpCall& c, const ConvGeom& g) {
  CudnnConv conv(c, g);
  Scratch ws(conv.workspace());
  const int st = conv.run(-1, -1, ws.get(), ws.bytes());
  if (st != dnn::CUDNN_STATUS_SUCCESS)
    throw_cudnn(dnn::Status(st), c.op == Op::conv3d_fprop   ? "cudnnConvolutionForward"
                                 : c.op == Op::conv3d_dgrad ? "cudnnConvolutionBackwardData"
                                                            : "cudnnConvolutionBackwardFilter");
  conv.finish();
}

}  // namespace vnet::cuda
