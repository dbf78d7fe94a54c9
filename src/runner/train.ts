// Training: the loop over epochs and batches, logging, per-epoch checkpoints (latest, best by
// validation Dice) and the final one; --benchmark times steps instead.
import fs from 'node:fs';
import path from 'node:path';
import * as E from '../engine/index.js';
import { Loader, foldSplit, makeDirs, makeSplit, readSplit, writeSplit, type CaseRef, type DatasetSpec, type LoaderState } from '../data/index.js';
import { LossScaler, makeOptimizer } from '../optim/index.js';
import { CapturedStep } from './graph.js';
import type { VNet } from '../nn/index.js';
import { benchStats, formatBench, formatProfile, type BenchStats } from './benchmark.js';
import { configFile, loadCheckpoint, readModelConfig, saveCheckpoint, writeModelConfig, type TrainState } from './checkpoint.js';
import { hasCheckpoint, modelConfigFile, modelFromDir, peakRssMb } from './common.js';
import { trainingLoss } from './deep-supervision.js';
import { softDiceOnCases } from './evaluate.js';
import { VNet as VNetClass } from '../nn/index.js';
import { RunError, learningRate, type RunOptions } from './options.js';
import { TcpCommunicator, initNccl, injectedFault, rankFromEnv, shardOf, type Communicator } from './parallel.js';
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

/** The optimizer step on the current gradients; with AMP, unscaled first and skipped on overflow. */
function update(net: VNet, opt: ReturnType<typeof makeOptimizer>, lr: number, scaler?: LossScaler): void {
  if (!scaler || scaler.update(scaler.unscale(net.parameters))) opt.step(net.parameters, lr);
}

/**
 * One optimisation step on a batch; returns the loss. With a loss scaler (AMP) the backward
 * pass is scaled, and a step whose gradients overflow is skipped (the weights stay untouched).
 */
export function trainStep(net: VNet, opt: ReturnType<typeof makeOptimizer>, images: Float32Array, labels: Int32Array, n: number, o: Pick<RunOptions, 'loss' | 'baseLr'>, scaler?: LossScaler): number {
  const [D, H, W] = net.config.inputShape;
  const device = net.store.device;
  return E.tidy(() => {
    const x = E.tensor(images, [n, D, H, W, 1], { device });
    const y = E.tensor(labels, [n, D, H, W], { device });
    const loss = trainingLoss(net, x, y, labels, n, o);
    const value = loss.item();
    E.backward(loss, scaler ? scaler.scale : 1);
    update(net, opt, o.baseLr, scaler);
    net.store.zeroGrad();
    return value;
  });
}

/**
 * A data-parallel step: forward and backward on this rank's shard, then one all-reduce that
 * averages the gradients (and the loss) over a flat buffer, then the same update on every rank.
 */
export async function parallelStep(net: VNet, opt: ReturnType<typeof makeOptimizer>, images: Float32Array, labels: Int32Array, n: number, o: Pick<RunOptions, 'loss' | 'baseLr'>, comm: Communicator, scaler?: LossScaler): Promise<number> {
  const [D, H, W] = net.config.inputShape;
  const device = net.store.device;
  const params = [...net.parameters.values()];
  const loss = E.tidy(() => {
    const x = E.tensor(images, [n, D, H, W, 1], { device });
    const y = E.tensor(labels, [n, D, H, W], { device });
    const loss = trainingLoss(net, x, y, labels, n, o);
    const value = loss.item();
    E.backward(loss, scaler ? scaler.scale : 1);
    for (const p of params) if (p.grad) E.keep(p.grad);
    return value;
  });
  if (comm.nccl) {
    // On GPUs the gradients stay on the device: one NCCL all-reduce averages them, packed
    // into one flat buffer.
    E.collective.allReduce(params.filter((p) => p.grad).map((p) => p.grad!));
    const l = new Float32Array([loss]);
    await comm.allReduceMean(l);
    E.tidy(() => update(net, opt, o.baseLr, scaler));
    net.store.zeroGrad();
    return l[0];
  }
  const total = params.reduce((a, p) => a + p.size, 0);
  const flat = new Float32Array(total + 1);
  let off = 0;
  for (const p of params) {
    if (p.grad) flat.set(p.grad.toArray() as Float32Array, off);
    off += p.size;
  }
  flat[total] = loss;
  await comm.allReduceMean(flat);
  off = 0;
  for (const p of params) {
    p.grad?.dispose();
    p.grad = E.keep(E.tensor(flat.subarray(off, off + p.size), p.shape, { device }));
    off += p.size;
  }
  E.tidy(() => update(net, opt, o.baseLr, scaler));
  net.store.zeroGrad();
  return flat[total];
}

