// The N-API surface of the engine: a handful of functions over tensor handles. Arguments are
// validated here; every C++ exception becomes a JS Error with a `code` (VNET_E_...), so no
// native failure ends the process.
#include <napi.h>

#include <cstring>
#include <mutex>

#include "../native/backend.h"
#include "../native/conv_bench.h"
#include "../native/cpu/cpu_features.h"
#include "../native/error.h"
#include "../native/ops.h"
#include "../native/threadpool.h"
#include "../native/transfer.h"

// What was compiled in, for `vnet-native --version` (CMake sets both on this file only).
#ifndef VNET_ISA_PATHS
#define VNET_ISA_PATHS "portable"
#endif
#ifndef VNET_CUDA_ARCHS
#define VNET_CUDA_ARCHS ""
#endif

using namespace vnet;

namespace {

// What a JS handle owns: dispose() drops the tensor at once, the finalizer is the backstop.
struct Holder {
  TensorPtr t;
};

[[noreturn]] void js_throw(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("code", Napi::String::New(env, code));
  throw err;
}

template <class F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& body) {
  Napi::Env env = info.Env();
  try {
    return body(env);
  } catch (const Napi::Error&) {
    throw;
  } catch (const VnetError& e) {
    js_throw(env, e.code_name(), e.what());
  } catch (const std::bad_alloc&) {
    js_throw(env, "VNET_E_OOM", "out of host memory");
  } catch (const std::exception& e) {
    js_throw(env, "VNET_E_INTERNAL", e.what());
  }
}

TensorPtr get_tensor(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsExternal()) js_throw(env, "VNET_E_INVALID_ARG", std::string(what) + " is not a tensor handle");
  Holder* h = v.As<Napi::External<Holder>>().Data();
  if (!h->t) js_throw(env, "VNET_E_DISPOSED", std::string(what) + " was disposed");
  return h->t;
}

Napi::Value wrap(Napi::Env env, TensorPtr t) {
  auto ext = Napi::External<Holder>::New(env, new Holder{std::move(t)},
                                         [](Napi::Env, Holder* h) { delete h; });
  return ext;
}

Napi::Object describe(Napi::Env env, const TensorPtr& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", wrap(env, t));
  Napi::Array shape = Napi::Array::New(env, t->shape.size());
  for (size_t i = 0; i < t->shape.size(); i++) shape.Set(uint32_t(i), Napi::Number::New(env, double(t->shape[i])));
  o.Set("shape", shape);
  o.Set("dtype", dtype_name(t->dtype));
  o.Set("device", device_name(t->device));
  return o;
}

Shape get_shape(Napi::Env env, Napi::Value v) {
  if (!v.IsArray()) js_throw(env, "VNET_E_INVALID_ARG", "shape must be an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  Shape s(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0) || d != double(int64_t(d)) || d > 1e12)
      js_throw(env, "VNET_E_INVALID_ARG", "shape entries must be non-negative integers");
    s[i] = int64_t(d);
  }
  return s;
}

std::string get_string(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsString()) js_throw(env, "VNET_E_INVALID_ARG", std::string(what) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Device ensure_device(const std::string& name) {
  Device d = device_from_name(name);
  if (d == Device::CUDA && !device_available(Device::CUDA)) cuda::init(0);
  return d;
}

// fromArray(data: TypedArray, shape, dtype, device) -> {handle, shape, dtype, device}
Napi::Value FromArray(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    if (info.Length() < 4 || !info[0].IsTypedArray())
      js_throw(env, "VNET_E_INVALID_ARG", "fromArray(data: TypedArray, shape, dtype, device)");
    Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
    Shape shape = get_shape(env, info[1]);
    DType dt = dtype_from_name(get_string(env, info[2], "dtype"));
    Device dev = ensure_device(get_string(env, info[3], "device"));
    auto t = make_tensor(shape, dt, dev);
    const uint8_t* src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    copy_from_host(*t, src, ta.ByteLength());
    return describe(env, t);
  });
}

// zeros(shape, dtype, device)
Napi::Value Zeros(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    if (info.Length() < 3) js_throw(env, "VNET_E_INVALID_ARG", "zeros(shape, dtype, device)");
    Shape shape = get_shape(env, info[0]);
    DType dt = dtype_from_name(get_string(env, info[1], "dtype"));
    Device dev = ensure_device(get_string(env, info[2], "device"));
    auto t = make_tensor(shape, dt, dev);
    if (dev == Device::CPU) {
      std::memset(t->storage->data, 0, t->nbytes());
    } else {
      cuda::memset_zero(t->storage->data, t->nbytes());  // on the stream: capturable
    }
    return describe(env, t);
  });
}

