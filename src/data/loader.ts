// The batch loader: a full shuffle per epoch and flips in training, fixed order otherwise;
// preprocessing cached in memory after the first read; reading, preprocessing and batch
// assembly in worker threads so they overlap the engine's compute. Every random draw comes
// from one Rng in the main thread, drawn when epoch() is called, so batches are identical
// whether they were built in-thread or by any number of workers.
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { NO_FLIPS, drawAugment, type AugmentMode, type SampleAugment } from './augment.js';
import { DataError } from './errors.js';
import { runJob, type Job, type JobResult, type SampleSpec } from './jobs.js';
import type { Shape3 } from './nifti.js';
import { WorkerPool } from './pool.js';
import { drawPatch, type PatchDraw } from './patches.js';
import { DEFAULT_INPUT_SHAPE, prepareCase, type CaseRef, type InputSpec, type PreparedCase } from './preprocess.js';
import { Rng, type RngState } from './rng.js';
import { diskCase, type DiskCase } from './cache.js';

/** train: shuffle, optional flips, drop the last partial batch. eval / predict: none of these. */
/** Full-resolution training: the share of patches centred on a labelled voxel, as nnU-Net's. */
export const DEFAULT_FOREGROUND_OVERSAMPLE = 0.33;

export type LoaderMode = 'train' | 'eval' | 'predict';

export interface LoaderOptions {
  cases: CaseRef[];
  batchSize: number;
  mode?: LoaderMode;
  /** Network input (D, H, W); default 32^3. */
  inputShape?: Shape3;
  /** Random flips of x and y (train mode only); default false, as the reference's --augment. */
  augment?: boolean;
  /** What augment applies: the reference's flips (default) or flips + spatial + intensity. */
  augmentMode?: AugmentMode;
  /** Seed of the loader's Rng (default 0); ignored when `state` is given. */
  seed?: number;
  /** Resume: the `state()` saved from an earlier loader. */
  state?: LoaderState;
  /** Worker threads; 0 = in-thread. Default min(4, cpus - 1), or 0 when no compiled worker.js exists. */
  workers?: number;
  /** Batches prepared ahead of the consumer; default 2 per worker. */
  prefetch?: number;
  /**
   * Full resolution (--resize none, train mode only): cases keep their own shape and every
   * sample is a patch of `inputShape` at a random position (data/patches.ts).
   */
  fullResolution?: boolean;
  /** With `fullResolution`: the fraction of patches centred on a labelled voxel (default DEFAULT_FOREGROUND_OVERSAMPLE). */
  foregroundOversample?: number;
  /** The network's input channels and their normalisation (default: one channel, z-scored per volume). */
  input?: InputSpec;
  /**
   * With `fullResolution`: keep the preprocessed cases in this folder (data/cache.ts), read per
   * patch, instead of in memory; the files are reused while the data and preprocessing match.
   */
  cacheDir?: string;
}

/** A batch of plain typed arrays, NDHWC for images (C: the input channels). */
export interface Batch {
  epoch: number;
  index: number;
  ids: string[];
  /** Number of samples (the batch size, except a last partial batch outside training). */
  size: number;
  shape: Shape3;
  /** (size, D, H, W, C) */
  images: Float32Array;
  /** (size, D, H, W); absent in predict mode. */
  labels?: Int32Array;
  /** Each case's original (nx, ny, nz), to bring predictions back. */
  originalShapes: Shape3[];
}

/** What a resumed loader needs: the Rng state and the next epoch index. */
export interface LoaderState {
  rng: RngState;
  nextEpoch: number;
}

/** One planned batch slot. */
interface Planned {
  ref: CaseRef;
  flips: SampleAugment;
  patch?: PatchDraw;
}

/** The compiled worker next to this module, when there is one (not under ts-jest, which runs .ts). */
export function workerScript(): URL | undefined {
  if (!import.meta.url.endsWith('.js')) return undefined;
  const u = new URL('./worker.js', import.meta.url);
  return fs.existsSync(fileURLToPath(u)) ? u : undefined;
}

