// The evaluate mode: the trained model (or the --models ensemble) through the segmenter on the
// held-out cases, the summary table on stdout, summary.json and report.html.
import path from 'node:path';
import { SPLIT_FILE, readSplit, type CaseRef, type DatasetSpec } from '../data/index.js';
import { RunError, type ModelConfigFile, type RunOptions } from '../config/options.js';
import type * as E from '../engine/index.js';
import { evaluateCases, type EvalResult } from '../eval/evaluate.js';
import { writeReport } from '../report/index.js';
import { loadMembers } from '../infer/ensemble.js';
import { checkModelLabels, checkStoredConfig, loadModel } from '../infer/model.js';
import { Segmenter } from '../infer/segmenter.js';
import type { VNet } from '../nn/index.js';
import type { LogSink } from '../train/log.js';
import type { TrainResult } from '../train/loop.js';
import { runSplit, savedCases } from '../train/split.js';

/** What a mode's step gets from runMode. */
export interface ModeContext {
  opts: RunOptions;
  spec: DatasetSpec;
  cfg: ModelConfigFile;
  device: E.DeviceName;
  log: LogSink;
  hooks: { modelFlagsGiven?: boolean };
}

/** The trained model of --model_dir, refused when its config disagrees with the model flags given. */
export async function loadTrained(c: ModeContext): Promise<VNet> {
  const { opts } = c;
  if (c.hooks.modelFlagsGiven) checkStoredConfig(opts.modelDir, c.cfg);
  else checkModelLabels(opts.modelDir, c.spec);
  return (await loadModel(opts.modelDir, { device: c.device, amp: opts.amp, xla: opts.xla, prefer: opts.checkpoint ? [opts.checkpoint] : ['final', 'latest'] })).net;
}

/** The cases every member held out (their split.json eval lists intersected), in the dataset's order. */
export function heldOutByAll(dirs: string[], spec: DatasetSpec): CaseRef[] {
  const sets = dirs.map((d) => {
    const s = readSplit(d);
    if (!s) throw new RunError(`--models: ${d} has no ${SPLIT_FILE}, so its held-out cases are unknown`, 'VNET_E_NO_CHECKPOINT');
    return new Set(s.eval);
  });
  const cases = spec.training.filter((c) => sets.every((s) => s.has(c.id)));
  if (!cases.length) throw new RunError(`--models: no training case was held out by every model (cross-validation folds hold out disjoint cases; evaluate each fold alone, or predict with the ensemble)`, 'VNET_E_BAD_FLAG');
  return cases;
}

function evalCases(opts: RunOptions, spec: DatasetSpec): CaseRef[] {
  const saved = readSplit(opts.modelDir);
  return saved ? savedCases(saved.eval, opts, spec) : runSplit(opts, spec).eval;
}

export async function runEvaluate(c: ModeContext, trained?: TrainResult): Promise<EvalResult> {
  const { opts, spec, log } = c;
  // --models: an ensemble, on the cases every member held out, scored on each case's own grid.
  const nets = opts.models ? await loadMembers(opts.models, spec, { device: c.device, amp: opts.amp, xla: opts.xla }) : [await loadTrained(c)];
  const seg = new Segmenter(nets[0], c.cfg.labels, { batchSize: opts.batchSize, tta: opts.tta, overlap: opts.overlap, members: nets.slice(1), caseGrid: !!opts.models });
  try {
    const cases = opts.models ? heldOutByAll(opts.models, spec) : evalCases(opts, spec);
    if (!cases.length) throw new RunError('there are no evaluation cases: train with --train_split < 1.0 so that a split is held out', 'VNET_E_BAD_FLAG');
    log.info(`evaluating ${cases.length} cases${opts.models ? ` with an ensemble of ${nets.length} models` : ''}`);
    // A minute_<m> checkpoint (a point of the Dice-vs-time curve) is evaluated into eval/minute_<m>.
    const outDir = path.join(opts.modelDir, 'eval', ...(opts.checkpoint?.startsWith('minute_') ? [opts.checkpoint] : []));
    const res = await evaluateCases(seg, cases, spec.labels, outDir, opts.models ? { models: nets.length } : {});
    const soft = res.summary.soft_dice_at_input_shape;
    log.log([], Object.fromEntries(Object.entries(soft).map(([k, v]) => [`${k.toLowerCase()}_dice`, v])));
    process.stdout.write(`${res.table}\nsummary: ${res.file}\n`);
    if (opts.report) {
      const file = path.join(opts.checkpoint?.startsWith('minute_') ? outDir : opts.modelDir, 'report.html');
      writeReport(file, {
        title: `vnet-native: ${path.basename(path.resolve(opts.modelDir))}`,
        labels: spec.labels,
        summary: res.summary,
        curves: { losses: trained?.state.history.losses ?? [], evals: trained?.state.history.evals ?? [] },
        overlays: res.overlays,
        command: process.argv.slice(1).join(' '),
        config: { ...opts },
      });
      process.stdout.write(`report: ${file}\n`);
    }
    return res;
  } finally {
    await seg.dispose();
    for (const n of nets) n.dispose();
  }
}
