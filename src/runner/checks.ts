// What every mode checks before it writes anything: the dataset (with the validator's checks)
// and the output paths.
import path from 'node:path';
import { checkOutputDir, formatProblems, loadDataset, validateDataset, isDataError, type DatasetSpec } from '../data/index.js';
import { MODE_STEPS, RunError, type Mode, type RunOptions } from '../config/options.js';
import { rankFromEnv } from '../env.js';
import { hasCheckpoint } from '../infer/checkpoint.js';
import { checkLogTarget, type LogSink } from '../train/log.js';

/** Opens dataset.json and runs the validator's checks, failing fast with every problem listed. */
export function openDataset(o: RunOptions, log: LogSink, opts: { test: boolean }): DatasetSpec {
  let spec: DatasetSpec;
  try {
    spec = loadDataset(o.dataDir);
  } catch (e) {
    if (isDataError(e)) throw new RunError(e.message, e.code);
    throw e;
  }
  const res = validateDataset(o.dataDir, { test: opts.test });
  for (const w of res.warnings) log.info(`warning: ${formatProblems([w])}`);
  if (res.errors.length)
    throw new RunError(`the dataset in ${o.dataDir} has ${res.errors.length} problem(s):\n${formatProblems(res.errors)}`, res.errors[0].code);
  return spec;
}

/**
 * The output-path guard for a run, before anything is opened for writing: --model_dir,
 * --output_dir (predicting modes) and --log_dir must not be an input's folder or file, a link,
 * or on /proc-like filesystems, and a training run must not overwrite a trained model.
 */
export function checkRunOutputs(mode: Mode, o: RunOptions, spec: DatasetSpec): void {
  const inputs = [spec.jsonPath, ...spec.training.flatMap((c) => [...(c.channels ?? [c.image]), c.label]), ...spec.test.flatMap((c) => c.channels ?? [c.image])];
  try {
    checkOutputDir(o.modelDir, inputs, '--model_dir');
    if (MODE_STEPS[mode].predict && !o.benchmark) checkOutputDir(o.outputDir ?? path.join(o.modelDir, 'predictions'), inputs, '--output_dir');
    if (o.logDir) checkLogTarget(o.logDir, inputs);
    if (o.cacheDir && MODE_STEPS[mode].train) checkOutputDir(o.cacheDir, inputs, '--cache_dir');
  } catch (e) {
    if (isDataError(e)) throw new RunError(e.message, 'VNET_E_UNSAFE_OUTPUT');
    throw e;
  }
  const rank = rankFromEnv();
  if (MODE_STEPS[mode].train && !o.benchmark && !o.resume && (rank?.rank ?? 0) === 0 && hasCheckpoint(o.modelDir))
    throw new RunError(`${o.modelDir} already holds a trained model; pass --resume to continue it, or choose another --model_dir`, 'VNET_E_MODEL_EXISTS');
}
