// Op names, attributes, the kernel registry and the checked entry point run_op.
#include "ops.h"

#include <cstring>

#include "error.h"

namespace vnet {

namespace {

struct OpInfo {
  const char* name;
  int n_in, n_out;
};

constexpr OpInfo kOpInfo[] = {
#define VNET_X(name, ni, no) {#name, ni, no},
    VNET_OPS(VNET_X)
#undef VNET_X
};
static_assert(sizeof(kOpInfo) / sizeof(kOpInfo[0]) == size_t(kNumOps),
              "op info table out of sync with VNET_OPS");

Kernel g_kernels[kNumOps][kNumDevices];

}  // namespace

const char* op_name(Op op) { return kOpInfo[int(op)].name; }
int op_num_inputs(Op op) { return kOpInfo[int(op)].n_in; }
int op_num_outputs(Op op) { return kOpInfo[int(op)].n_out; }

bool op_mutates_inputs(Op op) {
  switch (op) {
    case Op::batchnorm_train: case Op::bias_bn_relu_train: case Op::fill_uniform: case Op::fill_const:
    case Op::axpy: case Op::rmsprop_step: case Op::adam_step: case Op::sgd_step: case Op::amp_unscale:
      return true;
    default:
      return false;
  }
}

Op op_from_name(const std::string& name) {
  for (int i = 0; i < kNumOps; i++)
    if (name == kOpInfo[i].name) return Op(i);
  throw_error(ErrorCode::VNET_E_INVALID_ARG, "unknown op '" + name + "'");
}

double Attrs::f(const std::string& k) const {
  auto it = num.find(k);
  VNET_CHECK(it != num.end(), VNET_E_INVALID_ARG, "missing numeric attribute '" + k + "'");
  return it->second;
}
double Attrs::f(const std::string& k, double dflt) const {
  auto it = num.find(k);
  return it == num.end() ? dflt : it->second;
}
std::vector<int64_t> Attrs::v(const std::string& k) const {
  auto it = ints.find(k);
  VNET_CHECK(it != ints.end(), VNET_E_INVALID_ARG, "missing list attribute '" + k + "'");
  return it->second;
}
std::vector<int64_t> Attrs::v(const std::string& k, std::vector<int64_t> dflt) const {
  auto it = ints.find(k);
  return it == ints.end() ? dflt : it->second;
}
std::string Attrs::s(const std::string& k, const std::string& dflt) const {
  auto it = str.find(k);
  return it == str.end() ? dflt : it->second;
}

void register_kernel(Op op, Device dev, Kernel k) { g_kernels[int(op)][int(dev)] = k; }

const Kernel* find_kernel(Op op, Device dev) {
  const Kernel& k = g_kernels[int(op)][int(dev)];
  return k.run ? &k : nullptr;
}

bool op_supported(Op op, Device dev, const OpCall& call) {
  const Kernel* k = find_kernel(op, dev);
  return k && (!k->supports || k->supports(call));
}

namespace {

std::string describe_inputs(const std::vector<TensorPtr>& in) {
  std::string s;
  for (size_t i = 0; i < in.size(); i++) s += (i ? ", " : "") + (in[i] ? in[i]->describe() : "null");
  return s;
}

}  // namespace

std::vector<TensorPtr> run_op(Op op, const std::vector<TensorPtr>& inputs, const Attrs& attrs) {
  const std::string ctx = std::string(op_name(op)) + "(" + describe_inputs(inputs) + ")";
  try {
    VNET_CHECK(int(inputs.size()) == op_num_inputs(op), VNET_E_INVALID_ARG,
               "expected " + std::to_string(op_num_inputs(op)) + " inputs, got " +
                   std::to_string(inputs.size()));
    for (auto& t : inputs) VNET_CHECK(t && t->storage, VNET_E_DISPOSED, "input tensor was disposed");
    Device dev = inputs[0]->device;
    for (auto& t : inputs)
      VNET_CHECK(t->device == dev, VNET_E_DEVICE, "inputs are on different devices");
    OpCall call{op, inputs, {}, &attrs};
    infer_outputs(call);
    const Kernel* k = find_kernel(op, dev);
    VNET_CHECK(k, VNET_E_UNSUPPORTED, std::string("no kernel on ") + device_name(dev));
    VNET_CHECK(!k->supports || k->supports(call), VNET_E_UNSUPPORTED,
               std::string("the ") + device_name(dev) + " kernel does not support these inputs");
    k->run(call);
    if (op_mutates_inputs(op))
      for (auto& t : inputs) t->storage->version.fetch_add(1);
    return call.out;
  } catch (const VnetError& e) {
    // Prefix the op and shapes once, so every message says where it came from.
    if (std::strncmp(e.what(), ctx.c_str(), ctx.size()) == 0) throw;
    throw VnetError(e.code(), ctx + ": " + e.what());
  } catch (const std::bad_alloc&) {
    throw VnetError(ErrorCode::VNET_E_OOM, ctx + ": out of host memory");
  }
}

}  // namespace vnet
