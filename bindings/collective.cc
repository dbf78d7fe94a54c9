// NCCL for GPU data parallel: the communicator's id travels between ranks as bytes (the
// caller's rendezvous carries it); all-reduce over one packed buffer, broadcast, finalize.
#include "../native/backend.h"
#include "napi_util.h"

namespace vnet::bind {

namespace {

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

}  // namespace

void export_collective(Napi::Env env, Napi::Object exports) {
  exports.Set("ncclUniqueId", Napi::Function::New(env, NcclUniqueId));
  exports.Set("ncclInit", Napi::Function::New(env, NcclInit));
  exports.Set("ncclBroadcast", Napi::Function::New(env, NcclBroadcast));
  exports.Set("ncclAllReduceFlat", Napi::Function::New(env, NcclAllReduceFlat));
  exports.Set("ncclFinalize", Napi::Function::New(env, NcclFinalize));
}

}  // namespace vnet::bind