// toArray(handle) -> Float32Array | Int32Array | Uint16Array (f16 bits)
Napi::Value ToArray(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    TensorPtr t = get_tensor(env, info[0], "tensor");
    size_t n = size_t(t->numel());
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, t->nbytes());
    copy_to_host(*t, buf.Data());
    switch (t->dtype) {
      case DType::F32: return Napi::Float32Array::New(env, n, buf, 0);
      case DType::I32: return Napi::Int32Array::New(env, n, buf, 0);
      case DType::F16: return Napi::Uint16Array::New(env, n, buf, 0);
    }
    return env.Undefined();
  });
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    if (!info[0].IsExternal()) js_throw(env, "VNET_E_INVALID_ARG", "dispose(handle)");
    info[0].As<Napi::External<Holder>>().Data()->t.reset();
    return env.Undefined();
  });
}

Napi::Value ToDevice(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    TensorPtr t = get_tensor(env, info[0], "tensor");
    Device d = ensure_device(get_string(env, info[1], "device"));
    return describe(env, copy_to(t, d));
  });
}

Attrs get_attrs(Napi::Env env, Napi::Value v) {
  Attrs a;
  if (v.IsUndefined() || v.IsNull()) return a;
  if (!v.IsObject()) js_throw(env, "VNET_E_INVALID_ARG", "attrs must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    Napi::Value e = o.Get(k);
    if (e.IsNumber()) {
      a.num[k] = e.As<Napi::Number>().DoubleValue();
    } else if (e.IsBoolean()) {
      a.num[k] = e.As<Napi::Boolean>().Value() ? 1 : 0;
    } else if (e.IsString()) {
      a.str[k] = e.As<Napi::String>().Utf8Value();
    } else if (e.IsArray()) {
      Napi::Array arr = e.As<Napi::Array>();
      std::vector<int64_t> vals(arr.Length());
      for (uint32_t j = 0; j < arr.Length(); j++) {
        Napi::Value x = arr.Get(j);
        if (!x.IsNumber()) js_throw(env, "VNET_E_INVALID_ARG", "attribute '" + k + "' must hold numbers");
        vals[j] = x.As<Napi::Number>().Int64Value();
      }
      a.ints[k] = vals;
    } else {
      js_throw(env, "VNET_E_INVALID_ARG", "attribute '" + k + "' has an unsupported type");
    }
  }
  return a;
}

// run(op, inputs: handle[], attrs) -> described outputs
Napi::Value Run(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    Op op = op_from_name(get_string(env, info[0], "op"));
    if (!info[1].IsArray()) js_throw(env, "VNET_E_INVALID_ARG", "inputs must be an array of tensor handles");
    Napi::Array arr = info[1].As<Napi::Array>();
    std::vector<TensorPtr> in(arr.Length());
    for (uint32_t i = 0; i < arr.Length(); i++)
      in[i] = get_tensor(env, arr.Get(i), ("input " + std::to_string(i) + " of " + op_name(op)).c_str());
    Attrs attrs = get_attrs(env, info[2]);
    std::vector<TensorPtr> out = run_op(op, in, attrs);
    Napi::Array res = Napi::Array::New(env, out.size());
    for (size_t i = 0; i < out.size(); i++) res.Set(uint32_t(i), describe(env, out[i]));
    return res;
  });
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    for (Device d : {Device::CPU, Device::CUDA}) {
      MemoryStats m = memory_stats(d);
      Napi::Object s = Napi::Object::New(env);
      s.Set("tensors", double(m.live_tensors));
      s.Set("bytes", double(m.live_bytes));
      s.Set("peakBytes", double(m.peak_bytes));
      s.Set("cachedBytes", double(m.cached_bytes));
      o.Set(device_name(d), s);
    }
    return o;
  });
}

