// The modes of the reference and ours, end to end: train, evaluate, predict,
// train_and_evaluate, train_and_predict (with --benchmark on train and predict).
import fs from 'node:fs';
import path from 'node:path';
import * as E from '../engine/index.js';
import { Loader, readSplit, type CaseRef, type DatasetSpec } from '../data/index.js';
import { benchStats, formatBench, formatProfile, type BenchStats } from './benchmark.js';
import type { CheckpointName } from './checkpoint.js';
import { buildModel, loadModel } from './model.js';
import { checkModelLabels, checkOptions, checkRunOutputs, checkStoredConfig, modelConfigFile, openDataset, peakRssMb, runSplit, savedCases, setupDevice, tensorMemoryMb } from './common.js';
import { evaluateCases, predictProbs, type EvalResult } from './evaluate.js';
import { evaluateEnsemble, heldOutByAll, loadMembers } from './ensemble.js';
import { predictCases } from './predict.js';
import { RunLogger, type LogSink } from './log.js';
import { rankFromEnv } from './parallel.js';
import { RunError, defaultRunOptions, type Mode, type ModelConfigFile, type RunOptions } from './options.js';
import { writeReport } from './report.js';
import { train, type TrainCallbacks, type TrainResult } from './train.js';
import type { VNet } from '../nn/index.js';

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
  checkOptions(opts);
  const rank = rankFromEnv();
  const follower = rank !== undefined && rank.rank !== 0;
  // Rank 0 alone logs; the others stay quiet unless they fail.
  const log = hooks.logger ?? new RunLogger(follower ? { quiet: true } : { logDir: opts.logDir, progress: opts.progress, deferOpen: true });
  try {
    // One line per flag, named as on the command line (the reference's DLLL parameters).
    const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    for (const [k, v] of Object.entries({ exec_mode: mode, ...opts })) if (v !== undefined) log.log('PARAMETER', { [snake(k)]: v });
    const device = setupDevice(opts);
    if (opts.amp && device === 'cpu') log.info('warning: --amp on the CPU runs the fp16 casts without fp16 math: about 3x slower than fp32 (it is meant for GPUs); drop --amp here');
    const training = mode.startsWith('train');
    if (training && opts.models) throw new RunError('--models is for evaluate and predict (an ensemble of trained models), not for training', 'VNET_E_BAD_FLAG');
    if (mode.includes('evaluate') && opts.trainSplit >= 1 && training && opts.folds === undefined)
      throw new RunError('train_and_evaluate needs an evaluation split: pass --train_split < 1.0 (e.g. 0.9)', 'VNET_E_BAD_FLAG');
    const spec = openDataset(opts, log, { test: mode.includes('predict') });
    // The model config from the flags, made once for the whole run.
    const cfg = modelConfigFile(opts, spec);
    if (mode.includes('predict') && !spec.test.length) throw new RunError(`${spec.jsonPath} lists no test images to predict`, 'VNET_E_BAD_FLAG');
    // Nothing is written (the log file included) until every check passed.
    if (!follower) checkRunOutputs(mode, opts, spec);
    log.open?.();
    const result: RunResult = { mode };
    if (training) {
      result.train = await train(opts, spec, device, log, hooks, cfg);
      result.bench = result.train.bench;
      if (opts.benchmark || follower) return result;
    }
    if (mode.includes('evaluate')) result.eval = await runEvaluate(opts, spec, cfg, device, log, hooks, result.train);
    if (mode.includes('predict')) {
      const r = await runPredict(opts, spec, cfg, device, log, hooks);
      result.predictions = r.files;
      result.bench = r.bench ?? result.bench;
    }
    return result;
  } finally {
    if (!hooks.logger) log.close();
  }
}

async function loadTrained(opts: RunOptions, spec: DatasetSpec, cfg: ModelConfigFile, device: E.DeviceName, hooks: RunHooks, prefer: CheckpointName[]): Promise<VNet> {
  // Refuses a stored model whose config disagrees with the model flags given.
  if (hooks.modelFlagsGiven) checkStoredConfig(opts.modelDir, cfg);
  else checkModelLabels(opts.modelDir, spec);
  return (await loadModel(opts.modelDir, { device, amp: opts.amp, xla: opts.xla, prefer })).net;
}

/** The checkpoints evaluate and predict look for, in order (--checkpoint picks one). */
const checkpointsOf = (opts: RunOptions): CheckpointName[] => (opts.checkpoint ? [opts.checkpoint] : ['final', 'latest']);

function evalCases(opts: RunOptions, spec: DatasetSpec): CaseRef[] {
  const saved = readSplit(opts.modelDir);
  return saved ? savedCases(saved.eval, opts, spec) : runSplit(opts, spec).eval;
}

