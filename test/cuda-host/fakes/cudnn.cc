// A stand-in libcudnn.so.9 for the host shim's tests: the legacy convolution API the engine
// calls (conv_cudnn.cc), computed with plain loops in double on "device" memory, which the
// host shim keeps in host memory, queued on the handle's stream (a capture records it). Its
// search results are synthetic and steerable, so the
// engine's algorithm choice and its fallbacks run end to end:
//   VNET_FAKE_CUDNN   comma list: nhwc:none (no algorithm for channels-last operands),
//                     find:huge (the timed search offers only algorithms needing 1 PiB of
//                     workspace), all:none (nothing anywhere), nondeterministic (every result)
//   VNET_FAKE_CUDNN_LOG  a file that gets one line per convolution run: "<direction> <layout>"
// What this cannot tell: anything about the real cuDNN (its layouts, its numerics, its speed).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "native/cuda/cudnn_api.h"
#include "native/half.h"
#include "on_stream.h"

using namespace vnet::dnn;

struct cudnnContext {
  cudaStream_t stream = nullptr;
};
struct cudnnTensorStruct {
  int dt = 0, nd = 0;
  int dims[8] = {0}, strides[8] = {0};
};
struct cudnnFilterStruct {
  int dt = 0, format = 0, nd = 0;
  int dims[8] = {0};
};
struct cudnnConvolutionStruct {
  int nd = 0, pad[3] = {0}, stride[3] = {1, 1, 1}, dil[3] = {1, 1, 1};
  int math = 0;
};