/**
 * --xla on a GPU: after one eager step, the forward and backward are captured as a CUDA Graph
 * and replayed (graph.ts); the optimizer, AMP unscale and the NCCL all-reduce stay eager. If
 * the capture fails the run goes on eagerly and says why.
 */
class GraphStepper {
  private captured?: CapturedStep;
  private eagerSteps = 0;
  private failed = false;

  constructor(private readonly net: VNet, private readonly opt: ReturnType<typeof makeOptimizer>, private readonly batch: number,
    private readonly log: LogSink, private readonly scaler?: LossScaler, private readonly comm?: Communicator) {}

  /** The loss, or undefined when this step must run eagerly (the caller does it). */
  async step(images: Float32Array, labels: Int32Array, n: number, o: Pick<RunOptions, 'loss' | 'baseLr'>): Promise<number | undefined> {
    if (this.failed || n !== this.batch) return undefined;
    if (!this.captured) {
      if (this.eagerSteps++ < 1) return undefined;
      try {
        this.captured = CapturedStep.capture(this.net, n, o);
        this.log.info('--xla: the training step is captured as a CUDA Graph and replayed');
      } catch (e) {
        this.failed = true;
        this.log.info(`--xla: CUDA Graph capture failed (${e instanceof Error ? e.message : String(e)}); training eagerly`);
        return undefined;
      }
    }
    const { net, opt, scaler, comm } = this;
    let loss = this.captured.run(images, labels, scaler ? scaler.scale : 1);
    if (comm?.nccl) {
      E.collective.allReduce(this.captured.gradients);
      const l = new Float32Array([loss]);
      await comm.allReduceMean(l);
      loss = l[0];
    }
    E.tidy(() => update(net, opt, o.baseLr, scaler));
    return loss;
  }

  dispose(): void {
    this.captured?.dispose();
    this.captured = undefined;
  }
}

/** Every parameter and buffer of rank 0, copied to all ranks. */
async function broadcastWeights(net: VNet, comm: Communicator): Promise<void> {
  const entries = net.store.entries();
  if (comm.nccl) {
    for (const [, t] of entries) E.collective.broadcast(t, 0);
    return;
  }
  const flat = new Float32Array(entries.reduce((a, [, t]) => a + t.size, 0));
  let off = 0;
  for (const [, t] of entries) {
    flat.set(t.toArray() as Float32Array, off);
    off += t.size;
  }
  await comm.broadcast(flat);
  off = 0;
  for (const [name, t] of entries) {
    net.store.assign(name, E.tensor(flat.slice(off, off + t.size), t.shape, { device: net.store.device }));
    off += t.size;
  }
}