async function runEvaluate(opts: RunOptions, spec: DatasetSpec, cfg: ModelConfigFile, device: E.DeviceName, log: LogSink, hooks: RunHooks, trained?: TrainResult): Promise<EvalResult> {
  // --models: an ensemble, on the cases every member held out.
  const nets = opts.models ? await loadMembers(opts.models, spec, { device, amp: opts.amp, xla: opts.xla }) : [await loadTrained(opts, spec, cfg, device, hooks, checkpointsOf(opts))];
  const net = nets[0];
  try {
    const cases = opts.models ? heldOutByAll(opts.models, spec) : evalCases(opts, spec);
    if (!cases.length) throw new RunError('there are no evaluation cases: train with --train_split < 1.0 so that a split is held out', 'VNET_E_BAD_FLAG');
    log.info(`evaluating ${cases.length} cases${opts.models ? ` with an ensemble of ${nets.length} models` : ''}`);
    const eo = { tta: opts.tta, overlap: opts.overlap };
    const res = opts.models ? evaluateEnsemble(nets, cases, spec.labels, path.join(opts.modelDir, 'eval'), { ...eo, batchSize: opts.batchSize })
      : await evaluateCases(net, cases, spec.labels, opts.batchSize, path.join(opts.modelDir, 'eval'), eo);
    const soft = res.summary.soft_dice_at_input_shape;
    log.log([], Object.fromEntries(Object.entries(soft).map(([k, v]) => [`${k.toLowerCase()}_dice`, v])));
    process.stdout.write(`${res.table}\nsummary: ${res.file}\n`);
    if (opts.report) {
      const file = path.join(opts.modelDir, 'report.html');
      await writeReport(file, {
        title: `vnet-native: ${path.basename(path.resolve(opts.modelDir))}`,
        command: process.argv.slice(1).join(' '),
        config: { ...opts },
        losses: trained?.state.history.losses ?? [],
        evalHistory: trained?.state.history.evals ?? [],
        table: res.table,
        overlays: res.overlays,
        classNames: spec.labels.map((l) => l.name),
      });
      process.stdout.write(`report: ${file}\n`);
    }
    return res;
  } finally {
    for (const n of nets) n.dispose();
  }
}

async function runPredict(opts: RunOptions, spec: DatasetSpec, cfg: ModelConfigFile, device: E.DeviceName, log: LogSink, hooks: RunHooks): Promise<{ files: string[]; bench?: BenchStats }> {
  // The inference benchmark may run on an untrained model, as the reference's does.
  const haveModel = fs.existsSync(path.join(opts.modelDir, 'config.json'));
  let net: VNet;
  const members = opts.models && !opts.benchmark ? await loadMembers(opts.models, spec, { device, amp: opts.amp, xla: opts.xla }) : [];
  if (members.length) net = members.shift()!;
  else if (haveModel) net = await loadTrained(opts, spec, cfg, device, hooks, checkpointsOf(opts));
  else if (opts.benchmark) net = buildModel(cfg.model, { device, seed: opts.seed, amp: opts.amp, xla: opts.xla });
  else throw new RunError(`no trained model in ${opts.modelDir} (no config.json): train first`, 'VNET_E_NO_CHECKPOINT');
  net.training = false;
  try {
    if (opts.benchmark) return { files: [], bench: await benchmarkPredict(opts, net, spec.test, log) };
    const outDir = opts.outputDir ?? path.join(opts.modelDir, 'predictions');
    const files = await predictCases(net, spec.test, spec.labels.length, opts.batchSize, outDir, (id, f) => log.info(`wrote ${f}`), { tta: opts.tta, overlap: opts.overlap, members });
    process.stdout.write(`${files.length} masks in ${outDir}\n`);
    return { files };
  } finally {
    net.dispose();
    for (const m of members) m.dispose();
  }
}

async function benchmarkPredict(opts: RunOptions, net: VNet, cases: CaseRef[], log: LogSink): Promise<BenchStats> {
  if (cases.length < opts.batchSize) throw new RunError(`--batch_size ${opts.batchSize} is larger than the ${cases.length} test images`, 'VNET_E_BAD_FLAG');
  const loader = new Loader({ cases, batchSize: opts.batchSize, mode: 'predict', inputShape: net.config.inputShape, workers: 0 });
  await loader.preload();
  const timed = opts.benchmarkSteps ?? Math.max(opts.warmupSteps, 20);
  const times: number[] = [];
  let step = 0;
  try {
    for (let epoch = 0; step < opts.warmupSteps + timed; epoch++) {
      for await (const b of loader.epoch(epoch)) {
        if (b.size !== opts.batchSize) continue; // time full batches only
        if (opts.profile && step === opts.warmupSteps) E.opProfile.start();
        const t = process.hrtime.bigint();
        predictProbs(net, b);
        const ms = Number(process.hrtime.bigint() - t) / 1e6;
        if (step >= opts.warmupSteps) times.push(ms);
        if (++step >= opts.warmupSteps + timed) break;
      }
    }
  } finally {
    await loader.close();
  }
  const profile = opts.profile ? E.opProfile.stop() : undefined;
  if (profile) process.stdout.write(formatProfile(profile, times.length, times.reduce((a, b) => a + b, 0), opts.device) + '\n');
  const s = benchStats(times, opts.batchSize);
  log.log([], { throughput_predict: s.throughput, throughput_predict_mean_of_rates: s.throughputMeanOfRates, latency_mean_ms: s.latencyMeanMs, latency_p50_ms: s.p50Ms, latency_p90_ms: s.p90Ms, latency_p95_ms: s.p95Ms, latency_p99_ms: s.p99Ms, peak_rss_mb: peakRssMb() });
  process.stdout.write(formatBench('predict', s, peakRssMb(), tensorMemoryMb()) + '\n');
  return s;
}
