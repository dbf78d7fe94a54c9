// The engine's public face: tensors, ops with gradients, scopes and memory accounting.
export { Tensor, VnetError, tensor, zeros, memory, fromNative, type DType, type DeviceName } from './tensor.js';
export { tidy, tidyAsync, keep } from './scope.js';
export { noGrad, isGradEnabled } from './tape.js';
export * from './ops.js';
export { convBnRelu, type ConvUnitOpts, type NormAffine } from './fused.js';
export { randomUniform, glorotUniform, fill } from './init.js';
export { useDevice, sync, info, doctor, doctorInChild, convAlgos, captureGraph, writeInto, type DeviceOptions, type EngineInfo, type CapturedGraph } from './device.js';
export * as collective from './collective.js';
export * as timing from './timing.js';
