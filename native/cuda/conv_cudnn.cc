// 3-D convolutions through cuDNN's legacy API (cudnnConvolutionForward / BackwardData /
// BackwardFilter, present in cuDNN 8.x and 9.x): NDHWC activations as 5-D strided descriptors,
// fp32 accumulation for f16, TF32 for f32 unless VNET_TF32=0. A plan (descriptors, algorithm,
// math type, workspace size) is chosen once per geometry, dtype, math and determinism, with
// cudnnFind*AlgorithmEx (VNET_CUDNN_FIND=0: the _v7 heuristics), and cached. Weights are stored
// (kd,kh,kw,Cin,Cout); cuDNN's NHWC filter wants (Cout,kd,kh,kw,Cin), so each call transposes
// them into scratch memory. cuDNN pads symmetrically; TF 'same' padding with an odd total is
// run on an explicitly padded copy of the input.
#include <climits>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "../../kernels/kernels.h"
#include "conv.h"
#include "device.h"
#include "libs.h"

namespace vnet::cuda {

namespace {

struct Plan {
  dnn::TensorDesc x = nullptr, y = nullptr;  // x: the (possibly padded) input
  dnn::FilterDesc w = nullptr;
  dnn::ConvDesc conv = nullptr;
  int algo = 0;
  size_t ws = 0;
  bool padded = false;
  int64_t in_dhw[3] = {0, 0, 0};  // the input cuDNN sees
};

std::mutex g_mu;
std::map<std::vector<int64_t>, Plan> g_plans;

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
  const char* v = std::getenv("VNET_CUDNN_WORKSPACE_MB");
  long mb = v && *v ? std::atol(v) : 1024;
  return size_t(mb < 0 ? 0 : mb) << 20;
}
bool use_find() {
  const char* v = std::getenv("VNET_CUDNN_FIND");
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
void choose(const dnn::Api& api, Plan& p, const Perf* perf, int n, bool det, bool allow_tensor, size_t limit,
            const char* what) {
  for (int i = 0; i < n; i++) {
    if (!acceptable(perf[i], det, allow_tensor, limit)) continue;
    p.algo = int(perf[i].algo);
    p.ws = perf[i].memory;
    // DEFAULT_MATH lets cuDNN use TF32 for fp32 on Ampere and newer, so without TF32 the
    // descriptor stays FMA-only whatever the search reported.
    VNET_CUDNN_CHECK(api.cudnnSetConvolutionMathType(p.conv, allow_tensor ? perf[i].mathType : dnn::CUDNN_FMA_MATH));
    return;
  }
  throw_error(ErrorCode::VNET_E_UNSUPPORTED,
              std::string("cuDNN offers no ") + what + " algorithm for this geometry" +
                  (det ? " that is deterministic" : "") + " within " + std::to_string(limit >> 20) +
                  " MiB of workspace (VNET_CUDNN_WORKSPACE_MB)");
}

}  // namespace

void cudnn_conv(const OpCall& c, const ConvGeom& g) {
  const dnn::Api& api = cudnn();
  dnn::Handle h = cudnn_handle();
  const DType dt = c.in[0]->dtype;
  const bool det = deterministic(c.attrs);
  const bool tf32 = dt == DType::F32 && tf32_enabled();
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
  Scratch wt(size_t(g.w_numel()) * es);
  Scratch xp(padded && c.op != Op::conv3d_dgrad ? size_t(g.N * pin[0] * pin[1] * pin[2] * g.C) * es : 0);
  Scratch dxp(padded && c.op == Op::conv3d_dgrad ? size_t(g.N * pin[0] * pin[1] * pin[2] * g.C) * es : 0);
  const void* x = nullptr;
  const void* dy = nullptr;
  if (c.op == Op::conv3d_fprop || c.op == Op::conv3d_wgrad) {
    x = c.in[0]->storage->data;
    if (padded) {
      const int64_t off[3] = {-g.pd, -g.ph, -g.pw};
      launch_window_copy(x, xp.get(), g.N, g.C, in, pin, off, dt);
      x = xp.get();
    }
  }
  if (c.op == Op::conv3d_fprop || c.op == Op::conv3d_dgrad)
    launch_transpose2d(c.in[1]->storage->data, wt.get(), taps * g.C, g.K, dt);
  if (c.op == Op::conv3d_dgrad) dy = c.in[0]->storage->data;
  if (c.op == Op::conv3d_wgrad) dy = c.in[1]->storage->data;
  void* dst = c.op == Op::conv3d_fprop ? c.out[0]->storage->data
              : c.op == Op::conv3d_dgrad ? (padded ? dxp.get() : c.out[0]->storage->data)
                                         : wt.get();  // wgrad: (K, taps, C), transposed after

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
  const Plan& p = it->second;
  Scratch ws(p.ws);
  const float one = 1.f, zero = 0.f;
  if (c.op == Op::conv3d_fprop) {
    VNET_CUDNN_CHECK(api.cudnnConvolutionForward(h, &one, p.x, x, p.w, wt.get(), p.conv, dnn::FwdAlgo(p.algo), ws.get(),
                                                 p.ws, &zero, p.y, dst));
  } else if (c.op == Op::conv3d_dgrad) {
    VNET_CUDNN_CHECK(api.cudnnConvolutionBackwardData(h, &one, p.w, wt.get(), p.y, dy, p.conv, dnn::BwdDataAlgo(p.algo),
                                                      ws.get(), p.ws, &zero, p.x, dst));
    if (padded) {
      const int64_t off[3] = {g.pd, g.ph, g.pw};
      launch_window_copy(dxp.get(), c.out[0]->storage->data, g.N, g.C, pin, in, off, dt);
    }
  } else {
    VNET_CUDNN_CHECK(api.cudnnConvolutionBackwardFilter(h, &one, p.x, x, p.y, dy, p.conv, dnn::BwdFilterAlgo(p.algo),
                                                        ws.get(), p.ws, &zero, p.w, dst));
    launch_transpose2d(dst, c.out[0]->storage->data, g.K, taps * g.C, dt);
  }
}

}  // namespace vnet::cuda
