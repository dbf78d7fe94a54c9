// The modes of the reference and ours, end to end: train, evaluate, predict,
// train_and_evaluate, train_and_predict (with --benchmark on train and predict). What each mode
// runs is its row of MODE_STEPS (config/options.ts); this file follows the row.
import * as E from '../engine/index.js';
import { checkOptions } from '../config/check.js';
import { setupDevice } from '../config/device.js';
import { MODE_STEPS, RunError, defaultRunOptions, modelConfigFile, type Mode, type RunOptions } from '../config/options.js';
import { rankFromEnv } from '../env.js';
import type { BenchStats } from '../bench/stats.js';
import type { EvalResult } from '../eval/evaluate.js';
import { RunLogger, type LogSink } from '../train/log.js';
import { train, type TrainCallbacks, type TrainResult } from '../train/loop.js';
import { checkRunOutputs, openDataset } from './checks.js';
import { runEvaluate } from './evaluate.js';
import { runPredict } from './predict.js';

export interface RunResult {
  mode: Mode;
  train?: TrainResult;
  eval?: EvalResult;
  predictions?: string[];
  bench?: BenchStats;
}

export interface RunHooks extends TrainCallbacks {
  /** Receives every log record and line; default: DLLL file (--log_dir) + stderr. */
  logger?: LogSink;
  /** Whether the user set the model flags (then they must match a stored model). */
  modelFlagsGiven?: boolean;
}

export function withDefaults(o: Partial<RunOptions> & Pick<RunOptions, 'dataDir' | 'modelDir' | 'batchSize'>): RunOptions {
  return { ...defaultRunOptions, ...o };
}

export async function runMode(mode: Mode, opts: RunOptions, hooks: RunHooks = {}): Promise<RunResult> {
  const steps = MODE_STEPS[mode];
  if (!steps) throw new RunError(`unknown mode ${JSON.stringify(mode)}; one of ${Object.keys(MODE_STEPS).join(', ')}`, 'VNET_E_BAD_FLAG');
  checkOptions(opts);
  const rank = rankFromEnv();
  const follower = rank !== undefined && rank.rank !== 0;
  // Rank 0 alone logs; the others stay quiet unless they fail.
  const log = hooks.logger ?? new RunLogger(follower ? { quiet: true } : { logDir: opts.logDir, progress: opts.progress, deferOpen: true });
  try {
    // One line per flag, named as on the command line (the reference's DLLL parameters).
    const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    for (const [k, v] of Object.entries({ exec_mode: mode, ...opts })) if (v !== undefined) log.log('PARAMETER', { [snake(k)]: v });
    const device: E.DeviceName = setupDevice(opts);
    if (opts.amp && device === 'cpu') log.info('warning: --amp on the CPU runs the fp16 casts without fp16 math: about 3x slower than fp32 (it is meant for GPUs); drop --amp here');
    if (steps.train && opts.models) throw new RunError('--models is for evaluate and predict (an ensemble of trained models), not for training', 'VNET_E_BAD_FLAG');
    if (steps.train && steps.evaluate && opts.trainSplit >= 1 && opts.folds === undefined)
      throw new RunError('train_and_evaluate needs an evaluation split: pass --train_split < 1.0 (e.g. 0.9)', 'VNET_E_BAD_FLAG');
    const spec = openDataset(opts, log, { test: steps.predict });
    // The model config from the flags, made once for the whole run.
    const cfg = modelConfigFile(opts, spec);
    if (steps.predict && !spec.test.length) throw new RunError(`${spec.jsonPath} lists no test images to predict`, 'VNET_E_BAD_FLAG');
    // Nothing is written (the log file included) until every check passed.
    if (!follower) checkRunOutputs(mode, opts, spec);
    log.open?.();
    const result: RunResult = { mode };
    const ctx = { opts, spec, cfg, device, log, hooks };
    if (steps.train) {
      result.train = await train(opts, spec, device, log, hooks, cfg);
      result.bench = result.train.bench;
      if (opts.benchmark || follower) return result;
    }
    if (steps.evaluate) result.eval = await runEvaluate(ctx, result.train);
    if (steps.predict) {
      const r = await runPredict(ctx);
      result.predictions = r.files;
      result.bench = r.bench ?? result.bench;
    }
    return result;
  } finally {
    if (!hooks.logger) log.close();
  }
}