Napi::Value Ops(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    Napi::Array a = Napi::Array::New(env, kNumOps);
    for (int i = 0; i < kNumOps; i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", op_name(Op(i)));
      o.Set("inputs", op_num_inputs(Op(i)));
      o.Set("outputs", op_num_outputs(Op(i)));
      o.Set("cpu", find_kernel(Op(i), Device::CPU) != nullptr);
      o.Set("cuda", find_kernel(Op(i), Device::CUDA) != nullptr);
      a.Set(uint32_t(i), o);
    }
    return a;
  });
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    o.Set("threads", num_threads());
    o.Set("isa", cpu::isa_name(cpu::detect_isa()));
    o.Set("isaCompiled", VNET_ISA_PATHS);
    o.Set("cudaCompiled", cuda::compiled());
    o.Set("cudaArchs", VNET_CUDA_ARCHS);
    std::string why;
    bool avail = cuda::available(&why);
    o.Set("cudaAvailable", avail);
    if (!avail) o.Set("cudaUnavailableReason", why);
    return o;
  });
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    // Checked as a double: Int32Value would wrap 2^32 + 2 to 2.
    double n = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
    if (!(n >= 1 && n <= 1e6) || n != double(int64_t(n)))
      js_throw(env, "VNET_E_INVALID_ARG", "setNumThreads(n) needs a positive integer");
    set_num_threads(int(n));  // range-checked (1..256) by the pool
    return env.Undefined();
  });
}

Napi::Value Sync(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    if (cuda::compiled() && device_available(Device::CUDA)) cuda::synchronize();
    return env.Undefined();
  });
}

// setMathModes({tf32?, deterministic?}): sets the CUDA math modes for later ops (absent keys
// stay) and returns the modes now in force.
Napi::Value SetMathModes(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    int tf32 = -1, det = -1;
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      if (!info[0].IsObject()) js_throw(env, "VNET_E_INVALID_ARG", "setMathModes({ tf32?, deterministic? }) needs an object");
      Napi::Object o = info[0].As<Napi::Object>();
      auto flag = [&](const char* k, int& out) {
        Napi::Value v = o.Get(k);
        if (v.IsUndefined()) return;
        if (!v.IsBoolean()) js_throw(env, "VNET_E_INVALID_ARG", std::string("setMathModes: ") + k + " must be a boolean");
        out = v.As<Napi::Boolean>().Value() ? 1 : 0;
      };
      flag("tf32", tf32);
      flag("deterministic", det);
    }
    cuda::set_math_modes(tf32, det);
    Napi::Object r = Napi::Object::New(env);
    r.Set("tf32", cuda::tf32_enabled());
    r.Set("deterministic", cuda::deterministic_mode());
    return r;
  });
}

Napi::Value Doctor(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value { return Napi::String::New(env, cuda::doctor_json()); });
}

Napi::Value InitCuda(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    int idx = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
    cuda::init(idx);
    return env.Undefined();
  });
}

Napi::Value PeakGflops(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    int threads = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : num_threads();
    double secs = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0.5;
    return Napi::Number::New(env, cpu::measure_peak_gflops(threads, secs));
  });
}

// NCCL for GPU data parallel: the id travels between ranks as bytes.
Napi::Value NcclUniqueId(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    std::string id = cuda::nccl_unique_id();
    return Napi::Buffer<char>::Copy(env, id.data(), id.size());
  });
}

Napi::Value NcclInit(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsTypedArray())
      js_throw(env, "VNET_E_INVALID_ARG", "ncclInit(rank, nranks, id: Uint8Array)");
    Napi::TypedArray id = info[2].As<Napi::TypedArray>();
    std::string bytes(static_cast<const char*>(id.ArrayBuffer().Data()) + id.ByteOffset(), id.ByteLength());
    cuda::nccl_init(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(), bytes);
    return env.Undefined();
  });
}

// ncclAllReduceFlat(handles[], average): one all-reduce over one packed buffer.
Napi::Value NcclAllReduceFlat(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsArray()) js_throw(env, "VNET_E_INVALID_ARG", "ncclAllReduceFlat(tensors[], average)");
    Napi::Array arr = info[0].As<Napi::Array>();
    std::vector<TensorPtr> keep;
    std::vector<Tensor*> ts;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      keep.push_back(get_tensor(env, arr.Get(i), "tensor"));
      ts.push_back(keep.back().get());
    }
    cuda::nccl_all_reduce_flat(ts, info[1].IsBoolean() ? info[1].As<Napi::Boolean>().Value() : true);
    return env.Undefined();
  });
}

