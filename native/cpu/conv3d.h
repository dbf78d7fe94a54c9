// CPU 3-D convolutions, NDHWC activations and (kd,kh,kw,Cin,Cout) weights (see conv_geom.h).
// The entry points pick the algorithm (conv_algo.h: the direct kernels or Winograd, by
// VNET_CONV_ALGO or by measurement) and return the one that ran.
#pragma once
#include "../conv_geom.h"
#include "conv_algo.h"
#include "winograd.h"

namespace vnet::cpu {

// y (N,OD,OH,OW,K) = conv(x (N,D,H,W,C), w). `tag` (may be null) names w's contents, so a
// Winograd filter transform can be reused while they are unchanged.
ConvAlgo conv3d_fprop_f32(const ConvGeom& g, const float* x, const float* w, float* y, const WeightTag* tag = nullptr);
// dx (N,D,H,W,C) = gradient of the conv w.r.t. its input, from dy (N,OD,OH,OW,K)
ConvAlgo conv3d_dgrad_f32(const ConvGeom& g, const float* dy, const float* w, float* dx, const WeightTag* tag = nullptr);
// dw (kd,kh,kw,C,K) = gradient w.r.t. the weights
ConvAlgo conv3d_wgrad_f32(const ConvGeom& g, const float* x, const float* dy, float* dw);

// Plain loops, kept as the readable oracle the fast paths are tested against.
void conv3d_fprop_ref(const ConvGeom& g, const float* x, const float* w, float* y);
void conv3d_dgrad_ref(const ConvGeom& g, const float* dy, const float* w, float* dx);
void conv3d_wgrad_ref(const ConvGeom& g, const float* x, const float* dy, float* dw);

}  // namespace vnet::cpu
