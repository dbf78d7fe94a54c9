// The runner: modes, checkpoints, evaluation and prediction, logs and benchmarks.
export { MAX_THREADS, MODES, defaultRunOptions, learningRate, modelConfig, RunError, type Mode, type RunOptions, type ModelConfigFile } from './options.js';
export { runMode, withDefaults, type RunHooks, type RunResult } from './run.js';
export { train, type TrainCallbacks, type TrainResult, type StepInfo } from './train.js';
export { trainStep, TrainingStep } from './step.js';
export { evaluateCases, predictProbs, softDice, type EvalResult } from './evaluate.js';
export { predictCases } from './predict.js';
export { runCv, cvSummary, type CvSummary, type FoldResult } from './cv.js';
export { saveCheckpoint, loadCheckpoint, readModelConfig, type TrainState } from './checkpoint.js';
export { benchStats, type BenchStats } from './benchmark.js';
export { RunLogger, type LogSink } from './log.js';
export { loadModel, type LoadedModel, type LoadModelOptions } from './model.js';
