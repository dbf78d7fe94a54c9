// The tensor half of the binding: make, read, copy, free tensors, run an op, and the engine's
// op list and memory counts.
#include <cstring>

#include "../native/backend.h"
#include "../native/transfer.h"
#include "napi_util.h"

namespace vnet::bind {

namespace {

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
    release(info[0]);
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

}  // namespace

void export_tensors(Napi::Env env, Napi::Object exports) {
  exports.Set("fromArray", Napi::Function::New(env, FromArray));
  exports.Set("zeros", Napi::Function::New(env, Zeros));
  exports.Set("toArray", Napi::Function::New(env, ToArray));
  exports.Set("dispose", Napi::Function::New(env, Dispose));
  exports.Set("toDevice", Napi::Function::New(env, ToDevice));
  exports.Set("copyFromHost", Napi::Function::New(env, CopyFromHost));
  exports.Set("run", Napi::Function::New(env, Run));
  exports.Set("memory", Napi::Function::New(env, Memory));
  exports.Set("ops", Napi::Function::New(env, Ops));
}

}  // namespace vnet::bind