export async function train(o: RunOptions, spec: DatasetSpec, device: E.DeviceName, log: LogSink, cb: TrainCallbacks = {}): Promise<TrainResult> {
  const t0 = Date.now();
  const rankInfo = rankFromEnv();
  const comm = rankInfo ? await TcpCommunicator.connect(rankInfo) : undefined;
  injectedFault(rankInfo);
  if (comm && device === 'cuda' && comm.world > 1) await initNccl(comm);
  const world = comm?.world ?? 1, rank = comm?.rank ?? 0;
  // Only rank 0 writes anything.
  const writer = rank === 0;
  const cfg = modelConfigFile(o, spec);
  makeDirs(o.modelDir);
  if (writer && !o.benchmark && !o.resume && hasCheckpoint(o.modelDir))
    throw new RunError(`${o.modelDir} already holds a trained model; pass --resume to continue it, or choose another --model_dir`, 'VNET_E_MODEL_EXISTS');

  // The split: the same one on resume, else the reference's first-N (or shuffled with --split_seed).
  let split: { train: CaseRef[]; eval: CaseRef[] };
  const saved = o.resume ? readSplit(o.modelDir) : undefined;
  if (saved && (saved.folds !== o.folds || saved.fold !== o.fold))
    throw new RunError(`--resume: ${o.modelDir} holds ${saved.folds === undefined ? 'a model without folds' : `fold ${saved.fold} of ${saved.folds}`}; pass the same --folds / --fold`, 'VNET_E_CONFIG_MISMATCH');
  if (saved) {
    const byId = new Map(spec.training.map((c) => [c.id, c]));
    const pick = (ids: string[]) => ids.map((id) => {
      const c = byId.get(id);
      if (!c) throw new RunError(`case ${id} of the saved split is not in ${o.dataDir}`, 'VNET_E_CONFIG_MISMATCH');
      return c;
    });
    split = { train: pick(saved.train), eval: pick(saved.eval) };
  } else {
    split = o.folds !== undefined ? foldSplit(spec.training, o.folds, o.fold ?? 0, o.splitSeed ?? 0) : makeSplit(spec.training, { trainSplit: o.trainSplit, splitSeed: o.splitSeed });
  }
  if (split.train.length < o.batchSize * world)
    throw new RunError(`--batch_size ${o.batchSize}${world > 1 ? ` x ${world} ranks` : ''} is larger than the ${split.train.length} training cases`, 'VNET_E_BAD_FLAG');

  let net: VNet;
  if (o.resume && fs.existsSync(path.join(o.modelDir, 'config.json'))) net = modelFromDir(o, spec, device, true).net;
  else net = new VNetClass(cfg.model, { device, seed: o.seed });
  const opt = makeOptimizer(o.optimizer, o.baseLr, o.momentum);
  if (o.amp) net.precision = 'f16';
  net.fused = o.xla;
  let state: TrainState = { epoch: 0, step: 0, optimizer: o.optimizer, history: { losses: [], evals: [] } };
  if (o.resume) {
    if (!fs.existsSync(path.join(o.modelDir, 'latest.safetensors'))) throw new RunError(`--resume: no ${o.modelDir}/latest.safetensors to resume from`, 'VNET_E_NO_CHECKPOINT');
    state = (await loadCheckpoint(o.modelDir, 'latest', net, opt)).state;
    checkResumable(o, state);
    log.info(`resuming from ${o.modelDir}/latest.safetensors after epoch ${state.epoch} (step ${state.step})`);
  }
  const scaler = o.amp ? new LossScaler({}, state.lossScale ? { scale: state.lossScale, goodSteps: state.goodSteps ?? 0 } : undefined) : undefined;
  if (comm) await broadcastWeights(net, comm);
  if (!o.benchmark && writer) {
    writeModelConfig(o.modelDir, cfg);
    writeSplit(o.modelDir, split, { trainSplit: o.trainSplit, splitSeed: o.splitSeed, ...(o.folds !== undefined ? { folds: o.folds, fold: o.fold } : {}) });
  }

  // Every rank draws the same shuffled global batches and takes its own slice of each.
  const loader = new Loader({
    cases: split.train, batchSize: o.batchSize * world, mode: 'train', inputShape: net.config.inputShape, augment: o.augment, augmentMode: o.augmentMode,
    seed: o.seed, state: state.loader as LoaderState | undefined,
    ...(net.config.resize === 'none' ? { native: true, foregroundOversample: o.foregroundOversample } : {}),
  });
  const perEpoch = loader.batchesPerEpoch;
  log.info(`training on ${device}${world > 1 ? ` x ${world} ranks` : ''}: ${split.train.length} cases, ${split.eval.length} for evaluation, batch ${o.batchSize}${world > 1 ? ` per rank (global ${o.batchSize * world})` : ''}, ${perEpoch} steps per epoch`);
  const vox = net.config.inputShape.reduce((a, b) => a * b, 1);
  const shard = (b: { images: Float32Array; labels?: Int32Array }) => (world === 1 ? b : shardOf(b, rank, o.batchSize, vox));
  // The captured graph holds the single-output loss; deep supervision trains eagerly.
  const graphs = o.xla && device === 'cuda' && !net.config.deepSupervision ? new GraphStepper(net, opt, o.batchSize, log, scaler, comm) : undefined;
  const anyStep = async (images: Float32Array, labels: Int32Array, n: number, so: Pick<RunOptions, 'loss' | 'baseLr'>): Promise<number> => {
    const g = graphs ? await graphs.step(images, labels, n, so) : undefined;
    if (g !== undefined) return g;
    return comm ? parallelStep(net, opt, images, labels, n, so, comm, scaler) : trainStep(net, opt, images, labels, n, so, scaler);
  };
  try {
    if (o.benchmark) {
      const step = (b: { images: Float32Array; labels?: Int32Array; size: number }) => {
        const mine = shard(b);
        return anyStep(mine.images, mine.labels!, world > 1 ? o.batchSize : b.size, o);
      };
      const bench = await benchmarkTrain(o, loader, log, step, world, writer);
      return { state, split: ids(split), bench, peakRssMb: peakRssMb(), seconds: (Date.now() - t0) / 1000 };
    }
    const tStart = Date.now();
    let imagesDone = 0;
    for (let epoch = state.epoch; epoch < o.trainEpochs; epoch++) {
      let sum = 0, count = 0, step = 0;
      for await (const batch of loader.epoch(epoch)) {
        const mine = shard(batch);
        const lr = learningRate(o, state.step, o.trainEpochs * perEpoch);
        const so = { loss: o.loss, baseLr: lr };
        const loss = await anyStep(mine.images, mine.labels!, world > 1 ? o.batchSize : batch.size, so);
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
        const remaining = (o.trainEpochs - epoch - 1) * perEpoch + (perEpoch - step);
        log.progress({ epoch: epoch + 1, epochs: o.trainEpochs, step, steps: perEpoch, loss, imagesPerSec: rate, etaSec: (remaining * o.batchSize) / rate });
        cb.onStep?.({ epoch, step: state.step, loss, imagesPerSec: rate });
      }
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
      cb.onEpoch?.({ epoch: state.epoch, meanLoss: sum / Math.max(1, count), evalDice });
    }
    if (writer) await saveCheckpoint(o.modelDir, 'final', net, opt, state);
    return { state, split: ids(split), peakRssMb: peakRssMb(), seconds: (Date.now() - t0) / 1000 };
  } finally {
    graphs?.dispose();
    await comm?.close();
    await loader.close();
    opt.dispose();
    net.dispose();
  }
}

/** --resume continues the same optimisation: another optimizer or loss would silently start over. */
function checkResumable(o: RunOptions, state: TrainState): void {
  const stored = fs.existsSync(configFile(o.modelDir)) ? readModelConfig(o.modelDir).loss : undefined;
  const clash = [
    state.optimizer !== o.optimizer ? `--optimizer ${state.optimizer} (given ${o.optimizer})` : '',
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
    process.stdout.write(formatBench(world > 1 ? `train (${world} ranks, global batch)` : 'train', s, peakRssMb()) + '\n');
  }
  return s;
}
