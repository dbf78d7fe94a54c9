// Tensor handles and argument readers shared by the binding's files (see napi_util.h).
#include "napi_util.h"

#include "../native/backend.h"

namespace vnet::bind {

namespace {
// What a JS handle owns: dispose() drops the tensor at once, the finalizer is the backstop.
struct Holder {
  TensorPtr t;
};

Napi::Value wrap(Napi::Env env, TensorPtr t) {
  return Napi::External<Holder>::New(env, new Holder{std::move(t)}, [](Napi::Env, Holder* h) { delete h; });
}
}  // namespace

[[noreturn]] void js_throw(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("code", Napi::String::New(env, code));
  throw err;
}

TensorPtr get_tensor(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsExternal()) js_throw(env, "VNET_E_INVALID_ARG", std::string(what) + " is not a tensor handle");
  Holder* h = v.As<Napi::External<Holder>>().Data();
  if (!h->t) js_throw(env, "VNET_E_DISPOSED", std::string(what) + " was disposed");
  return h->t;
}

void release(Napi::Value handle) {
  handle.As<Napi::External<Holder>>().Data()->t.reset();
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

}  // namespace vnet::bind