/** Batches for training, evaluation or prediction. Call close() when done. */
export class Loader {
  readonly mode: LoaderMode;
  readonly batchSize: number;
  readonly inputShape: Shape3;
  readonly augment: boolean;
  readonly augmentMode: AugmentMode;
  readonly withLabels: boolean;
  readonly fullResolution: boolean;
  readonly foregroundOversample: number;
  readonly input: InputSpec;
  /** Worker threads actually used (0 = in-thread). */
  readonly workerCount: number;
  /** Why workers are not used, when `workerCount` is 0 though workers were asked for. */
  readonly inThreadReason?: string;
  private readonly cases: CaseRef[];
  private readonly cache = new Map<string, PreparedCase>();
  private readonly cacheDir?: string;
  private readonly disk = new Map<string, DiskCase>();
  private readonly rng: Rng;
  private readonly prefetch: number;
  private pool?: WorkerPool;
  private nextEpoch: number;

  constructor(opts: LoaderOptions) {
    if (!(Number.isInteger(opts.batchSize) && opts.batchSize >= 1)) throw new DataError('VNET_E_BAD_ARGUMENT', `batch size must be a positive integer, got ${opts.batchSize}`);
    this.mode = opts.mode ?? 'train';
    this.batchSize = opts.batchSize;
    this.inputShape = opts.inputShape ?? DEFAULT_INPUT_SHAPE;
    this.augment = this.mode === 'train' && (opts.augment ?? false);
    this.augmentMode = opts.augmentMode ?? 'flips';
    this.withLabels = this.mode !== 'predict';
    this.fullResolution = opts.fullResolution ?? false;
    this.foregroundOversample = opts.foregroundOversample ?? DEFAULT_FOREGROUND_OVERSAMPLE;
    this.input = opts.input ?? {};
    if (opts.cacheDir !== undefined && !this.fullResolution) throw new DataError('VNET_E_BAD_ARGUMENT', 'the on-disk cache holds full-resolution training cases (--resize none)');
    this.cacheDir = opts.cacheDir;
    if (this.fullResolution && this.mode !== 'train') throw new DataError('VNET_E_BAD_ARGUMENT', `full-resolution batches are training patches; ${this.mode} runs by sliding window`);
    if (!(this.foregroundOversample >= 0 && this.foregroundOversample <= 1)) throw new DataError('VNET_E_BAD_ARGUMENT', `foreground oversampling must be in [0, 1], got ${this.foregroundOversample}`);
    this.cases = [...opts.cases];
    if (this.withLabels) {
      const bad = this.cases.find((c) => !c.label);
      if (bad) throw new DataError('VNET_E_BAD_ARGUMENT', `case ${bad.id} has no label (needed in ${this.mode} mode)`);
    }
    this.rng = opts.state ? new Rng(opts.state.rng) : new Rng(opts.seed ?? 0);
    this.nextEpoch = opts.state?.nextEpoch ?? 0;
    const want = opts.workers ?? Math.min(4, Math.max(1, os.availableParallelism() - 1));
    const script = want > 0 ? workerScript() : undefined;
    if (want > 0 && !script) this.inThreadReason = 'no compiled worker.js beside the loader (running from TypeScript sources)';
    if (script) this.pool = new WorkerPool(script, want);
    this.workerCount = this.pool?.size ?? 0;
    this.prefetch = Math.max(1, opts.prefetch ?? 2 * this.workerCount);
  }

  /** Number of cases. */
  get size(): number {
    return this.cases.length;
  }

