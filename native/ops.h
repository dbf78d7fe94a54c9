// The one op list. Every kernel, shape rule and binding name comes from VNET_OPS; the name
// table is checked against the enum at compile time. Ops take input tensors and attributes
// and return new output tensors; a few update inputs in place (marked below).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "tensor.h"

namespace vnet {

// X(name, n_inputs, n_outputs)  -- shapes: activations (N, D, H, W, C), conv weights
// (kd, kh, kw, Cin, Cout) as TF stores them.
#define VNET_OPS(X)                                                                       \
  X(conv3d_fprop, 2, 1)      /* x (N,D,H,W,Ci), w (kd,kh,kw,Ci,Co) -> y (N,OD,OH,OW,Co) */ \
  X(conv3d_dgrad, 2, 1)      /* dy (N,OD,OH,OW,Co), w -> dx (N,D,H,W,Ci); attr in_shape */ \
  X(conv3d_wgrad, 2, 1)      /* x, dy -> dw (kd,kh,kw,Ci,Co); attr ksize */                \
  X(bias_add, 2, 1)          /* x (..., C), b (C) -> y */                                  \
  X(sum_over_rows, 1, 1)     /* x (..., C) -> (C): sum over all rows, bias gradient */     \
  X(batchnorm_train, 5, 3)   /* x, gamma, beta, rmean*, rvar* -> y, mean (C), invstd (C) */\
  X(batchnorm_infer, 5, 1)   /* x, gamma, beta, rmean, rvar -> y */                        \
  X(batchnorm_bwd, 5, 3)     /* dy, x, gamma, mean, invstd -> dx, dgamma, dbeta */         \
  X(bias_bn_relu_train, 6, 3) /* x, bias, gamma, beta, rmean*, rvar* -> relu(bn(x+bias)), mean, invstd */ \
  X(bias_bn_relu_infer, 6, 1) /* x, bias, gamma, beta, rmean, rvar -> relu(bn(x+bias)) */       \
  X(bias_bn_relu_bwd, 7, 4)  /* dy, y, x, bias, gamma, mean, invstd -> dx, dbias, dgamma, dbeta */ \
  X(relu, 1, 1)                                                                           \
  X(relu_bwd, 2, 1)          /* dy, y -> dx */                                             \
  X(add, 2, 1)               /* a (...,C), b (...,C) or (...,1) broadcast over C */        \
  X(sum_over_channels, 1, 1) /* x (...,C) -> (...,1): gradient of the 1->C broadcast */    \
  X(concat, 2, 1)            /* a (...,Ca), b (...,Cb) -> (...,Ca+Cb) */                   \
  X(split, 1, 2)             /* x (...,C) -> (...,Ca), (...,C-Ca); attr first */           \
  X(softmax, 1, 1)           /* over the last axis */                                      \
  X(dice_loss, 2, 3)         /* logits (N,...,C), labels i32 (N,...) -> loss (1), probs, stats (N,C,3) */ \
  X(dice_loss_bwd, 4, 1)     /* probs, labels, stats, dL (1) -> dlogits; attr scale multiplies dL */ \
  X(argmax, 1, 1)            /* x (...,C) -> i32 (...) */                                  \
  X(cast, 1, 1)              /* attr dtype */                                              \
  X(fill_uniform, 1, 0)      /* t* <- U(lo, hi), attr seed */                              \
  X(fill_const, 1, 0)        /* t* <- value */                                             \
  X(scale, 1, 1)             /* y = alpha * x */                                           \
  X(axpy, 2, 0)              /* y* += alpha * x  (inputs x, y) */                          \
  X(sum_all, 1, 1)           /* f32 (1) */                                                 \
  X(rmsprop_step, 5, 0)      /* w*, g, ms*, mg*, mom*: TF1 centered RMSProp */             \
  X(adam_step, 4, 0)         /* w*, g, m*, v*; attr step */                                \
  X(sgd_step, 3, 0)          /* w*, g, mom*; attrs momentum, weight_decay, nesterov */                                             \
  X(amp_unscale, 1, 1)       /* g* *= inv_scale; -> found_inf f32 (1) */

enum class Op : int {
#define VNET_X(name, ni, no) name,
  VNET_OPS(VNET_X)
#undef VNET_X
  kCount
};
constexpr int kNumOps = int(Op::kCount);

const char* op_name(Op op);
Op op_from_name(const std::string& name);  // throws VNET_E_INVALID_ARG
int op_num_inputs(Op op);
int op_num_outputs(Op op);
// Ops that write into some of their inputs (marked * above); run_op bumps those storages' versions.
bool op_mutates_inputs(Op op);

// Attributes passed from JS: numbers and integer lists by name.
struct Attrs {
  std::map<std::string, double> num;
  std::map<std::string, std::vector<int64_t>> ints;
  std::map<std::string, std::string> str;

  double f(const std::string& k) const;                 // required number
  double f(const std::string& k, double dflt) const;    // optional number
  std::vector<int64_t> v(const std::string& k) const;  // required list
  std::vector<int64_t> v(const std::string& k, std::vector<int64_t> dflt) const;
  std::string s(const std::string& k, const std::string& dflt) const;
};

// A fully resolved call: outputs already allocated by the shape rule.
struct OpCall {
  Op op;
  std::vector<TensorPtr> in;
  std::vector<TensorPtr> out;
  const Attrs* attrs;
};

struct Kernel {
  bool (*supports)(const OpCall&) = nullptr;  // may be null: always supported
  void (*run)(const OpCall&) = nullptr;
};

void register_kernel(Op op, Device dev, Kernel k);
const Kernel* find_kernel(Op op, Device dev);
bool op_supported(Op op, Device dev, const OpCall& call);

// Geometry of a conv3d_* call from its inputs and attributes (shape.cc; see conv_geom.h).
struct ConvGeom;
ConvGeom conv_geom_of(const OpCall& call);

// Shape rules (shape.cc): validate inputs and allocate outputs on the inputs' device.
void infer_outputs(OpCall& call);

// The public entry: check, allocate, dispatch. Errors carry the op name and shapes.
std::vector<TensorPtr> run_op(Op op, const std::vector<TensorPtr>& inputs, const Attrs& attrs);

// Backends register their kernels here (called once at load).
void register_cpu_kernels();
#ifdef VNET_WITH_CUDA
void register_cuda_kernels();
#endif

}  // namespace vnet
