// Optimizers.
export { RMSProp, Adam, SGD, makeOptimizer, type Optimizer, type SgdOptions } from './optimizer.js';
export { LossScaler, type LossScalerState } from './amp.js';