  /** Batches in one epoch: floor(N / B) in training, ceil(N / B) otherwise. */
  get batchesPerEpoch(): number {
    const n = this.cases.length;
    return this.mode === 'train' ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Save for resume: the Rng state and the next epoch index. */
  state(): LoaderState {
    return { rng: this.rng.state(), nextEpoch: this.nextEpoch };
  }

  /** A preprocessed case from the cache, if it was read already. */
  cached(id: string): PreparedCase | undefined {
    return this.cache.get(id);
  }

  /**
   * The batches of one epoch. Its order and flips are drawn now from the loader's one Rng, so
   * epoch k's batches are the same whether epochs 0..k-1 were iterated or skipped: asking for a
   * later epoch first draws (and discards) the skipped ones. Going back is an error.
   */
  epoch(epochIndex: number = this.nextEpoch): AsyncIterable<Batch> {
    const random = this.mode === 'train';
    if (random && epochIndex < this.nextEpoch) {
      throw new DataError('VNET_E_BAD_ARGUMENT', `epochs are drawn in order: epoch ${epochIndex} was already drawn (next is ${this.nextEpoch})`);
    }
    while (random && this.nextEpoch < epochIndex) this.drawPlan();
    const plan = this.drawPlan();
    this.nextEpoch = epochIndex + 1;
    return { [Symbol.asyncIterator]: () => this.iterate(epochIndex, plan) };
  }

  private drawPlan(): Planned[][] {
    this.nextEpoch++;
    const random = this.mode === 'train';
    const order = random ? this.rng.permutation(this.cases.length) : this.cases.map((_, i) => i);
    const plan: Planned[][] = [];
    for (let b = 0; b < this.batchesPerEpoch; b++) {
      const idx = order.slice(b * this.batchSize, (b + 1) * this.batchSize);
      plan.push(idx.map((i) => {
        const flips = this.augment ? drawAugment(this.rng, this.augmentMode) : NO_FLIPS;
        // Drawn only for full-resolution batches, so the reference's stream of draws is unchanged.
        return this.fullResolution ? { ref: this.cases[i], flips, patch: drawPatch(this.rng, this.foregroundOversample, this.augment) } : { ref: this.cases[i], flips };
      }));
    }
    return plan;
  }

  private async *iterate(epoch: number, plan: Planned[][]): AsyncGenerator<Batch> {
    if (this.cacheDir) await this.preload();
    const inflight: Promise<JobResult>[] = [];
    let next = 0;
    const launch = () => {
      const samples: SampleSpec[] = plan[next++].map((s) => (this.cacheDir ? { ...s, disk: this.disk.get(s.ref.id) } : { ...s, cached: this.cache.get(s.ref.id) }));
      const p = this.run({ kind: 'batch', shape: this.inputShape, withLabels: this.withLabels, samples, input: this.input, ...(this.fullResolution ? { fullResolution: true } : {}) });
      p.catch(() => undefined); // awaited below; this only keeps an abandoned epoch from an unhandled rejection
      inflight.push(p);
    };
    while (next < plan.length && inflight.length < this.prefetch) launch();
    for (let b = 0; b < plan.length; b++) {
      const res = await (inflight.shift() as Promise<JobResult>);
      // Workers start the next batch before we hand this one over; in-thread work would only
      // delay the consumer, so it waits until the consumer asks again.
      if (this.pool && next < plan.length) launch();
      yield {
        epoch, index: b, ids: plan[b].map((s) => s.ref.id), size: plan[b].length, shape: this.inputShape,
        images: res.images as Float32Array, labels: res.labels, originalShapes: res.originalShapes ?? [],
      };
      if (!this.pool && next < plan.length) launch();
    }
  }

  private async run(job: Job): Promise<JobResult> {
    const res = this.pool ? await this.pool.run(job) : runJob(job, false);
    for (const c of res.loaded) this.cache.set(c.id, c);
    for (const d of res.disk ?? []) this.disk.set(d.id, d);
    return res;
  }

  /** Read and preprocess every case now, in this thread (with a cache folder: into its files). */
  preloadSync(): void {
    for (const ref of this.cases) {
      if (this.cacheDir) {
        if (!this.disk.has(ref.id)) this.disk.set(ref.id, diskCase(this.cacheDir, ref, this.input));
        continue;
      }
      if (this.cache.has(ref.id)) continue;
      const r = this.withLabels ? ref : { id: ref.id, image: ref.image, channels: ref.channels };
      this.cache.set(ref.id, prepareCase(r, this.inputShape, { shared: !!this.pool, fullResolution: this.fullResolution, input: this.input }));
    }
  }

  /** Read and preprocess every case now (with a cache folder: into its files), spread over the workers (in-thread without them). */
  async preload(): Promise<void> {
    if (!this.pool) return this.preloadSync();
    const dir = this.cacheDir;
    const todo = this.cases.filter((c) => (dir ? !this.disk.has(c.id) : !this.cache.has(c.id)));
    const chunk = Math.max(1, Math.ceil(todo.length / (this.workerCount * 4)));
    const jobs: Promise<JobResult>[] = [];
    for (let i = 0; i < todo.length; i += chunk) {
      const refs = todo.slice(i, i + chunk);
      jobs.push(this.run(dir ? { kind: 'cache', dir, refs, input: this.input } : { kind: 'load', shape: this.inputShape, withLabels: this.withLabels, refs, fullResolution: this.fullResolution, input: this.input }));
    }
    await Promise.all(jobs);
  }

  /** Stop the worker threads. The cache stays usable in-thread afterwards. */
  async close(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    if (p) await p.close();
  }
}
