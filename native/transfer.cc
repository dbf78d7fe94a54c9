// Copies between host memory and tensors on any device, and between devices.
#include <cstring>

#include "backend.h"
#include "error.h"
#include "transfer.h"

namespace vnet {

void copy_from_host(Tensor& t, const void* src, size_t nbytes) {
  VNET_CHECK(nbytes == t.nbytes(), VNET_E_SHAPE,
             "data has " + std::to_string(nbytes) + " bytes, tensor " + t.describe() + " needs " +
                 std::to_string(t.nbytes()));
  if (t.device == Device::CPU) std::memcpy(t.storage->data, src, nbytes);
  else cuda::memcpy_h2d(t.storage->data, src, nbytes);
  t.storage->version.fetch_add(1);
}

void copy_to_host(const Tensor& t, void* dst) {
  if (t.device == Device::CPU) std::memcpy(dst, t.storage->data, t.nbytes());
  else cuda::memcpy_d2h(dst, t.storage->data, t.nbytes());
}

TensorPtr copy_to(const TensorPtr& t, Device d) {
  auto out = make_tensor(t->shape, t->dtype, d);
  if (t->device == Device::CPU && d == Device::CPU) std::memcpy(out->storage->data, t->storage->data, t->nbytes());
  else if (t->device == Device::CPU) cuda::memcpy_h2d(out->storage->data, t->storage->data, t->nbytes());
  else if (d == Device::CPU) cuda::memcpy_d2h(out->storage->data, t->storage->data, t->nbytes());
  else cuda::memcpy_d2d(out->storage->data, t->storage->data, t->nbytes());
  return out;
}

}  // namespace vnet