namespace {

constexpr Status kBadParam = Status(2000), kNotSupported = Status(3000);

bool flag(const char* f) {
  const char* v = std::getenv("VNET_FAKE_CUDNN");
  return v && std::strstr(v, f);
}

void log_run(const char* dir, const cudnnFilterStruct* w) {
  const char* path = std::getenv("VNET_FAKE_CUDNN_LOG");
  if (!path) return;
  if (FILE* f = std::fopen(path, "a")) {
    std::fprintf(f, "%s %s\n", dir, w->format == CUDNN_TENSOR_NHWC ? "channels-last" : "channels-first");
    std::fclose(f);
  }
}

double get(const void* p, int dt, long i) {
  return dt == CUDNN_DATA_HALF ? double(vnet::half_to_float(static_cast<const uint16_t*>(p)[i])) : double(static_cast<const float*>(p)[i]);
}
void put(void* p, int dt, long i, double v) {
  if (dt == CUDNN_DATA_HALF) static_cast<uint16_t*>(p)[i] = vnet::float_to_half(float(v));
  else static_cast<float*>(p)[i] = float(v);
}

// The geometry of one 3-D convolution, from the three descriptors; false when they disagree.
struct Geo {
  int N, C, K, in[3], out[3], k[3], pad[3], stride[3];
  const cudnnTensorStruct *x, *y;
  const cudnnFilterStruct* w;
  long xi(int n, int c, const int* s) const {
    return long(n) * x->strides[0] + long(c) * x->strides[1] + long(s[0]) * x->strides[2] + long(s[1]) * x->strides[3] +
           long(s[2]) * x->strides[4];
  }
  long yi(int n, int kk, const int* o) const {
    return long(n) * y->strides[0] + long(kk) * y->strides[1] + long(o[0]) * y->strides[2] + long(o[1]) * y->strides[3] +
           long(o[2]) * y->strides[4];
  }
  long wi(int kk, int c, const int* t) const {
    const long taps = long(t[0]) * k[1] * k[2] + long(t[1]) * k[2] + t[2];
    return w->format == CUDNN_TENSOR_NHWC ? (long(kk) * k[0] * k[1] * k[2] + taps) * C + c
                                          : (long(kk) * C + c) * k[0] * k[1] * k[2] + taps;
  }
};

bool geometry(const cudnnTensorStruct* x, const cudnnFilterStruct* w, const cudnnConvolutionStruct* cv,
              const cudnnTensorStruct* y, Geo* g) {
  if (!x || !w || !cv || !y || x->nd != 5 || y->nd != 5 || w->nd != 5 || cv->nd != 3) return false;
  g->x = x, g->y = y, g->w = w;
  g->N = x->dims[0], g->C = x->dims[1], g->K = w->dims[0];
  if (w->dims[1] != g->C || y->dims[0] != g->N || y->dims[1] != g->K) return false;
  for (int i = 0; i < 3; i++) {
    g->in[i] = x->dims[2 + i], g->out[i] = y->dims[2 + i], g->k[i] = w->dims[2 + i];
    g->pad[i] = cv->pad[i], g->stride[i] = cv->stride[i];
    if (cv->dil[i] != 1 || (g->in[i] + 2 * g->pad[i] - g->k[i]) / g->stride[i] + 1 != g->out[i]) return false;
  }
  return true;
}

// Calls f(n, k, c, o, i, t) for every output position o, tap t and input position i = o*s - p + t inside x.
template <class F>
void each_tap(const Geo& g, F f) {
  int o[3], t[3], i[3];
  for (int n = 0; n < g.N; n++)
    for (o[0] = 0; o[0] < g.out[0]; o[0]++)
      for (o[1] = 0; o[1] < g.out[1]; o[1]++)
        for (o[2] = 0; o[2] < g.out[2]; o[2]++)
          for (t[0] = 0; t[0] < g.k[0]; t[0]++)
            for (t[1] = 0; t[1] < g.k[1]; t[1]++)
              for (t[2] = 0; t[2] < g.k[2]; t[2]++) {
                bool inside = true;
                for (int d = 0; d < 3; d++) {
                  i[d] = o[d] * g.stride[d] - g.pad[d] + t[d];
                  inside = inside && i[d] >= 0 && i[d] < g.in[d];
                }
                if (inside) f(n, o, i, t);
              }
}

size_t algo_memory(int algo) { return algo == 1 ? (size_t(1) << 20) : 0; }

// The synthetic perf list: algo 1 (1 MiB of workspace) before algo 0 (none), as cuDNN sorts
// fastest first; steered by VNET_FAKE_CUDNN.
template <class Perf>
Status perf_list(const cudnnFilterStruct* w, const cudnnConvolutionStruct* cv, bool find, int req, int* n, Perf* perf) {
  *n = 0;
  if (req < 2) return kBadParam;
  const bool none = flag("all:none") || (flag("nhwc:none") && w->format == CUDNN_TENSOR_NHWC);
  for (int a : {1, 0}) {
    Perf& p = perf[(*n)++];
    std::memset(&p, 0, sizeof p);
    p.algo = decltype(p.algo)(a);
    p.status = none ? kNotSupported : CUDNN_STATUS_SUCCESS;
    p.memory = find && flag("find:huge") ? (size_t(1) << 50) : algo_memory(a);
    p.determinism = flag("nondeterministic") ? CUDNN_NON_DETERMINISTIC : CUDNN_DETERMINISTIC;
    p.mathType = MathType(cv->math);
    p.time = float(a + 1);
  }
  return CUDNN_STATUS_SUCCESS;
}

void poison(void* p, const cudnnTensorStruct* d) {  // Find runs the convolution into its output buffer
  long n = 1;
  for (int i = 0; i < d->nd; i++) n = std::max(n, long(d->dims[i] - 1) * d->strides[i] + 1);
  std::memset(p, 0xff, size_t(n) * (d->dt == CUDNN_DATA_HALF ? 2 : 4));
}

Status run_check(int algo, size_t ws, const cudnnFilterStruct* w) {
  if (algo != 0 && algo != 1) return kNotSupported;
  if (ws < algo_memory(algo)) return kBadParam;  // the caller allocated too little workspace
  if (flag("all:none") || (flag("nhwc:none") && w->format == CUDNN_TENSOR_NHWC)) return kNotSupported;
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace

extern "C" {

size_t cudnnGetVersion(void) { return 91000; }
const char* cudnnGetErrorString(Status s) {
  return s == CUDNN_STATUS_SUCCESS ? "CUDNN_STATUS_SUCCESS" : s == kBadParam ? "CUDNN_STATUS_BAD_PARAM" : s == kNotSupported ? "CUDNN_STATUS_NOT_SUPPORTED" : "CUDNN_STATUS_INTERNAL_ERROR";
}
Status cudnnCreate(Handle* h) { *h = new cudnnContext(); return CUDNN_STATUS_SUCCESS; }
Status cudnnDestroy(Handle h) { delete h; return CUDNN_STATUS_SUCCESS; }
Status cudnnSetStream(Handle h, cudaStream_t s) { h->stream = s; return CUDNN_STATUS_SUCCESS; }
Status cudnnCreateTensorDescriptor(TensorDesc* d) { *d = new cudnnTensorStruct(); return CUDNN_STATUS_SUCCESS; }
Status cudnnDestroyTensorDescriptor(TensorDesc d) { delete d; return CUDNN_STATUS_SUCCESS; }
Status cudnnSetTensorNdDescriptor(TensorDesc d, DataType dt, int nd, const int* dims, const int* strides) {
  if (nd < 3 || nd > 8) return kBadParam;
  d->dt = dt, d->nd = nd;
  for (int i = 0; i < nd; i++) d->dims[i] = dims[i], d->strides[i] = strides[i];
  return CUDNN_STATUS_SUCCESS;
}
Status cudnnCreateFilterDescriptor(FilterDesc* d) { *d = new cudnnFilterStruct(); return CUDNN_STATUS_SUCCESS; }
Status cudnnDestroyFilterDescriptor(FilterDesc d) { delete d; return CUDNN_STATUS_SUCCESS; }
Status cudnnSetFilterNdDescriptor(FilterDesc d, DataType dt, TensorFormat f, int nd, const int* dims) {
  if (nd < 3 || nd > 8) return kBadParam;
  d->dt = dt, d->format = f, d->nd = nd;
  for (int i = 0; i < nd; i++) d->dims[i] = dims[i];
  return CUDNN_STATUS_SUCCESS;
}
Status cudnnCreateConvolutionDescriptor(ConvDesc* d) { *d = new cudnnConvolutionStruct(); return CUDNN_STATUS_SUCCESS; }
Status cudnnDestroyConvolutionDescriptor(ConvDesc d) { delete d; return CUDNN_STATUS_SUCCESS; }
Status cudnnSetConvolutionNdDescriptor(ConvDesc d, int nd, const int* pad, const int* stride, const int* dil, ConvMode mode,
                                       DataType) {
  if (nd != 3 || mode != CUDNN_CROSS_CORRELATION) return kNotSupported;
  d->nd = nd;
  for (int i = 0; i < 3; i++) d->pad[i] = pad[i], d->stride[i] = stride[i], d->dil[i] = dil[i];
  return CUDNN_STATUS_SUCCESS;
}
Status cudnnSetConvolutionMathType(ConvDesc d, MathType m) { d->math = m; return CUDNN_STATUS_SUCCESS; }

Status cudnnGetConvolutionForwardAlgorithm_v7(Handle, TensorDesc x, FilterDesc w, ConvDesc cv, TensorDesc y, int req, int* n,
                                              FwdPerf* perf) {
  Geo g;
  if (!geometry(x, w, cv, y, &g)) return kBadParam;
  return perf_list(w, cv, false, req, n, perf);
}
Status cudnnFindConvolutionForwardAlgorithmEx(Handle, TensorDesc x, const void*, FilterDesc w, const void*, ConvDesc cv,
                                              TensorDesc y, void* yp, int req, int* n, FwdPerf* perf, void*, size_t) {
  Geo g;
  if (!geometry(x, w, cv, y, &g)) return kBadParam;
  poison(yp, y);
  return perf_list(w, cv, true, req, n, perf);
}
Status cudnnGetConvolutionForwardWorkspaceSize(Handle, TensorDesc, FilterDesc, ConvDesc, TensorDesc, FwdAlgo a, size_t* b) {
  *b = algo_memory(a);
  return a == 0 || a == 1 ? CUDNN_STATUS_SUCCESS : kNotSupported;
}
Status cudnnConvolutionForward(Handle h, const void* alpha, TensorDesc x, const void* xp, FilterDesc w, const void* wp,
                               ConvDesc cv, FwdAlgo a, void*, size_t ws, const void* beta, TensorDesc y, void* yp) {
  Geo g;
  if (!geometry(x, w, cv, y, &g)) return kBadParam;
  if (Status s = run_check(a, ws, w)) return s;
  log_run("forward", w);
  const cudnnTensorStruct X = *x, Y = *y;
  const cudnnFilterStruct W = *w;
  const cudnnConvolutionStruct CV = *cv;
  const double al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  on_stream(h->stream, [=] {
    Geo g;
    geometry(&X, &W, &CV, &Y, &g);
    std::vector<double> acc(size_t(g.N) * g.K * g.out[0] * g.out[1] * g.out[2]);
    auto ai = [&](int n, int k, const int* o) { return ((size_t(n) * g.K + k) * g.out[0] + o[0]) * g.out[1] * g.out[2] + size_t(o[1]) * g.out[2] + o[2]; };
    each_tap(g, [&](int n, const int* o, const int* i, const int* t) {
      for (int k = 0; k < g.K; k++)
        for (int c = 0; c < g.C; c++) acc[ai(n, k, o)] += get(xp, X.dt, g.xi(n, c, i)) * get(wp, W.dt, g.wi(k, c, t));
    });
    int o[3];
    for (int n = 0; n < g.N; n++)
      for (int k = 0; k < g.K; k++)
        for (o[0] = 0; o[0] < g.out[0]; o[0]++)
          for (o[1] = 0; o[1] < g.out[1]; o[1]++)
            for (o[2] = 0; o[2] < g.out[2]; o[2]++) {
              long yi = g.yi(n, k, o);
              put(yp, Y.dt, yi, al * acc[ai(n, k, o)] + (be != 0 ? be * get(yp, Y.dt, yi) : 0));
            }
  });
  return CUDNN_STATUS_SUCCESS;
}

Status cudnnGetConvolutionBackwardDataAlgorithm_v7(Handle, FilterDesc w, TensorDesc dy, ConvDesc cv, TensorDesc dx, int req,
                                                   int* n, BwdDataPerf* perf) {
  Geo g;
  if (!geometry(dx, w, cv, dy, &g)) return kBadParam;
  return perf_list(w, cv, false, req, n, perf);
}
Status cudnnFindConvolutionBackwardDataAlgorithmEx(Handle, FilterDesc w, const void*, TensorDesc dy, const void*, ConvDesc cv,
                                                   TensorDesc dx, void* dxp, int req, int* n, BwdDataPerf* perf, void*, size_t) {
  Geo g;
  if (!geometry(dx, w, cv, dy, &g)) return kBadParam;
  poison(dxp, dx);
  return perf_list(w, cv, true, req, n, perf);
}
Status cudnnGetConvolutionBackwardDataWorkspaceSize(Handle, FilterDesc, TensorDesc, ConvDesc, TensorDesc, BwdDataAlgo a,
                                                    size_t* b) {
  *b = algo_memory(a);
  return a == 0 || a == 1 ? CUDNN_STATUS_SUCCESS : kNotSupported;
}
Status cudnnConvolutionBackwardData(Handle h, const void* alpha, FilterDesc w, const void* wp, TensorDesc dy, const void* dyp,
                                    ConvDesc cv, BwdDataAlgo a, void*, size_t ws, const void* beta, TensorDesc dx, void* dxp) {
  Geo g;
  if (!geometry(dx, w, cv, dy, &g)) return kBadParam;
  if (Status s = run_check(a, ws, w)) return s;
  log_run("backward-data", w);
  const cudnnTensorStruct DX = *dx, DY = *dy;
  const cudnnFilterStruct W = *w;
  const cudnnConvolutionStruct CV = *cv;
  const double al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  on_stream(h->stream, [=] {
    Geo g;
    geometry(&DX, &W, &CV, &DY, &g);
    std::vector<double> acc(size_t(g.N) * g.C * g.in[0] * g.in[1] * g.in[2]);
    auto ai = [&](int n, int c, const int* i) { return ((size_t(n) * g.C + c) * g.in[0] + i[0]) * g.in[1] * g.in[2] + size_t(i[1]) * g.in[2] + i[2]; };
    each_tap(g, [&](int n, const int* o, const int* i, const int* t) {
      for (int c = 0; c < g.C; c++)
        for (int k = 0; k < g.K; k++) acc[ai(n, c, i)] += get(dyp, DY.dt, g.yi(n, k, o)) * get(wp, W.dt, g.wi(k, c, t));
    });
    int i[3];
    for (int n = 0; n < g.N; n++)
      for (int c = 0; c < g.C; c++)
        for (i[0] = 0; i[0] < g.in[0]; i[0]++)
          for (i[1] = 0; i[1] < g.in[1]; i[1]++)
            for (i[2] = 0; i[2] < g.in[2]; i[2]++) {
              long xi = g.xi(n, c, i);
              put(dxp, DX.dt, xi, al * acc[ai(n, c, i)] + (be != 0 ? be * get(dxp, DX.dt, xi) : 0));
            }
  });
  return CUDNN_STATUS_SUCCESS;
}

Status cudnnGetConvolutionBackwardFilterAlgorithm_v7(Handle, TensorDesc x, TensorDesc dy, ConvDesc cv, FilterDesc dw, int req,
                                                     int* n, BwdFilterPerf* perf) {
  Geo g;
  if (!geometry(x, dw, cv, dy, &g)) return kBadParam;
  return perf_list(dw, cv, false, req, n, perf);
}
Status cudnnFindConvolutionBackwardFilterAlgorithmEx(Handle, TensorDesc x, const void*, TensorDesc dy, const void*, ConvDesc cv,
                                                     FilterDesc dw, void* dwp, int req, int* n, BwdFilterPerf* perf, void*,
                                                     size_t) {
  Geo g;
  if (!geometry(x, dw, cv, dy, &g)) return kBadParam;
  std::memset(dwp, 0xff, size_t(g.K) * g.C * g.k[0] * g.k[1] * g.k[2] * (dw->dt == CUDNN_DATA_HALF ? 2 : 4));
  return perf_list(dw, cv, true, req, n, perf);
}
Status cudnnGetConvolutionBackwardFilterWorkspaceSize(Handle, TensorDesc, TensorDesc, ConvDesc, FilterDesc, BwdFilterAlgo a,
                                                      size_t* b) {
  *b = algo_memory(a);
  return a == 0 || a == 1 ? CUDNN_STATUS_SUCCESS : kNotSupported;
}
Status cudnnConvolutionBackwardFilter(Handle h, const void* alpha, TensorDesc x, const void* xp, TensorDesc dy, const void* dyp,
                                      ConvDesc cv, BwdFilterAlgo a, void*, size_t ws, const void* beta, FilterDesc dw,
                                      void* dwp) {
  Geo g;
  if (!geometry(x, dw, cv, dy, &g)) return kBadParam;
  if (Status s = run_check(a, ws, dw)) return s;
  log_run("backward-filter", dw);
  const cudnnTensorStruct X = *x, DY = *dy;
  const cudnnFilterStruct DW = *dw;
  const cudnnConvolutionStruct CV = *cv;
  const double al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  on_stream(h->stream, [=] {
    Geo g;
    geometry(&X, &DW, &CV, &DY, &g);
    const int taps = g.k[0] * g.k[1] * g.k[2];
    std::vector<double> acc(size_t(g.K) * g.C * taps);
    each_tap(g, [&](int n, const int* o, const int* i, const int* t) {
      const int tap = (t[0] * g.k[1] + t[1]) * g.k[2] + t[2];
      for (int k = 0; k < g.K; k++)
        for (int c = 0; c < g.C; c++)
          acc[(size_t(k) * g.C + c) * taps + tap] += get(xp, X.dt, g.xi(n, c, i)) * get(dyp, DY.dt, g.yi(n, k, o));
    });
    int t[3];
    for (int k = 0; k < g.K; k++)
      for (int c = 0; c < g.C; c++)
        for (t[0] = 0; t[0] < g.k[0]; t[0]++)
          for (t[1] = 0; t[1] < g.k[1]; t[1]++)
            for (t[2] = 0; t[2] < g.k[2]; t[2]++) {
              long wi = g.wi(k, c, t);
              const int tap = (t[0] * g.k[1] + t[1]) * g.k[2] + t[2];
              put(dwp, DW.dt, wi, al * acc[(size_t(k) * g.C + c) * taps + tap] + (be != 0 ? be * get(dwp, DW.dt, wi) : 0));
            }
  });
  return CUDNN_STATUS_SUCCESS;
}

}  // extern "C"