// copyFromHost(handle, data: TypedArray): overwrite an existing tensor (the same bytes).
Napi::Value CopyFromHost(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    TensorPtr t = get_tensor(env, info[0], "tensor");
    if (info.Length() < 2 || !info[1].IsTypedArray()) js_throw(env, "VNET_E_INVALID_ARG", "copyFromHost(tensor, data: TypedArray)");
    Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
    copy_from_host(*t, static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength());
    return env.Undefined();
  });
}

// CUDA Graphs: graphBegin() -> id; graphEnd() -> id; graphAbort(); graphLaunch(id); graphDestroy(id).
Napi::Value GraphBegin(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, cuda::graph_begin()); });
}
Napi::Value GraphEnd(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, cuda::graph_end()); });
}
Napi::Value GraphAbort(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    cuda::graph_abort();
    return env.Undefined();
  });
}
Napi::Value GraphLaunch(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    if (!info[0].IsNumber()) js_throw(env, "VNET_E_INVALID_ARG", "graphLaunch(id)");
    cuda::graph_launch(info[0].As<Napi::Number>().Int32Value());
    return env.Undefined();
  });
}
Napi::Value GraphDestroy(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    if (!info[0].IsNumber()) js_throw(env, "VNET_E_INVALID_ARG", "graphDestroy(id)");
    cuda::graph_destroy(info[0].As<Napi::Number>().Int32Value());
    return env.Undefined();
  });
}

Napi::Value NcclBroadcast(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    TensorPtr t = get_tensor(env, info[0], "tensor");
    cuda::nccl_broadcast(*t, info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0);
    return env.Undefined();
  });
}

Napi::Value NcclFinalize(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    cuda::nccl_finalize();
    return env.Undefined();
  });
}

// Convolution benchmark (native/conv_bench.h). convBench(op, inputs, attrs, {warmup, minReps,
// minMs, maxReps, all}) -> [{algo, chosen, ms: number[], out?: tensor, error?}];
// convReference(op, inputs, attrs) -> tensor from the portable CPU loops; gpuPeak() -> GFLOP/s.
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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static std::once_flag once;
  std::call_once(once, [] {
    register_cpu_kernels();
#ifdef VNET_WITH_CUDA
    register_cuda_kernels();
#endif
  });
  exports.Set("fromArray", Napi::Function::New(env, FromArray));
  exports.Set("zeros", Napi::Function::New(env, Zeros));
  exports.Set("toArray", Napi::Function::New(env, ToArray));
  exports.Set("dispose", Napi::Function::New(env, Dispose));
  exports.Set("toDevice", Napi::Function::New(env, ToDevice));
  exports.Set("run", Napi::Function::New(env, Run));
  exports.Set("memory", Napi::Function::New(env, Memory));
  exports.Set("ops", Napi::Function::New(env, Ops));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setNumThreads", Napi::Function::New(env, SetThreads));
  exports.Set("setMathModes", Napi::Function::New(env, SetMathModes));
  exports.Set("sync", Napi::Function::New(env, Sync));
  exports.Set("doctor", Napi::Function::New(env, Doctor));
  exports.Set("initCuda", Napi::Function::New(env, InitCuda));
  exports.Set("cpuPeakGflops", Napi::Function::New(env, PeakGflops));
  exports.Set("ncclUniqueId", Napi::Function::New(env, NcclUniqueId));
  exports.Set("ncclInit", Napi::Function::New(env, NcclInit));
  exports.Set("ncclBroadcast", Napi::Function::New(env, NcclBroadcast));
  exports.Set("ncclAllReduceFlat", Napi::Function::New(env, NcclAllReduceFlat));
  exports.Set("copyFromHost", Napi::Function::New(env, CopyFromHost));
  exports.Set("graphBegin", Napi::Function::New(env, GraphBegin));
  exports.Set("graphEnd", Napi::Function::New(env, GraphEnd));
  exports.Set("graphAbort", Napi::Function::New(env, GraphAbort));
  exports.Set("graphLaunch", Napi::Function::New(env, GraphLaunch));
  exports.Set("graphDestroy", Napi::Function::New(env, GraphDestroy));
  exports.Set("ncclFinalize", Napi::Function::New(env, NcclFinalize));
  exports.Set("convBench", Napi::Function::New(env, ConvBench));
  exports.Set("convReference", Napi::Function::New(env, ConvReference));
  exports.Set("gpuPeak", Napi::Function::New(env, GpuPeak));
  return exports;
}

}  // namespace

NODE_API_MODULE(vnet_native, Init)
