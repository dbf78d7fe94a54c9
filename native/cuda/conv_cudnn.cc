// 3-D convolutions through cuDNN's legacy API (cudnnConvolutionForward / BackwardData /
// BackwardFilter, present in cuDNN 8.x and 9.x): NDHWC activations as 5-D strided descriptors,
// fp32 accumulation for f16, TF32 for f32 unless VNET_TF32=0 (or attrs tf32=0). A plan
// (layout, descriptors, algorithm, math type, workspace size) is chosen once per geometry,
// dtype, math and determinism (conv_choice.h: timed search, then heuristics, then the same for
// a channels-first formulation) and cached. Weights are stored (kd,kh,kw,Cin,Cout); cuDNN's NHWC
// filter wants (Cout,kd,kh,kw,Cin), so each call transposes them into scratch memory (CudnnConv
// does it in steps, so that conv_bench.cc can time the library call alone). cuDNN pads
// symmetrically; TF 'same' padding with an odd total is run on an explicitly padded copy of the
// input. A channels-first plan transposes every operand to NCDHW and its result back.
#include <climits>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "kernels/kernels.h"
#include "conv.h"
#include "../env.h"
#include "conv_choice.h"
#include "device.h"
#include "libs.h"

namespace vnet::cuda {

struct CudnnConv::Plan {
  ConvLayout layout = ConvLayout::ChannelsLast;
  dnn::TensorDesc x = nullptr, y = nullptr;  // x: the (possibly padded) input
  dnn::FilterDesc w = nullptr;
  dnn::ConvDesc conv = nullptr;
  int algo = 0;
  int math = 0;
  size_t ws = 0;
  bool padded = false;
  int64_t in_dhw[3] = {0, 0, 0};  // the input cuDNN sees
};

namespace {

std::mutex g_mu;
std::map<std::vector<int64_t>, CudnnConv::Plan> g_plans;

int to_int(int64_t v, const char* what) {
  VNET_CHECK(v <= INT_MAX, VNET_E_SHAPE, std::string(what) + " is too large for cuDNN");
  return int(v);
}

// A 5-D activation descriptor: NDHWC (channels last) or NCDHW (channels first) in memory.
void set_tensor(const dnn::Api& api, dnn::TensorDesc d, dnn::DataType dt, ConvLayout layout, int64_t N, int64_t C,
                int64_t D, int64_t H, int64_t W) {
  int dims[5] = {to_int(N, "N"), to_int(C, "C"), to_int(D, "D"), to_int(H, "H"), to_int(W, "W")};
  const int64_t vol = D * H * W * C;
  int last[5] = {to_int(vol, "volume"), 1, to_int(H * W * C, "plane"), to_int(W * C, "row"), to_int(C, "C")};
  int first[5] = {to_int(vol, "volume"), to_int(D * H * W, "volume"), to_int(H * W, "plane"), to_int(W, "row"), 1};
  VNET_CUDNN_CHECK(api.cudnnSetTensorNdDescriptor(d, dt, 5, dims, layout == ConvLayout::ChannelsLast ? last : first));
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
std::vector<AlgoResult> results_of(const Perf* perf, int n) {
  std::vector<AlgoResult> r;
  for (int i = 0; i < n; i++)
    r.push_back(AlgoResult{int(perf[i].algo), int(perf[i].status), perf[i].memory,
                           perf[i].determinism == dnn::CUDNN_DETERMINISTIC, int(perf[i].mathType)});
  return r;
}

// The largest workspace (up to the limit) that can be allocated now, halving on OOM.
Scratch find_workspace(size_t limit) {
  for (size_t wsz = limit; wsz >= (size_t(1) << 20); wsz /= 2) {
    try {
      return Scratch(wsz);
    } catch (const VnetError& e) {
      if (e.code() != ErrorCode::VNET_E_OOM) throw;
    }
  }
  return Scratch();
}

std::string geometry_of(const OpCall& c, const ConvGeom& g, bool tf32) {
  auto x3 = [](int64_t a, int64_t b, int64_t d) { return std::to_string(a) + "x" + std::to_string(b) + "x" + std::to_string(d); };
  return std::string(op_name(c.op)) + " N=" + std::to_string(g.N) + " " + x3(g.D, g.H, g.W) + "x" + std::to_string(g.C) +
         " -> " + x3(g.OD, g.OH, g.OW) + "x" + std::to_string(g.K) + ", kernel " + x3(g.kd, g.kh, g.kw) + ", stride " +
         x3(g.sd, g.sh, g.sw) + ", pad " + x3(g.pd, g.ph, g.pw) + ", " + dtype_name(c.in[0]->dtype) +
         (c.in[0]->dtype == DType::F32 ? (tf32 ? " (TF32)" : " (no TF32)") : "");
}

}  // namespace

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
  for (int i = 0; i < 3; i++) pin_[i] = padded ? (out[i] - 1) * s[i] + k[i] : in[i];

