// Optimizers.
export { RMSProp, Adam, SGD, makeOptimizer, type Optimizer } from './optimizer.js';
export { LossScaler, type LossScalerState } from './amp.js';
