// What every binding file shares: tensor handles as JS externals, argument readers that throw
// VNET_E_INVALID_ARG, and `guarded`, which turns every C++ exception into a JS Error with a
// `code` (VNET_E_...), so no native failure ends the process.
#pragma once
#include <napi.h>

#include <new>
#include <string>

#include "../native/error.h"
#include "../native/ops.h"
#include "../native/tensor.h"

namespace vnet::bind {

// Throws a JS Error with `code` set.
[[noreturn]] void js_throw(Napi::Env env, const char* code, const std::string& msg);

// Runs `body`, mapping VnetError to its code, bad_alloc to VNET_E_OOM and any other exception
// to VNET_E_INTERNAL.
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

// A tensor handle's storage; VNET_E_DISPOSED once dispose() dropped it.
TensorPtr get_tensor(Napi::Env env, Napi::Value v, const char* what);
// {handle, shape, dtype, device} of a new handle that owns `t`.
Napi::Object describe(Napi::Env env, const TensorPtr& t);
Shape get_shape(Napi::Env env, Napi::Value v);
std::string get_string(Napi::Env env, Napi::Value v, const char* what);
Attrs get_attrs(Napi::Env env, Napi::Value v);
// The device by name, initialising CUDA on its first use.
Device ensure_device(const std::string& name);
// Frees a handle's tensor now (the finalizer is the backstop).
void release(Napi::Value handle);

// Each file of the binding adds its functions to the module's exports.
void export_tensors(Napi::Env env, Napi::Object exports);
void export_device(Napi::Env env, Napi::Object exports);
void export_collective(Napi::Env env, Napi::Object exports);
void export_timing(Napi::Env env, Napi::Object exports);

}  // namespace vnet::bind
