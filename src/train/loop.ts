// Training: the loop over epochs and batches, logging, per-epoch checkpoints (latest, best by
// validation Dice), the final one and those at given minutes of training time (--save_at_minutes);
// --benchmark times steps instead.
import fs from 'node:fs';
import path from 'node:path';
import * as E from '../engine/index.js';
import { Loader, autoTargetSpacing, fitIntensity, linkFileAtomicSync, readGrids, makeDirs, readSplit, writeSplit, type CaseRef, type DatasetSpec, type LoaderState } from '../data/index.js';
import { LossScaler, makeOptimizer } from '../optim/index.js';
import { benchStats, formatBench, formatProfile, peakRssMb, tensorMemoryMb, type BenchStats } from '../bench/stats.js';
import { checkpointFile, configFile, hasCheckpoint, loadCheckpoint, readModelConfig, saveCheckpoint, writeModelConfig, type TrainState } from '../infer/checkpoint.js';
import { connectRanks } from './communicator.js';
import { softDiceOnCases } from '../eval/evaluate.js';
import { feedOf, inputSpec } from '../infer/probs.js';
import { buildModel, checkStoredConfig } from '../infer/model.js';
import { RunError, learningRate, minuteCheckpoint, modelConfigFile, type ModelConfigFile, type RunOptions } from '../config/options.js';
import { runSplit, savedCases } from './split.js';
import { shardOf } from './ranks.js';
import { TrainingStep } from './step.js';
import { TrainClock } from './clock.js';
import type { LogSink } from './log.js';

export interface StepInfo {
  epoch: number;
  step: number;
  loss: number;
  imagesPerSec: number;
}

export interface TrainCallbacks {
  onStep?(s: StepInfo): void;
  onEpoch?(e: { epoch: number; meanLoss: number; evalDice?: Record<string, number> }): void;
}

export interface TrainResult {
  state: TrainState;
  split: { train: string[]; eval: string[] };
  bench?: BenchStats;
  peakRssMb: number;
  seconds: number;
}

/**
 * Trains the model of `cfg` (built from the options once per run; runMode passes its own) on
 * this process's share of every batch; rank 0 alone writes.
 */
