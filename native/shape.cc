// Shape rules for every op, in one place: validate the inputs and allocate the outputs.
#include <algorithm>

#include "conv_geom.h"
#include "error.h"
#include "ops.h"

namespace vnet {

namespace {

using V = std::vector<int64_t>;

void need_dtype(const TensorPtr& t, std::initializer_list<DType> ok, const char* what) {
  for (DType d : ok)
    if (t->dtype == d) return;
  throw_error(ErrorCode::VNET_E_DTYPE,
              std::string(what) + " has dtype " + dtype_name(t->dtype) + ", which this op does not take");
}

void same_shape(const TensorPtr& a, const TensorPtr& b, const char* what) {
  VNET_CHECK(a->shape == b->shape, VNET_E_SHAPE,
             std::string(what) + ": shapes differ, " + shape_str(a->shape) + " vs " + shape_str(b->shape));
}

void is_channel_vec(const TensorPtr& t, int64_t C, const char* what) {
  VNET_CHECK(t->ndim() == 1 && t->shape[0] == C, VNET_E_SHAPE,
             std::string(what) + " must have shape [" + std::to_string(C) + "], got " + shape_str(t->shape));
  need_dtype(t, {DType::F32}, what);
}

// Ops that work per channel (the last axis) need one: at least `min_rank` axes and one channel,
// so that no kernel divides by a zero channel count or reads the last axis of a rank-0 tensor.
void need_channels(const TensorPtr& t, int min_rank, const char* what) {
  VNET_CHECK(t->ndim() >= min_rank, VNET_E_SHAPE,
             std::string(what) + " needs at least " + std::to_string(min_rank) + " axes (..., C), got " + shape_str(t->shape));
  VNET_CHECK(t->dim(-1) >= 1, VNET_E_SHAPE, std::string(what) + " has no channels (last axis 0): " + shape_str(t->shape));
}

Shape with_last(Shape s, int64_t c) {
  s.back() = c;
  return s;
}

TensorPtr alloc_like(const Shape& s, DType dt, const OpCall& c) { return make_tensor(s, dt, c.in[0]->device); }

}  // namespace

ConvGeom conv_geom_of(const OpCall& c) {
  const Attrs& a = *c.attrs;
  V stride = a.v("stride", {1, 1, 1}), pad = a.v("pad", {0, 0, 0});
  switch (c.op) {
    case Op::conv3d_fprop: {
      const Shape &x = c.in[0]->shape, &w = c.in[1]->shape;
      VNET_CHECK(x.size() == 5 && w.size() == 5, VNET_E_SHAPE, "conv tensors must be 5-D");
      V pb = a.v("pad_back", pad), out(3);
      for (int i = 0; i < 3; i++) {
        VNET_CHECK(stride[i] > 0, VNET_E_INVALID_ARG, "stride must be positive");
        out[i] = (x[1 + i] + pad[i] + pb[i] - w[i]) / stride[i] + 1;
      }
      return make_conv_geom(x, w, stride, pad, out);
    }
    case Op::conv3d_dgrad: {
      const Shape &dy = c.in[0]->shape, &w = c.in[1]->shape;
      VNET_CHECK(dy.size() == 5 && w.size() == 5, VNET_E_SHAPE, "conv tensors must be 5-D");
      V in = a.v("in_shape");
      VNET_CHECK(in.size() == 3, VNET_E_INVALID_ARG, "in_shape needs 3 entries (D,H,W)");
      VNET_CHECK(dy[4] == w[4], VNET_E_SHAPE, "dy channels differ from the weight's Cout");
      return make_conv_geom({dy[0], in[0], in[1], in[2], w[3]}, w, stride, pad, {dy[1], dy[2], dy[3]});
    }
    case Op::conv3d_wgrad: {
      const Shape &x = c.in[0]->shape, &dy = c.in[1]->shape;
      VNET_CHECK(x.size() == 5 && dy.size() == 5, VNET_E_SHAPE, "conv tensors must be 5-D");
      VNET_CHECK(x[0] == dy[0], VNET_E_SHAPE, "x and dy batch sizes differ");
      V k = a.v("ksize");
      VNET_CHECK(k.size() == 3, VNET_E_INVALID_ARG, "ksize needs 3 entries");
      return make_conv_geom(x, {k[0], k[1], k[2], x[4], dy[4]}, stride, pad, {dy[1], dy[2], dy[3]});
    }
    default:
      throw_error(ErrorCode::VNET_E_INTERNAL, "conv_geom_of on a non-conv op");
  }
}

void infer_outputs(OpCall& c) {
  const auto& in = c.in;
  const Attrs& a = *c.attrs;
  auto& out = c.out;
  switch (c.op) {
    case Op::conv3d_fprop: case Op::conv3d_dgrad: case Op::conv3d_wgrad: {
      need_dtype(in[0], {DType::F32, DType::F16}, "input 0");
      VNET_CHECK(in[0]->dtype == in[1]->dtype, VNET_E_DTYPE, "conv inputs must share a dtype");
      ConvGeom g = conv_geom_of(c);
      Shape s = c.op == Op::conv3d_fprop   ? Shape{g.N, g.OD, g.OH, g.OW, g.K}
                : c.op == Op::conv3d_dgrad ? Shape{g.N, g.D, g.H, g.W, g.C}
                                           : Shape{g.kd, g.kh, g.kw, g.C, g.K};
      out = {alloc_like(s, in[0]->dtype, c)};
      return;
    }
    case Op::bias_add:
      need_dtype(in[0], {DType::F32, DType::F16}, "x");
      need_channels(in[0], 1, "x");
      is_channel_vec(in[1], in[0]->dim(-1), "bias");
      out = {alloc_like(in[0]->shape, in[0]->dtype, c)};
      return;
    case Op::sum_over_rows:
      need_dtype(in[0], {DType::F32, DType::F16}, "x");
      need_channels(in[0], 1, "x");
      out = {alloc_like({in[0]->dim(-1)}, DType::F32, c)};
      return;
    case Op::batchnorm_train: case Op::batchnorm_infer: {
      need_dtype(in[0], {DType::F32, DType::F16}, "x");
      need_channels(in[0], 2, "x");
      int64_t C = in[0]->dim(-1);
      is_channel_vec(in[1], C, "gamma"); is_channel_vec(in[2], C, "beta");
      is_channel_vec(in[3], C, "running_mean"); is_channel_vec(in[4], C, "running_var");
      out = {alloc_like(in[0]->shape, in[0]->dtype, c)};
      if (c.op == Op::batchnorm_train) {
        // per_sample (instance normalisation): statistics per sample and channel, shape (N, C).
        bool per_sample = c.attrs->f("per_sample", 0.0) != 0.0;
        int64_t G = per_sample ? in[0]->dim(0) : 1;
        VNET_CHECK(in[0]->numel() / C / std::max<int64_t>(G, 1) > 1, VNET_E_SHAPE,
                   per_sample ? "instance normalisation needs more than one value per sample and channel"
                              : "batchnorm training needs more than one value per channel");
        std::vector<int64_t> stat = per_sample ? std::vector<int64_t>{G, C} : std::vector<int64_t>{C};
        out.push_back(alloc_like(stat, DType::F32, c));
        out.push_back(alloc_like(stat, DType::F32, c));
      }
      return;
    }
    case Op::batchnorm_bwd: {
      need_dtype(in[0], {DType::F32, DType::F16}, "dy");
      need_channels(in[0], 2, "dy");
      same_shape(in[0], in[1], "dy and x");
      int64_t C = in[0]->dim(-1);
      is_channel_vec(in[2], C, "gamma");
      if (c.attrs->f("per_sample", 0.0) != 0.0) {
        std::vector<int64_t> stat{in[0]->dim(0), C};
        VNET_CHECK(in[3]->shape == stat && in[4]->shape == stat, VNET_E_SHAPE,
                   "per-sample mean and invstd must have shape " + shape_str(stat) + ", got " + shape_str(in[3]->shape) + " and " + shape_str(in[4]->shape));
        need_dtype(in[3], {DType::F32}, "mean"); need_dtype(in[4], {DType::F32}, "invstd");
      } else {
        is_channel_vec(in[3], C, "mean"); is_channel_vec(in[4], C, "invstd");
      }
      out = {alloc_like(in[0]->shape, in[0]->dtype, c), alloc_like({C}, DType::F32, c),
             alloc_like({C}, DType::F32, c)};
      return;
    }
    case Op::bias_bn_relu_train: case Op::bias_bn_relu_infer: {
      need_dtype(in[0], {DType::F32, DType::F16}, "x");
      need_channels(in[0], 2, "x");
      int64_t C = in[0]->dim(-1);
      is_channel_vec(in[1], C, "bias"); is_channel_vec(in[2], C, "gamma"); is_channel_vec(in[3], C, "beta");
      is_channel_vec(in[4], C, "running_mean"); is_channel_vec(in[5], C, "running_var");
      out = {alloc_like(in[0]->shape, in[0]->dtype, c)};
      if (c.op == Op::bias_bn_relu_train) {
        VNET_CHECK(in[0]->numel() / C > 1, VNET_E_SHAPE, "batchnorm training needs more than one value per channel");
        out.push_back(alloc_like({C}, DType::F32, c));
        out.push_back(alloc_like({C}, DType::F32, c));
      }
      return;
    }
    case Op::bias_bn_relu_bwd: {
      need_dtype(in[0], {DType::F32, DType::F16}, "dy");
      need_channels(in[0], 2, "dy");
      same_shape(in[0], in[1], "dy and y");
      same_shape(in[0], in[2], "dy and x");
      int64_t C = in[0]->dim(-1);
      is_channel_vec(in[3], C, "bias"); is_channel_vec(in[4], C, "gamma");
      is_channel_vec(in[5], C, "mean"); is_channel_vec(in[6], C, "invstd");
      out = {alloc_like(in[0]->shape, in[0]->dtype, c), alloc_like({C}, DType::F32, c), alloc_like({C}, DType::F32, c),
             alloc_like({C}, DType::F32, c)};
      return;
    }
    case Op::relu: case Op::softmax:
      need_dtype(in[0], {DType::F32, DType::F16}, "x");
      if (c.op == Op::softmax) need_channels(in[0], 1, "x");
      out = {alloc_like(in[0]->shape, in[0]->dtype, c)};
      return;
    case Op::relu_bwd:
      need_dtype(in[0], {DType::F32, DType::F16}, "dy");
      same_shape(in[0], in[1], "dy and y");
      out = {alloc_like(in[0]->shape, in[0]->dtype, c)};
      return;
    case Op::add: {
      need_dtype(in[0], {DType::F32, DType::F16}, "a");
      VNET_CHECK(in[0]->dtype == in[1]->dtype, VNET_E_DTYPE, "add inputs must share a dtype");
      bool same = in[0]->shape == in[1]->shape;
      bool bcast = in[0]->ndim() == in[1]->ndim() && in[1]->ndim() >= 1 && in[1]->dim(-1) == 1 &&
                   with_last(in[0]->shape, 1) == in[1]->shape;
      if (!same && bcast) need_channels(in[0], 1, "a");
      VNET_CHECK(same || bcast, VNET_E_SHAPE,
                 "add needs equal shapes or b with 1 channel: " + shape_str(in[0]->shape) + " + " +
                     shape_str(in[1]->shape));
      out = {alloc_like(in[0]->shape, in[0]->dtype, c)};
      return;
    }
    case Op::sum_over_channels:
      need_dtype(in[0], {DType::F32, DType::F16}, "x");
      need_channels(in[0], 1, "x");
      out = {alloc_like(with_last(in[0]->shape, 1), in[0]->dtype, c)};
      return;
    case Op::concat:
      need_dtype(in[0], {DType::F32, DType::F16}, "a");
      VNET_CHECK(in[0]->dtype == in[1]->dtype, VNET_E_DTYPE, "concat inputs must share a dtype");
      need_channels(in[0], 1, "a");
      need_channels(in[1], 1, "b");
      VNET_CHECK(in[0]->ndim() == in[1]->ndim() && with_last(in[0]->shape, 1) == with_last(in[1]->shape, 1),
                 VNET_E_SHAPE, "concat needs equal shapes but for the last axis: " +
                                   shape_str(in[0]->shape) + ", " + shape_str(in[1]->shape));
      out = {alloc_like(with_last(in[0]->shape, in[0]->dim(-1) + in[1]->dim(-1)), in[0]->dtype, c)};
      return;
    case Op::split: {
      need_dtype(in[0], {DType::F32, DType::F16}, "x");
      need_channels(in[0], 1, "x");
      int64_t first = int64_t(a.f("first")), C = in[0]->dim(-1);
      VNET_CHECK(first > 0 && first < C, VNET_E_INVALID_ARG, "split point out of range");
      out = {alloc_like(with_last(in[0]->shape, first), in[0]->dtype, c),
             alloc_like(with_last(in[0]->shape, C - first), in[0]->dtype, c)};
      return;
    }
    case Op::dice_loss: {
      need_dtype(in[0], {DType::F32, DType::F16}, "logits");
      need_dtype(in[1], {DType::I32}, "labels");
      need_channels(in[0], 2, "logits");
      VNET_CHECK(in[0]->dim(0) >= 1 && in[0]->numel() > 0, VNET_E_SHAPE,
                 "dice loss needs at least one sample and one voxel, got " + shape_str(in[0]->shape));
      VNET_CHECK(in[1]->shape == Shape(in[0]->shape.begin(), in[0]->shape.end() - 1),
                 VNET_E_SHAPE, "labels must be logits' shape without the class axis: " +
                                   shape_str(in[0]->shape) + " vs " + shape_str(in[1]->shape));
      int64_t N = in[0]->dim(0), C = in[0]->dim(-1);
      out = {alloc_like({1}, DType::F32, c), alloc_like(in[0]->shape, DType::F32, c),
             alloc_like({N, C, 2}, DType::F32, c)};
      return;
    }
    case Op::dice_loss_bwd: {
      need_dtype(in[0], {DType::F32}, "probs");
      need_channels(in[0], 2, "probs");
      VNET_CHECK(in[0]->dim(0) >= 1, VNET_E_SHAPE, "dice loss needs at least one sample");
      VNET_CHECK(in[1]->shape == Shape(in[0]->shape.begin(), in[0]->shape.end() - 1), VNET_E_SHAPE,
                 "labels must be probs' shape without the class axis: " + shape_str(in[0]->shape) + " vs " +
                     shape_str(in[1]->shape));
      need_dtype(in[1], {DType::I32}, "labels");
      int64_t N = in[0]->dim(0), C = in[0]->dim(-1);
      VNET_CHECK(in[2]->shape == Shape({N, C, 2}), VNET_E_SHAPE, "stats must be (N,C,2)");
      need_dtype(in[3], {DType::F32}, "dL");
      VNET_CHECK(in[3]->numel() == 1, VNET_E_SHAPE, "dL must hold one value, got " + shape_str(in[3]->shape));
      out = {alloc_like(in[0]->shape, DType::F32, c)};
      return;
    }
    case Op::argmax:
      need_dtype(in[0], {DType::F32, DType::F16}, "x");
      need_channels(in[0], 1, "x");
      out = {alloc_like(Shape(in[0]->shape.begin(), in[0]->shape.end() - 1), DType::I32, c)};
      return;
    case Op::cast:
      out = {alloc_like(in[0]->shape, dtype_from_name(a.s("dtype", "f32")), c)};
      return;
    case Op::fill_uniform: case Op::fill_const:
      need_dtype(in[0], {DType::F32, DType::F16}, "t");
      out = {};
      return;
    case Op::scale:
      need_dtype(in[0], {DType::F32, DType::F16}, "x");
      out = {alloc_like(in[0]->shape, in[0]->dtype, c)};
      return;
    case Op::axpy:
      need_dtype(in[0], {DType::F32}, "x");
      need_dtype(in[1], {DType::F32}, "y");
      same_shape(in[0], in[1], "x and y");
      out = {};
      return;
    case Op::sum_all:
      need_dtype(in[0], {DType::F32, DType::F16}, "x");
      out = {alloc_like({1}, DType::F32, c)};
      return;
    case Op::rmsprop_step: case Op::adam_step: case Op::sgd_step:
      for (size_t i = 0; i < in.size(); i++) {
        need_dtype(in[i], {DType::F32}, "optimizer tensor");
        same_shape(in[0], in[i], "optimizer tensors");
      }
      out = {};
      return;
    case Op::amp_unscale:
      need_dtype(in[0], {DType::F32}, "grad");
      out = {alloc_like({1}, DType::F32, c)};
      return;
    case Op::kCount: break;
  }
  throw_error(ErrorCode::VNET_E_INTERNAL, "no shape rule");
}

}  // namespace vnet
