// The runner: the modes (run.ts follows MODE_STEPS) and cross-validation, and the library
// surface of what they use: options, training, inference, evaluation, checkpoints, logs.
export { MAX_THREADS, MODES, MODE_STEPS, defaultRunOptions, learningRate, modelConfig, RunError, type Mode, type RunOptions, type ModelConfigFile } from '../config/options.js';
export { runMode, withDefaults, type RunHooks, type RunResult } from './run.js';
export { train, type TrainCallbacks, type TrainResult, type StepInfo } from '../train/loop.js';
export { trainStep, TrainingStep } from '../train/step.js';
export { evaluateCases, softDice, type EvalResult } from '../eval/evaluate.js';
export { predictProbs, type Feed, type InferOptions } from '../infer/probs.js';
export { predictCases } from '../infer/predict.js';
export { runCv, cvSummary, type CvSummary, type FoldResult } from './cv.js';
export { runCurve, type CurvePoint } from './curve.js';
export { saveCheckpoint, loadCheckpoint, readModelConfig, type TrainState } from '../infer/checkpoint.js';
export { benchStats, type BenchStats } from '../bench/stats.js';
export { RunLogger, type LogSink } from '../train/log.js';
export { loadModel, type LoadedModel, type LoadModelOptions } from '../infer/model.js';
