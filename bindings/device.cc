// The device half of the binding: what the build and the machine offer (info, doctor), CPU
// threads, CUDA math modes and set-up, synchronisation, and CUDA Graph capture.
#include "../native/backend.h"
#include "../native/cpu/cpu_features.h"
#include "../native/threadpool.h"
#include "napi_util.h"

// What was compiled in, for `vnet-native --version` (CMake sets both on this file only).
#ifndef VNET_ISA_PATHS
#define VNET_ISA_PATHS "portable"
#endif
#ifndef VNET_CUDA_ARCHS
#define VNET_CUDA_ARCHS ""
#endif

namespace vnet::bind {

namespace {

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

}  // namespace

void export_device(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setNumThreads", Napi::Function::New(env, SetThreads));
  exports.Set("setMathModes", Napi::Function::New(env, SetMathModes));
  exports.Set("sync", Napi::Function::New(env, Sync));
  exports.Set("doctor", Napi::Function::New(env, Doctor));
  exports.Set("initCuda", Napi::Function::New(env, InitCuda));
  exports.Set("graphBegin", Napi::Function::New(env, GraphBegin));
  exports.Set("graphEnd", Napi::Function::New(env, GraphEnd));
  exports.Set("graphAbort", Napi::Function::New(env, GraphAbort));
  exports.Set("graphLaunch", Napi::Function::New(env, GraphLaunch));
  exports.Set("graphDestroy", Napi::Function::New(env, GraphDestroy));
}

}  // namespace vnet::bind
