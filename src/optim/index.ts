// Optimizers.
export { RMSProp, Adam, SGD, makeOptimizer, type Optimizer } from './optimizer.js';
