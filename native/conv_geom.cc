// Convolution geometry rules (see conv_geom.h).
#include "conv_geom.h"

#include <string>
#include <tuple>

#include "error.h"

namespace vnet {

ConvGeom make_conv_geom(const Shape& xs, const Shape& ws, const std::vector<int64_t>& stride,
                        const std::vector<int64_t>& pad, const std::vector<int64_t>& out) {
  const std::string where = "x " + shape_str(xs) + ", w " + shape_str(ws);
  VNET_CHECK(xs.size() == 5, VNET_E_SHAPE, "conv input must be 5-D (N,D,H,W,C): " + where);
  VNET_CHECK(ws.size() == 5, VNET_E_SHAPE, "conv weight must be 5-D (kd,kh,kw,Cin,Cout): " + where);
  VNET_CHECK(stride.size() == 3 && pad.size() == 3 && out.size() == 3, VNET_E_INVALID_ARG,
             "stride, pad and output size need 3 entries each");
  VNET_CHECK(xs[4] == ws[3], VNET_E_SHAPE, "input channels differ from the weight's Cin: " + where);
  ConvGeom g;
  g.N = xs[0]; g.D = xs[1]; g.H = xs[2]; g.W = xs[3]; g.C = xs[4];
  g.kd = ws[0]; g.kh = ws[1]; g.kw = ws[2]; g.K = ws[4];
  g.sd = stride[0]; g.sh = stride[1]; g.sw = stride[2];
  g.pd = pad[0]; g.ph = pad[1]; g.pw = pad[2];
  g.OD = out[0]; g.OH = out[1]; g.OW = out[2];
  for (int64_t v : {g.N, g.D, g.H, g.W, g.C, g.K, g.kd, g.kh, g.kw, g.sd, g.sh, g.sw, g.OD, g.OH, g.OW})
    VNET_CHECK(v > 0, VNET_E_SHAPE, "conv sizes, strides and output must be positive: " + where);
  for (int64_t v : {g.pd, g.ph, g.pw})
    VNET_CHECK(v >= 0 && v < 64, VNET_E_SHAPE, "conv padding out of range: " + where);
  // Kernels loop over stride phases: a stride past the padded input (front, back up to one more)
  // would cost work in proportion to a number that changes nothing, so it is refused here.
  for (auto [s, in, p] : {std::tuple{g.sd, g.D, g.pd}, std::tuple{g.sh, g.H, g.ph}, std::tuple{g.sw, g.W, g.pw}})
    VNET_CHECK(s <= in + 2 * p + 1, VNET_E_SHAPE,
               "conv stride " + std::to_string(s) + " is larger than the padded input (" + std::to_string(in + 2 * p + 1) + "): " + where);
  // Every output voxel must start inside the padded input.
  auto fits = [](int64_t in, int64_t k, int64_t s, int64_t p, int64_t o) {
    return (o - 1) * s - p + k <= in + k - 1 && (o - 1) * s - p < in + p + 1;
  };
  VNET_CHECK(fits(g.D, g.kd, g.sd, g.pd, g.OD) && fits(g.H, g.kh, g.sh, g.ph, g.OH) &&
                 fits(g.W, g.kw, g.sw, g.pw, g.OW),
             VNET_E_SHAPE, "output size does not fit input, kernel, stride and padding: " + where);
  return g;
}

}  // namespace vnet