  std::vector<int64_t> key = {int64_t(c.op), g.N, g.D, g.H, g.W, g.C, g.K, g.kd, g.kh, g.kw, g.sd, g.sh, g.sw,
                              g.pd, g.ph, g.pw, g.OD, g.OH, g.OW, int64_t(dt), tf32, det, int64_t(limit)};

  // Channels-last operands: weights transposed to (K, taps, C); the input padded when needed.
  const int64_t taps = g.kd * g.kh * g.kw;
  wt_ = Scratch(size_t(g.w_numel()) * es);
  xp_ = Scratch(padded && c.op != Op::conv3d_dgrad ? size_t(g.N * pin_[0] * pin_[1] * pin_[2] * g.C) * es : 0);
  dxp_ = Scratch(padded && c.op == Op::conv3d_dgrad ? size_t(g.N * pin_[0] * pin_[1] * pin_[2] * g.C) * es : 0);
  if (c.op == Op::conv3d_fprop || c.op == Op::conv3d_wgrad) {
    x_ = c.in[0]->storage->data;
    if (padded) {
      const int64_t off[3] = {-g.pd, -g.ph, -g.pw};
      launch_window_copy(x_, xp_.get(), g.N, g.C, in, pin_, off, dt);
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
  w_ = wt_.get();

  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_plans.find(key);
  if (it == g_plans.end()) {
    Plan p;
    p.padded = padded;
    for (int i = 0; i < 3; i++) p.in_dhw[i] = pin_[i];
    VNET_CUDNN_CHECK(api.cudnnCreateTensorDescriptor(&p.x));
    VNET_CUDNN_CHECK(api.cudnnCreateTensorDescriptor(&p.y));
    VNET_CUDNN_CHECK(api.cudnnCreateFilterDescriptor(&p.w));
    VNET_CUDNN_CHECK(api.cudnnCreateConvolutionDescriptor(&p.conv));
    int cpad[3] = {padded ? 0 : int(g.pd), padded ? 0 : int(g.ph), padded ? 0 : int(g.pw)};
    int cstr[3] = {int(g.sd), int(g.sh), int(g.sw)}, dil[3] = {1, 1, 1};
    VNET_CUDNN_CHECK(api.cudnnSetConvolutionNdDescriptor(p.conv, 3, cpad, cstr, dil, dnn::CUDNN_CROSS_CORRELATION,
                                                         dnn::CUDNN_DATA_FLOAT));
    const dnn::MathType math = dt == DType::F16 ? dnn::CUDNN_TENSOR_OP_MATH
                               : tf32           ? dnn::CUDNN_DEFAULT_MATH
                                                : dnn::CUDNN_FMA_MATH;
    VNET_CUDNN_CHECK(api.cudnnSetConvolutionMathType(p.conv, math));
    const bool allow_tensor = dt == DType::F16 || tf32;
    const int fdims[5] = {to_int(g.K, "K"), to_int(g.C, "C"), int(g.kd), int(g.kh), int(g.kw)};
    // One search: the descriptors (and, channels first, the operands) in that layout, then
    // cuDNN's list.
    auto ask = [&](ConvLayout layout, AlgoSearch search) {
      set_tensor(api, p.x, ddt, layout, g.N, g.C, pin_[0], pin_[1], pin_[2]);
      set_tensor(api, p.y, ddt, layout, g.N, g.K, g.OD, g.OH, g.OW);
      VNET_CUDNN_CHECK(api.cudnnSetFilterNdDescriptor(
          p.w, ddt, layout == ConvLayout::ChannelsLast ? dnn::CUDNN_TENSOR_NHWC : dnn::CUDNN_TENSOR_NCHW, 5, fdims));
      if (layout == ConvLayout::ChannelsFirst) stage_channels_first();
      AlgoQuery q;
      int n = 0;
      if (search == AlgoSearch::Find) {
        Scratch ws = find_workspace(limit);
        q.workspace_limit = ws.bytes();
        if (c.op == Op::conv3d_fprop) {
          dnn::FwdPerf perf[dnn::CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
          VNET_CUDNN_CHECK(api.cudnnFindConvolutionForwardAlgorithmEx(h, p.x, x_, p.w, w_, p.conv, p.y, dst_,
                                                                       dnn::CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf,
                                                                       ws.get(), ws.bytes()));
          q.results = results_of(perf, n);
        } else if (c.op == Op::conv3d_dgrad) {
          dnn::BwdDataPerf perf[dnn::CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
          VNET_CUDNN_CHECK(api.cudnnFindConvolutionBackwardDataAlgorithmEx(h, p.w, w_, p.y, dy_, p.conv, p.x, dst_,
                                                                            dnn::CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                                            &n, perf, ws.get(), ws.bytes()));
          q.results = results_of(perf, n);
        } else {
          dnn::BwdFilterPerf perf[dnn::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
          VNET_CUDNN_CHECK(api.cudnnFindConvolutionBackwardFilterAlgorithmEx(
              h, p.x, x_, p.y, dy_, p.conv, p.w, dst_, dnn::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf, ws.get(),
              ws.bytes()));
          q.results = results_of(perf, n);
        }
      } else {
        q.workspace_limit = limit;
        if (c.op == Op::conv3d_fprop) {
          dnn::FwdPerf perf[dnn::CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
          VNET_CUDNN_CHECK(api.cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y,
                                                                       dnn::CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
          q.results = results_of(perf, n);
        } else if (c.op == Op::conv3d_dgrad) {
          dnn::BwdDataPerf perf[dnn::CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
          VNET_CUDNN_CHECK(api.cudnnGetConvolutionBackwardDataAlgorithm_v7(
              h, p.w, p.y, p.conv, p.x, dnn::CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
          q.results = results_of(perf, n);
        } else {
          dnn::BwdFilterPerf perf[dnn::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
          VNET_CUDNN_CHECK(api.cudnnGetConvolutionBackwardFilterAlgorithm_v7(
              h, p.x, p.y, p.conv, p.w, dnn::CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
          q.results = results_of(perf, n);
        }
      }
      return q;
    };
    const char* direction = c.op == Op::conv3d_fprop ? "forward" : c.op == Op::conv3d_dgrad ? "backward-data" : "backward-filter";
    AlgoChoice ch = choose_conv_algo(ask, det, allow_tensor, use_find(), direction, geometry_of(c, g, tf32));
    // The descriptors as the chosen layout wants them (the last search may have been another).
    p.layout = ch.layout;
    set_tensor(api, p.x, ddt, ch.layout, g.N, g.C, pin_[0], pin_[1], pin_[2]);
    set_tensor(api, p.y, ddt, ch.layout, g.N, g.K, g.OD, g.OH, g.OW);
    VNET_CUDNN_CHECK(api.cudnnSetFilterNdDescriptor(
        p.w, ddt, ch.layout == ConvLayout::ChannelsLast ? dnn::CUDNN_TENSOR_NHWC : dnn::CUDNN_TENSOR_NCHW, 5, fdims));
    p.algo = ch.algo;
    p.math = ch.math;
    p.ws = ch.workspace;
    VNET_CUDNN_CHECK(api.cudnnSetConvolutionMathType(p.conv, dnn::MathType(p.math)));
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
  if (plan_->layout == ConvLayout::ChannelsFirst) stage_channels_first();
}

// NCDHW copies of the operands (once per call): the input (after padding) and dy transposed per
// sample, the weights from (K, taps, C) to (K, C, taps); the result goes to scratch and finish()
// brings it back.
void CudnnConv::stage_channels_first() {
  if (cf_) return;
  cf_ = true;
  const ConvGeom& g = g_;
  const DType dt = c_.in[0]->dtype;
  const size_t es = dtype_size(dt);
  const int64_t taps = g.kd * g.kh * g.kw, P = pin_[0] * pin_[1] * pin_[2], O = g.OD * g.OH * g.OW;
  if (c_.op != Op::conv3d_dgrad) {  // x: (N, P, C) -> (N, C, P)
    xcf_ = Scratch(size_t(g.N * P * g.C) * es);
    launch_transpose2d(x_, xcf_.get(), P, g.C, dt, g.N);
    x_ = xcf_.get();
  }
  if (c_.op != Op::conv3d_fprop) {  // dy: (N, O, K) -> (N, K, O)
    dycf_ = Scratch(size_t(g.N * O * g.K) * es);
    launch_transpose2d(dy_, dycf_.get(), O, g.K, dt, g.N);
    dy_ = dycf_.get();
  }
  wcf_ = Scratch(size_t(g.w_numel()) * es);
  if (c_.op != Op::conv3d_wgrad) launch_transpose2d(wt_.get(), wcf_.get(), taps, g.C, dt, g.K);  // (K, taps, C) -> (K, C, taps)
  w_ = wcf_.get();
  outcf_ = Scratch(c_.op == Op::conv3d_wgrad ? 0 : size_t(c_.op == Op::conv3d_fprop ? g.N * O * g.K : g.N * P * g.C) * es);
  dst_ = c_.op == Op::conv3d_wgrad ? wcf_.get() : outcf_.get();
}

int CudnnConv::algo() const { return plan_->algo; }
int CudnnConv::math() const { return plan_->math; }
size_t CudnnConv::workspace() const { return plan_->ws; }
bool CudnnConv::channels_first() const { return plan_->layout == ConvLayout::ChannelsFirst; }

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
    st = api.cudnnConvolutionForward(h, &one, p.x, x_, p.w, w_, p.conv, dnn::FwdAlgo(algo), ws, ws_bytes, &zero, p.y,
                                     dst_);
  else if (c_.op == Op::conv3d_dgrad)
    st = api.cudnnConvolutionBackwardData(h, &one, p.w, w_, p.y, dy_, p.conv, dnn::BwdDataAlgo(algo), ws, ws_bytes,
                                          &zero, p.x, dst_);
  else
    st = api.cudnnConvolutionBackwardFilter(h, &one, p.x, x_, p.y, dy_, p.conv, dnn::BwdFilterAlgo(algo), ws, ws_bytes,
                                            &zero, p.w, dst_);
  if (math != p.math) VNET_CUDNN_CHECK(api.cudnnSetConvolutionMathType(p.conv, dnn::MathType(p.math)));
  return int(st);
}

void CudnnConv::finish() const {
  const ConvGeom& g = g_;
  const DType dt = c_.in[0]->dtype;
  const int64_t taps = g.kd * g.kh * g.kw, P = pin_[0] * pin_[1] * pin_[2], O = g.OD * g.OH * g.OW;
  const int64_t in[3] = {g.D, g.H, g.W}, off[3] = {g.pd, g.ph, g.pw};
  const bool cf = plan_->layout == ConvLayout::ChannelsFirst;
  if (c_.op == Op::conv3d_fprop) {
    if (cf) launch_transpose2d(outcf_.get(), c_.out[0]->storage->data, g.K, O, dt, g.N);  // (N, K, O) -> (N, O, K)
  } else if (c_.op == Op::conv3d_dgrad) {
    void* dx = plan_->padded ? dxp_.get() : c_.out[0]->storage->data;
    if (cf) launch_transpose2d(outcf_.get(), dx, g.C, P, dt, g.N);  // (N, C, P) -> (N, P, C)
    if (plan_->padded) launch_window_copy(dxp_.get(), c_.out[0]->storage->data, g.N, g.C, plan_->in_dhw, in, off, dt);
  } else {
    if (cf) launch_transpose2d(wcf_.get(), wt_.get(), g.C, taps, dt, g.K);  // (K, C, taps) -> (K, taps, C)
    launch_transpose2d(wt_.get(), c_.out[0]->storage->data, g.K, taps * g.C, dt);
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
