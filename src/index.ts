// vnet-native as a library: the engine (tensors, ops with gradients, scopes), the V-Net and
// its optimizers, the data pipeline, and the runner's modes with progress callbacks.
export * as engine from './engine/index.js';
export { Tensor, tensor, zeros, tidy, keep, noGrad, memory, backward, diceLoss, conv3d, conv3dTranspose, VnetError, type DeviceName, type DType } from './engine/index.js';
export * as nn from './nn/index.js';
export { VNet, defaultVNetConfig, type VNetConfig } from './nn/index.js';
export { RMSProp, Adam, SGD, makeOptimizer, type Optimizer } from './optim/index.js';
export * as data from './data/index.js';
export {
  runMode, withDefaults, train, trainStep, evaluateCases, predictCases, predictProbs, softDice,
  saveCheckpoint, loadCheckpoint, loadModel, MODES, defaultRunOptions, RunError,
  type Mode, type RunOptions, type LoadedModel, type LoadModelOptions, type RunHooks, type RunResult, type StepInfo,
} from './runner/index.js';
export { exportOnnx, exportModelDir, ONNX_OPSETS, type ExportOptions, type ExportableModel } from './export/onnx.js';
export {
  createSegmenter, startServer, Segmenter, SegmentError,
  type Segmentation, type SegmenterInfo, type SegmenterOptions, type SegmentServer, type ServeOptions,
} from './serve/index.js';
