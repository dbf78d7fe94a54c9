// The benchmarks' native side: timed convolution calls (native/conv_bench.h), the portable CPU
// reference loops they are checked against, and the CPU's and GPU's peak GFLOP/s.
// convBench(op, inputs, attrs, {warmup, minReps, minMs, maxReps, all, algo}) -> [{algo, chosen, ms: number[], out?, error?}];
// convReference(op, inputs, attrs) -> tensor; convAlgos(); cpuPeakGflops(threads, seconds); gpuPeak().
#include "../native/backend.h"
#include "../native/conv_bench.h"
#include "../native/cpu/conv_algo.h"
#include "../native/cpu/cpu_features.h"
#include "../native/cpu/winograd.h"
#include "../native/threadpool.h"
#include "napi_util.h"

namespace vnet::bind {

namespace {

OpCall conv_call(Napi::Env env, const Napi::CallbackInfo& info, Attrs& attrs, std::vector<TensorPtr>& keep) {
  Op op = op_from_name(get_string(env, info[0], "op"));
  if (op != Op::conv3d_fprop && op != Op::conv3d_dgrad && op != Op::conv3d_wgrad)
    js_throw(env, "VNET_E_INVALID_ARG", "expected a conv3d_* op");
  if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() != 2)
    js_throw(env, "VNET_E_INVALID_ARG", "inputs must be two tensor handles");
  Napi::Array arr = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < 2; i++) keep.push_back(get_tensor(env, arr.Get(i), "conv input"));
  VNET_CHECK(keep[0]->device == keep[1]->device, VNET_E_DEVICE, "conv inputs are on different devices");
  VNET_CHECK(keep[0]->dtype == keep[1]->dtype, VNET_E_DTYPE, "conv inputs must share a dtype");
  attrs = get_attrs(env, info[2]);
  return OpCall{op, keep, {}, &attrs};
}

Napi::Value ConvBench(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    Attrs attrs;
    std::vector<TensorPtr> keep;
    OpCall call = conv_call(env, info, attrs, keep);
    ConvBenchOptions o;
    if (info[3].IsObject()) {
      Napi::Object q = info[3].As<Napi::Object>();
      auto num = [&](const char* k, double d) { return q.Get(k).IsNumber() ? q.Get(k).As<Napi::Number>().DoubleValue() : d; };
      o.warmup = int(num("warmup", o.warmup));
      o.min_reps = int(num("minReps", o.min_reps));
      o.min_ms = num("minMs", o.min_ms);
      o.max_reps = int(num("maxReps", o.max_reps));
      o.all = q.Get("all").IsBoolean() && q.Get("all").As<Napi::Boolean>().Value();
      if (q.Get("algo").IsString()) o.algo = q.Get("algo").As<Napi::String>().Utf8Value();
    }
    VNET_CHECK(o.warmup >= 0 && o.min_reps >= 1 && o.max_reps >= o.min_reps && o.min_ms >= 0, VNET_E_INVALID_ARG,
               "convBench: warmup >= 0, 1 <= minReps <= maxReps, minMs >= 0");
    std::vector<ConvBenchResult> rs =
        keep[0]->device == Device::CPU ? cpu::conv_bench(call, o) : cuda::conv_bench(call, o);
    Napi::Array res = Napi::Array::New(env, rs.size());
    for (size_t i = 0; i < rs.size(); i++) {
      Napi::Object r = Napi::Object::New(env);
      r.Set("algo", rs[i].algo);
      r.Set("chosen", rs[i].chosen);
      Napi::Array ms = Napi::Array::New(env, rs[i].ms.size());
      for (size_t j = 0; j < rs[i].ms.size(); j++) ms.Set(uint32_t(j), rs[i].ms[j]);
      r.Set("ms", ms);
      if (rs[i].out && rs[i].error.empty()) r.Set("out", describe(env, rs[i].out));
      if (!rs[i].error.empty()) r.Set("error", rs[i].error);
      res.Set(uint32_t(i), r);
    }
    return res;
  });
}

Napi::Value ConvReference(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    Attrs attrs;
    std::vector<TensorPtr> keep;
    OpCall call = conv_call(env, info, attrs, keep);
    return describe(env, cpu::conv_reference(call));
  });
}

// convAlgos() -> {setting, choices: [{dir, input, filters, threads, algo, directMs, winogradMs}],
// cache: {hits, misses, entries, bytes}}: the CPU convolution algorithm choice (VNET_CONV_ALGO,
// throws on an unknown value), what auto measured so far and the Winograd filter-transform cache.
Napi::Value ConvAlgos(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    o.Set("setting", cpu::conv_algo_setting());
    std::vector<cpu::ConvChoice> cs = cpu::conv_algo_choices();
    Napi::Array arr = Napi::Array::New(env, cs.size());
    for (size_t i = 0; i < cs.size(); i++) {
      const ConvGeom& g = cs[i].g;
      Napi::Object c = Napi::Object::New(env);
      c.Set("dir", cpu::conv_dir_name(cs[i].dir));
      Napi::Array in = Napi::Array::New(env, 5);
      const int64_t dims[5] = {g.N, g.D, g.H, g.W, g.C};
      for (uint32_t j = 0; j < 5; j++) in.Set(j, double(dims[j]));
      c.Set("input", in);
      c.Set("filters", double(g.K));
      c.Set("threads", cs[i].threads);
      c.Set("algo", cpu::conv_algo_name(cs[i].algo));
      c.Set("directMs", cs[i].direct_ms);
      c.Set("winogradMs", cs[i].winograd_ms);
      arr.Set(uint32_t(i), c);
    }
    o.Set("choices", arr);
    const cpu::WinoCacheStats st = cpu::wino_cache_stats();
    Napi::Object cache = Napi::Object::New(env);
    cache.Set("hits", double(st.hits));
    cache.Set("misses", double(st.misses));
    cache.Set("entries", double(st.entries));
    cache.Set("bytes", double(st.bytes));
    o.Set("cache", cache);
    return o;
  });
}

Napi::Value CpuPeakGflops(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    int threads = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : num_threads();
    double secs = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0.5;
    return Napi::Number::New(env, cpu::measure_peak_gflops(threads, secs));
  });
}

Napi::Value GpuPeak(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    if (!device_available(Device::CUDA)) cuda::init(0);
    cuda::GpuPeak p = cuda::gpu_peak();
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", p.name);
    o.Set("computeCapability", std::to_string(p.major) + "." + std::to_string(p.minor));
    o.Set("sms", p.sms);
    o.Set("clockMHz", p.clock_mhz);
    o.Set("maxClockMHz", p.max_clock_mhz);
    o.Set("clockSource", p.clock_source);
    o.Set("fp32", p.fp32);
    o.Set("tf32", p.tf32);
    o.Set("fp16", p.fp16);
    return o;
  });
}

}  // namespace

void export_timing(Napi::Env env, Napi::Object exports) {
  exports.Set("convBench", Napi::Function::New(env, ConvBench));
  exports.Set("convAlgos", Napi::Function::New(env, ConvAlgos));
  exports.Set("convReference", Napi::Function::New(env, ConvReference));
  exports.Set("cpuPeakGflops", Napi::Function::New(env, CpuPeakGflops));
  exports.Set("gpuPeak", Napi::Function::New(env, GpuPeak));
}

}  // namespace vnet::bind