export async function train(o: RunOptions, spec: DatasetSpec, device: E.DeviceName, log: LogSink, cb: TrainCallbacks = {}, cfg: ModelConfigFile = modelConfigFile(o, spec)): Promise<TrainResult> {
  const t0 = Date.now();
  const comm = await connectRanks(device);
  const { world, rank } = comm;
  // Only rank 0 writes anything.
  const writer = rank === 0;
  makeDirs(o.modelDir);
  if (writer && !o.benchmark && !o.resume && hasCheckpoint(o.modelDir))
    throw new RunError(`${o.modelDir} already holds a trained model; pass --resume to continue it, or choose another --model_dir`, 'VNET_E_MODEL_EXISTS');

  // A run killed before its first `latest` (config and split maybe written, maybe `best`) starts over.
  const fromScratch = o.resume && !hasCheckpoint(o.modelDir);
  if (fromScratch) log.info(`--resume: ${o.modelDir} has no latest.safetensors (the run stopped before its first epoch ended): starting from epoch 0`);
  // The split: the same one on resume, else the reference's first-N (or shuffled with --split_seed).
  const saved = o.resume && !fromScratch ? readSplit(o.modelDir) : undefined;
  if (saved && (saved.folds !== o.folds || saved.fold !== o.fold))
    throw new RunError(`--resume: ${o.modelDir} holds ${saved.folds === undefined ? 'a model without folds' : `fold ${saved.fold} of ${saved.folds}`}; pass the same --folds / --fold`, 'VNET_E_CONFIG_MISMATCH');
  const split = saved ? { train: savedCases(saved.train, o, spec), eval: savedCases(saved.eval, o, spec) } : runSplit(o, spec);
  if (split.train.length < o.batchSize * world)
    throw new RunError(`--batch_size ${o.batchSize}${world > 1 ? ` x ${world} ranks` : ''} is larger than the ${split.train.length} training cases`, 'VNET_E_BAD_FLAG');

  // A resumed model is the stored one (refused when the flags define another); a new one has
  // its CT channels' statistics fitted on the training cases first.
  const resumed = o.resume && fs.existsSync(configFile(o.modelDir));
  cfg = resumed ? { ...cfg, model: checkStoredConfig(o.modelDir, cfg).model } : fitInput(cfg, spec, o, log);
  const model = cfg.model;
  const net = buildModel(model, { device, seed: o.seed, amp: o.amp, xla: o.xla });
  const opt = makeOptimizer(o.optimizer, o.baseLr, o.momentum, { nesterov: o.nesterov, weightDecay: o.weightDecay });
  let state: TrainState = { epoch: 0, step: 0, optimizer: optimizerLabel(o), history: { losses: [], evals: [] } };
  if (o.resume && !fromScratch) {
    if (!fs.existsSync(path.join(o.modelDir, 'latest.safetensors'))) throw new RunError(`--resume: ${o.modelDir} holds final.safetensors but no latest.safetensors to resume from`, 'VNET_E_NO_CHECKPOINT');
    state = (await loadCheckpoint(o.modelDir, 'latest', net, opt)).state;
    checkResumable(o, state);
    log.info(`resuming from ${o.modelDir}/latest.safetensors after epoch ${state.epoch} (step ${state.step})`);
  }
  const scaler = o.amp ? new LossScaler({}, state.lossScale ? { scale: state.lossScale, goodSteps: state.goodSteps ?? 0 } : undefined) : undefined;
  await comm.broadcastState(net.store);
  if (!o.benchmark && writer) {
    writeModelConfig(o.modelDir, cfg);
    writeSplit(o.modelDir, split, { trainSplit: o.trainSplit, splitSeed: o.splitSeed, ...(o.folds !== undefined ? { folds: o.folds, fold: o.fold } : {}) });
  }

  // Every rank draws the same shuffled global batches and takes its own slice of each. On the
  // CPU the batches are made in this thread: the engine's threads already keep every core busy,
  // so a worker only takes turns with them (train --benchmark at batch 8 on 2 cores: the same
  // step time, p50 375-414 ms either way) and its heap and arenas cost 25-35 MB of resident memory.
  const loader = new Loader({
    cases: split.train, batchSize: o.batchSize * world, mode: 'train', inputShape: net.config.inputShape, augment: o.augment, augmentMode: o.augmentMode,
    seed: o.seed, state: state.loader as LoaderState | undefined, ...(device === 'cpu' ? { workers: 0 } : {}), input: inputSpec(net.config),
    ...(feedOf(net.config) === 'windowed' ? { fullResolution: true, foregroundOversample: o.foregroundOversample, ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}) } : {}),
  });
  const perEpoch = loader.batchesPerEpoch;
  log.info(`training on ${device}${world > 1 ? ` x ${world} ranks` : ''}: ${split.train.length} cases, ${split.eval.length} for evaluation, batch ${o.batchSize}${world > 1 ? ` per rank (global ${o.batchSize * world})` : ''}, ${perEpoch} steps per epoch`);
  const vox = net.config.inputShape.reduce((a, b) => a * b, 1);
  const shard = (b: { images: Float32Array; labels?: Int32Array }) => (world === 1 ? b : shardOf(b, rank, o.batchSize, vox, net.inChannels));
  // --xla on a GPU replays the step from a CUDA Graph; its capture holds the single-output
  // loss, so deep supervision trains eagerly.
  const graph = o.xla && device === 'cuda' && !net.config.deepSupervision ? { batch: o.batchSize, log } : undefined;
  const stepper = new TrainingStep(net, opt, comm, { loss: o.loss, scaler, graph });
  try {
    if (o.benchmark) {
      const step = (b: { images: Float32Array; labels?: Int32Array; size: number }) => {
        const mine = shard(b);
        return stepper.run(mine.images, mine.labels!, world > 1 ? o.batchSize : b.size, o.baseLr);
      };
      const bench = await benchmarkTrain(o, loader, log, step, world, writer);
      return { state, split: ids(split), bench, peakRssMb: peakRssMb(), seconds: (Date.now() - t0) / 1000 };
    }
    const tStart = Date.now();
    let latestIsFinal = false;
    let imagesDone = 0;
    const clock = new TrainClock(state.trainSeconds ?? 0, o.saveAtMinutes ?? []);
    for (let epoch = state.epoch; epoch < o.trainEpochs; epoch++) {
      let sum = 0, count = 0, step = 0;
      clock.resume();
      for await (const batch of loader.epoch(epoch)) {
        const mine = shard(batch);
        const lr = learningRate(o, state.step, o.trainEpochs * perEpoch);
        const loss = await stepper.run(mine.images, mine.labels!, world > 1 ? o.batchSize : batch.size, lr);
        if (!Number.isFinite(loss)) throw new RunError(`the loss became ${loss} at step ${state.step}; lower --base_lr`, 'VNET_E_DIVERGED');
        sum += loss; count++; step++;
        imagesDone += batch.size; // global images
        const rate = imagesDone / ((Date.now() - tStart) / 1000);
        if (state.step % o.logEvery === 0) {
          const extra = { ...(scaler ? { loss_scale: scaler.scale } : {}), ...((o.lrSchedule ?? 'constant') !== 'constant' ? { learning_rate: lr } : {}) };
          log.log([state.step], { total_loss: loss, ...extra });
          state.history.losses.push({ step: state.step, loss });
        }
        state.step++;
        const due = clock.due();
        for (const m of due) {
          state.trainSeconds = clock.seconds;
          if (writer) await saveCheckpoint(o.modelDir, minuteCheckpoint(m), net, undefined, state);
          log.info(`${minuteCheckpoint(m)}.safetensors: step ${state.step}, ${clock.seconds.toFixed(1)} s of training (evaluation excluded)`);
        }
        if (due.length) clock.resume();
        const remaining = (o.trainEpochs - epoch - 1) * perEpoch + (perEpoch - step);
        log.progress({ epoch: epoch + 1, epochs: o.trainEpochs, step, steps: perEpoch, loss, imagesPerSec: rate, etaSec: (remaining * o.batchSize) / rate });
        cb.onStep?.({ epoch, step: state.step, loss, imagesPerSec: rate });
      }
      clock.pause();
      state.trainSeconds = clock.seconds;
      state.epoch = epoch + 1;
      state.loader = loader.state();
      if (scaler) Object.assign(state, { lossScale: scaler.scale, goodSteps: scaler.goodSteps });
      let evalDice: Record<string, number> | undefined;
      if (writer && split.eval.length && o.evalEvery > 0 && (state.epoch % o.evalEvery === 0 || state.epoch === o.trainEpochs)) {
        evalDice = await softDiceOnCases(net, split.eval, cfg.labels, o.batchSize);
        state.history.evals.push({ epoch: state.epoch, dice: evalDice });
        const fg = meanForeground(evalDice, cfg.labels);
        log.info(`epoch ${state.epoch}: mean loss ${(sum / count).toFixed(4)}, eval soft Dice ${Object.entries(evalDice).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
        if (state.bestDice === undefined || fg > state.bestDice) {
          state.bestDice = fg;
          await saveCheckpoint(o.modelDir, 'best', net, undefined, state);
        }
      } else {
        log.info(`epoch ${state.epoch}: mean loss ${(sum / Math.max(1, count)).toFixed(4)}`);
      }
      if (writer) await saveCheckpoint(o.modelDir, 'latest', net, opt, state);
      latestIsFinal = true;
      cb.onEpoch?.({ epoch: state.epoch, meanLoss: sum / Math.max(1, count), evalDice });
    }
    const missed = clock.pending();
    if (missed.length) log.info(`--save_at_minutes: training ended after ${(clock.seconds / 60).toFixed(2)} min, before ${missed.join(', ')} min`);
    // final holds what latest now holds: the same file (a hard link), not a second copy.
    if (writer && latestIsFinal) linkFileAtomicSync(checkpointFile(o.modelDir, 'latest'), checkpointFile(o.modelDir, 'final'));
    else if (writer) await saveCheckpoint(o.modelDir, 'final', net, opt, state);
    return { state, split: ids(split), peakRssMb: peakRssMb(), seconds: (Date.now() - t0) / 1000 };
  } finally {
    stepper.dispose();
    await comm.close();
    await loader.close();
    opt.dispose();
    net.dispose();
  }
}

/** The optimizer as a checkpoint records it: its name, then SGD's options when given (sgd --nesterov --weight_decay 3e-05). */
function optimizerLabel(o: RunOptions): string {
  return [o.optimizer, o.nesterov ? '--nesterov' : '', o.weightDecay ? `--weight_decay ${o.weightDecay}` : ''].filter(Boolean).join(' ');
}

/** --resume continues the same optimisation: another optimizer or loss would silently start over. */
function checkResumable(o: RunOptions, state: TrainState): void {
  const stored = fs.existsSync(configFile(o.modelDir)) ? readModelConfig(o.modelDir).loss : undefined;
  const clash = [
    state.optimizer !== optimizerLabel(o) ? `--optimizer ${state.optimizer} (given ${optimizerLabel(o)})` : '',
    stored !== undefined && stored !== o.loss ? `--loss ${stored} (given ${o.loss})` : '',
  ].filter(Boolean);
  if (clash.length)
    throw new RunError(`--resume: ${o.modelDir} was trained with ${clash.join(' and ')}; pass the same flags to continue it, or choose another --model_dir`, 'VNET_E_CONFIG_MISMATCH');
}

const ids = (s: { train: CaseRef[]; eval: CaseRef[] }) => ({ train: s.train.map((c) => c.id), eval: s.eval.map((c) => c.id) });

export function meanForeground(dice: Record<string, number>, labels: { value: number; name: string }[]): number {
  const fg = labels.filter((l) => l.value !== 0).map((l) => dice[l.name]);
  return fg.reduce((a, b) => a + b, 0) / Math.max(1, fg.length);
}

async function benchmarkTrain(o: RunOptions, loader: Loader, log: LogSink, step: (b: { images: Float32Array; labels?: Int32Array; size: number }) => Promise<number>, world: number, writer: boolean): Promise<BenchStats> {
  const timed = o.benchmarkSteps ?? Math.max(o.warmupSteps, 20);
  const total = o.warmupSteps + timed;
  const times: number[] = [];
  await loader.preload();
  let n = 0;
  for (let epoch = 0; n < total; epoch++) {
    for await (const batch of loader.epoch(epoch)) {
      if (o.profile && n === o.warmupSteps) E.opProfile.start();
      const t = process.hrtime.bigint();
      await step(batch);
      E.sync();
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if (n >= o.warmupSteps) times.push(ms);
      if (++n >= total) break;
    }
  }
  const profile = o.profile ? E.opProfile.stop() : undefined;
  const s = benchStats(times, o.batchSize * world);
  if (writer && profile) process.stdout.write(formatProfile(profile, times.length, times.reduce((a, b) => a + b, 0), o.device) + '\n');
  if (writer) {
    log.log([], { throughput_train: s.throughput, throughput_train_mean_of_rates: s.throughputMeanOfRates, latency_mean_ms: s.latencyMeanMs, latency_p50_ms: s.p50Ms, latency_p90_ms: s.p90Ms, latency_p95_ms: s.p95Ms, latency_p99_ms: s.p99Ms, peak_rss_mb: peakRssMb(), ranks: world });
    process.stdout.write(formatBench(world > 1 ? `train (${world} ranks, global batch)` : 'train', s, peakRssMb(), tensorMemoryMb()) + '\n');
  }
  return s;
}

/**
 * The model config with what it takes from the data, over every training case of the dataset
 * (not only this run's split, so that the folds of a cross-validation agree): its CT channels'
 * normalisation, and a full-resolution model's target spacing (auto, its default: nnU-Net's rule).
 */
function fitInput(cfg: ModelConfigFile, spec: DatasetSpec, o: RunOptions, log: LogSink): ModelConfigFile {
  let model = cfg.model;
  const schemes = model.intensity?.map((n) => n.scheme);
  if (schemes?.includes('ct')) {
    log.info(`fitting the CT normalisation on the foreground of ${spec.training.length} training cases`);
    model = { ...model, intensity: fitIntensity(spec.training, schemes) };
  }
  if (model.resize === 'none' && (o.targetSpacing ?? 'auto') === 'auto') {
    const targetSpacing = autoTargetSpacing(readGrids(spec.training.map((c) => c.image)));
    log.info(`target spacing ${targetSpacing.map((s) => +s.toFixed(4)).join(' x ')} mm (auto: from ${spec.training.length} training cases)`);
    model = { ...model, targetSpacing };
  }
  return model === cfg.model ? cfg : { ...cfg, model };
}
