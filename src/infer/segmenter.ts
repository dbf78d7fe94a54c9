// End-to-end inference with one trained model (or an ensemble): NIfTI bytes (or a path) in, a
// mask in the input's shape and geometry out, with per-class voxel counts and volumes. The one
// inference path: evaluate (and training's per-epoch Dice), predict, cv and the HTTP server all
// go through it (`probabilities` for scoring, `segment*` for masks). The feed (resized batches,
// or each case on its own grid) is fixed when it is made. Reading and preprocessing run in the data
// worker pool; cases that are ready together run as one batch of up to `batchSize`. A ready case
// waits for company only while other cases are still being read, and at most `batchWindowMs`, so
// a lone request is not delayed. The inverse resampling, argmax and gzip follow per case, at
// once in this thread (a few ms): deferred, they would wait behind the next forward pass.
import fs from 'node:fs';
import os from 'node:os';
import zlib from 'node:zlib';
import type * as E from '../engine/index.js';
import { argmaxChannels, checkVoxelBudget, encodeMask, resampleLinear, restoreLabels, type ImageSource, type NiftiHeader, type Shape3 } from '../data/index.js';
import { putChannel, runJob, type DecodeJob, type JobResult } from '../data/jobs.js';
import { workerScript } from '../data/loader.js';
import { WorkerPool } from '../data/pool.js';
import type { VNet, VNetConfig } from '../nn/index.js';
import { checkMembers } from './ensemble.js';
import { averageRows, caseRows, feedOf, inputSpec, predictProbs, type InferOptions } from './probs.js';
import { collectRows } from './sliding.js';
import { loadModel } from './model.js';
import { RunError } from '../config/options.js';

export interface SegmenterOptions extends InferOptions {
  modelDir: string;
  device?: E.DeviceName;
  amp?: boolean;
  xla?: boolean;
  /** Longest a ready case waits for cases still being read to share its batch (default 0: same tick only). */
  batchWindowMs?: number;
  /** Preprocessing worker threads (default min(2, cpus - 1); 0 = in this thread). */
  workers?: number;
  /** Refuse volumes that are not 3-D (dims past the third other than 1); predict keeps the last volume instead. */
  only3d?: boolean;
  /** An ensemble (--models): more nets whose probabilities are averaged with this one's (not disposed here). */
  members?: VNet[];
  /** Probabilities on each case's own grid even for one resized model (how an ensemble is scored). */
  caseGrid?: boolean;
  /** Most voxels one image may declare (every volume counted); more is refused from its header, before any work. */
  maxVoxels?: number;
  /** Return each case's class probabilities on its own grid (Segmentation.probs; implies caseGrid). */
  keepProbabilities?: boolean;
}

/** A case's class probabilities (D, H, W, C) and the grid they are on: the model's input shape, or the case's own. */
export interface CaseProbs { probs: Float32Array; shape: Shape3; onInputGrid: boolean }

export interface ClassStat { value: number; name: string; voxels: number; volumeMm3: number }

export interface Segmentation {
  /** The mask as .nii.gz bytes, with the input's header (shape, spacing, orientation). */
  mask: Uint8Array;
  /** The same mask as class values in tensor order ((D, H, W) = NIfTI (x, y, z), z fastest): one byte per voxel on a case's own grid (models of at most 256 classes). */
  labelMap: Int32Array | Uint8Array;
  /** With keepProbabilities: the class probabilities (D, H, W, C) on the input's grid. */
  probs?: Float32Array;
  shape: Shape3;
  spacing: [number, number, number];
  labels: ClassStat[];
  /** Cases in the forward pass this one ran in. */
  batchSize: number;
  timings: { decodeMs: number; queueMs: number; inferMs: number; encodeMs: number; totalMs: number };
}

export interface SegmenterInfo {
  modelDir?: string;
  checkpoint?: string;
  device: E.DeviceName;
  tta: boolean;
  amp: boolean;
  maxBatch: number;
  batchWindowMs: number;
  workers: number;
  model: VNetConfig;
  labels: { value: number; name: string }[];
}

/** A bad input to segment (what the server answers with a 4xx). */
export class SegmentError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'SegmentError';
  }
}

/** A decoded case: its normalised (Cin, D, H, W) image on `grid` (the feed's), and its own shape and header. */
interface Prepared { name?: string; image: Float32Array; grid: Shape3; shape: Shape3; header: NiftiHeader; headerBytes: Uint8Array; decodeMs: number; t0: number }
interface Waiting { prep: Prepared; ready: number; resolve: (s: Segmentation) => void; reject: (e: Error) => void }

/** mm per unit of NIfTI xyzt_units (unknown counts as mm, as most tools do). */
const UNIT_MM: Record<number, number> = { 0: 1, 1: 1000, 2: 1, 3: 0.001 };

export class Segmenter {
  readonly info: SegmenterInfo;
  /** Called after every forward pass with its size and duration (the server's metrics). */
  onBatch?: (size: number, ms: number) => void;
  private pool?: WorkerPool;
  private queue: Waiting[] = [];
  private timer?: NodeJS.Timeout;
  private inFlight = 0;
  private preparing = 0;
  private flushQueued = false;
  private closed = false;
  private drained: (() => void)[] = [];
  private readonly ownNet: boolean;
  private readonly only3d: boolean;
  /** Windowed models read each case at full resolution: z-scored at its own shape, no resampling. */
  private readonly windowed: boolean;
  private readonly overlap?: number;
  private readonly maxVoxels?: number;
  /** Every net of the ensemble, this.net first. */
  private readonly nets: VNet[];
  /** Each case alone, with probabilities on its own grid (windowed models, ensembles); else batches at the input shape. */
  private readonly perCase: boolean;
  private readonly keepProbabilities: boolean;

  /** Around an already loaded net; `ownNet` makes dispose() free it. */
  constructor(readonly net: VNet, labels: { value: number; name: string }[], o: Omit<SegmenterOptions, 'modelDir'> & { modelDir?: string; checkpoint?: string; ownNet?: boolean } = {}) {
    const maxBatch = o.batchSize ?? 8;
    if (!(Number.isInteger(maxBatch) && maxBatch >= 1)) throw new RunError(`batch size must be a positive integer, got ${maxBatch}`, 'VNET_E_BAD_FLAG');
    const want = o.workers ?? Math.min(2, Math.max(1, os.availableParallelism() - 1));
    const script = want > 0 ? workerScript() : undefined;
    // Every case is posted to a worker at once, so reading goes on during forward passes.
    if (script) this.pool = new WorkerPool(script, want, { depth: 64 });
    this.ownNet = o.ownNet ?? false;
    this.only3d = o.only3d ?? false;
    this.windowed = feedOf(net.config) === 'windowed';
    this.overlap = o.overlap;
    this.maxVoxels = o.maxVoxels;
    this.nets = [net, ...(o.members ?? [])];
    checkMembers(this.nets, this.nets.map((_, i) => `model ${i + 1}`));
    this.keepProbabilities = o.keepProbabilities ?? false;
    this.perCase = this.windowed || this.nets.length > 1 || (o.caseGrid ?? false) || this.keepProbabilities;
    this.info = {
      modelDir: o.modelDir, checkpoint: o.checkpoint, device: net.store.device, tta: o.tta ?? false, amp: o.amp ?? false,
      maxBatch, batchWindowMs: o.batchWindowMs ?? 0, workers: this.pool?.size ?? 0, model: net.config, labels,
    };
  }

  /** Cases accepted and not yet answered (reading, waiting for a batch, or finishing). */
  get pending(): number {
    return this.inFlight;
  }

  /** Segment one image; concurrent calls share forward passes. */
  async segment(src: Uint8Array | ImageSource, opts: { name?: string } = {}): Promise<Segmentation> {
    this.enter();
    try {
      this.preparing++;
      let prep: Prepared;
      try {
        prep = await this.prepare(src, opts.name);
      } catch (e) {
        // This case may have been the one a waiting batch was waiting for.
        if (--this.preparing === 0 && this.queue.length) this.schedule();
        throw e;
      }
      this.preparing--;
      return await new Promise<Segmentation>((resolve, reject) => {
        this.queue.push({ prep, ready: performance.now(), resolve, reject });
        this.schedule();
      });
    } finally {
      this.leave();
    }
  }

  /** Segment images as consecutive batches of `batchSize`, in order (what predict does); fails on the first bad one. */
  async segmentBatch(srcs: ImageSource[], opts: { names?: string[] } = {}): Promise<Segmentation[]> {
    const out: Segmentation[] = [];
    await this.inBatches(srcs, opts.names, (preps) => {
      const now = performance.now();
      for (const r of this.runBatch(preps.map((prep) => ({ prep, ready: now })))) {
        if (r instanceof Error) throw r;
        out.push(r);
      }
    });
    return out;
  }

  /** The class probabilities of images, in order, through the same passes as segmentBatch (what evaluation scores). */
  async probabilities(srcs: ImageSource[]): Promise<CaseProbs[]> {
    const out: CaseProbs[] = [];
    await this.inBatches(srcs, undefined, (preps) => {
      const probs = this.perCase ? preps.map((p) => this.wholeProbs(p)) : this.infer(preps);
      probs.forEach((pr, i) => out.push({ probs: pr, shape: preps[i].shape, onInputGrid: !this.perCase }));
    });
    return out;
  }

  /** Reads `srcs` in consecutive chunks of maxBatch; reading the next chunk in the workers overlaps `run` on this one. */
  private async inBatches(srcs: ImageSource[], names: string[] | undefined, run: (preps: Prepared[]) => void): Promise<void> {
    this.enter();
    try {
      const B = this.info.maxBatch;
      const prepareChunk = (i: number) => Promise.all(srcs.slice(i, i + B).map((s, j) => this.prepare(s, names?.[i + j])));
      let next = prepareChunk(0);
      for (let i = 0; i < srcs.length; i += B) {
        const preps = await next;
        if (i + B < srcs.length) { next = prepareChunk(i + B); next.catch(() => undefined); }
        run(preps);
      }
    } finally {
      this.leave();
    }
  }

  /** One case's (ensemble-averaged) probabilities on its grid, streamed row by row along D. */
  private rows(p: Prepared) {
    const o: InferOptions = { tta: this.info.tta, overlap: this.overlap, batchSize: this.info.maxBatch };
    return averageRows(this.nets.map((n) => caseRows(n, p.image, p.grid, o)));
  }

  /** One case's probabilities held whole (4 C bytes per voxel) on its own shape: on its grid, then (a target spacing) resampled back. */
  private wholeProbs(p: Prepared): Float32Array {
    const C = this.net.config.nClasses;
    const probs = collectRows(this.rows(p), p.grid, C);
    return sameShape(p.grid, p.shape) ? probs : resampleLinear(probs, p.grid, p.shape, { channels: C, outside: 'clamp' });
  }

  /** One case's labels, argmaxed row by row as the rows finish; through the whole probabilities only where they are kept or resampled. */
  private caseLabels(p: Prepared): { labels: Int32Array | Uint8Array; probs?: Float32Array } {
    const C = this.net.config.nClasses, V = p.shape[0] * p.shape[1] * p.shape[2];
    // One byte per voxel where the classes fit: a quarter of int32's memory on a large volume.
    const labels = C <= 256 ? new Uint8Array(V) : new Int32Array(V);
    if (this.keepProbabilities || !sameShape(p.grid, p.shape)) {
      const probs = this.wholeProbs(p);
      return { labels: argmaxChannels(probs, C, labels), ...(this.keepProbabilities ? { probs } : {}) };
    }
    const plane = p.shape[1] * p.shape[2];
    for (const [x, row] of this.rows(p)) argmaxChannels(row, C, labels, x * plane);
    return { labels };
  }

  /** Probabilities per case from one forward pass over the batch at the input shape. */
  private infer(preps: Prepared[]): Float32Array[] {
    const [D, H, W] = this.net.config.inputShape;
    const vox = D * H * W, C = this.net.config.nClasses, Cin = this.net.inChannels;
    const images = new Float32Array(preps.length * vox * Cin);
    preps.forEach((p, i) => {
      if (Cin === 1) images.set(p.image, i * vox);
      else for (let c = 0; c < Cin; c++) putChannel(p.image.subarray(c * vox, (c + 1) * vox), images, i * vox, c, Cin);
    });
    const probs = predictProbs(this.net, { images, size: preps.length }, { tta: this.info.tta });
    return preps.map((_, i) => probs.subarray(i * vox * C, (i + 1) * vox * C));
  }

  /** Stop taking cases, wait for those accepted, then free the workers (and the net when owned). */
  async dispose(): Promise<void> {
    this.closed = true;
    if (this.inFlight > 0) await new Promise<void>((r) => this.drained.push(r));
    await this.pool?.close();
    this.pool = undefined;
    if (this.ownNet) this.net.dispose();
  }

  private enter(): void {
    if (this.closed) throw new SegmentError('VNET_E_CLOSED', 'the segmenter is disposed');
    this.inFlight++;
  }

  private leave(): void {
    if (--this.inFlight === 0) for (const r of this.drained.splice(0)) r();
  }

  private async prepare(src: ImageSource, name?: string): Promise<Prepared> {
    const t0 = performance.now();
    const first = typeof src === 'string' || src instanceof Uint8Array ? src : src[0];
    if (this.maxVoxels !== undefined) checkVoxelBudget(first, this.maxVoxels, typeof first === 'string' ? first : name);
    // A copy of just this view, so the worker gets these bytes and not a larger pooled buffer.
    const job: DecodeJob = {
      kind: 'decode', shape: this.net.config.inputShape, src: src instanceof Uint8Array ? new Uint8Array(src) : src, name: typeof first === 'string' ? first : name,
      input: inputSpec(this.net.config), ...(this.windowed ? { fullResolution: true } : {}),
    };
    // In this thread when there are no workers (or none left: a worker that died is not restarted).
    const res: JobResult = this.pool?.size ? await this.pool.run(job) : runJob(job, false);
    const d = res.decoded!;
    const shape = res.originalShapes![0];
    // A model of C > 1 channels reads C volumes (decoding checked the count); one channel is one 3-D volume.
    if (this.only3d && (d.header.dim[0] < 3 || (this.net.inChannels === 1 && d.volumes > 1))) {
      throw new SegmentError('VNET_E_NOT_3D', `${name ?? 'the image'} is not a 3-D volume (dim = [${d.header.dim.slice(0, d.header.dim[0] + 1).join(', ')}])`);
    }
    return { name, image: res.images!, grid: d.grid, shape, header: d.header, headerBytes: d.headerBytes, decodeMs: d.ms, t0 };
  }

  private schedule(): void {
    if (this.queue.length >= this.info.maxBatch || this.preparing === 0) {
      // Full, or nobody else is on the way: run now.
      clearTimeout(this.timer);
      this.timer = undefined;
      if (!this.flushQueued) { this.flushQueued = true; setImmediate(() => { this.flushQueued = false; this.flush(); }); }
    } else if (!this.timer) {
      this.timer = setTimeout(() => { this.timer = undefined; this.flush(); }, this.info.batchWindowMs);
    }
  }

  private flush(): void {
    const batch = this.queue.splice(0, this.info.maxBatch);
    if (!batch.length) return;
    const res = this.runBatch(batch);
    batch.forEach((w, i) => { const r = res[i]; if (r instanceof Error) w.reject(r); else w.resolve(r); });
    if (this.queue.length) this.schedule();
  }

  /**
   * One forward pass over `batch`, then each case's mask. If the pass fails (a native error), each
   * case is retried alone so that only the one that fails gets the error.
   */
  private runBatch(batch: Pick<Waiting, 'prep' | 'ready'>[]): (Error | Segmentation)[] {
    if (this.perCase) return batch.map((w) => this.runCase(w));
    const start = performance.now();
    let probs: Float32Array[];
    try {
      probs = this.infer(batch.map((w) => w.prep));
    } catch (e) {
      if (batch.length === 1) return [e instanceof Error ? e : new Error(String(e))];
      return batch.flatMap((w) => this.runBatch([w]));
    }
    const inferMs = performance.now() - start;
    this.onBatch?.(batch.length, inferMs);
    return batch.map((w, i) => {
      try {
        return this.finish(w.prep, restoreLabels(probs[i], this.net.config.inputShape, this.net.config.nClasses, w.prep.shape), undefined, { queueMs: start - w.ready, inferMs, batchSize: batch.length });
      } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
      }
    });
  }

  /** One case on its own grid: a windowed model's windows are the batch (up to maxBatch per pass); an ensemble averages its members. */
  private runCase(w: Pick<Waiting, 'prep' | 'ready'>): Error | Segmentation {
    const start = performance.now();
    try {
      const { labels, probs } = this.caseLabels(w.prep);
      // The image is not needed past its windows: freed before the mask is encoded (419 MB at 512 x 512 x 400).
      w.prep.image = new Float32Array(0);
      const inferMs = performance.now() - start;
      this.onBatch?.(1, inferMs);
      return this.finish(w.prep, labels, probs, { queueMs: start - w.ready, inferMs, batchSize: 1 });
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }

  private finish(p: Prepared, labels: Int32Array | Uint8Array, probs: Float32Array | undefined, t: { queueMs: number; inferMs: number; batchSize: number }): Segmentation {
    const t1 = performance.now();
    const C = this.net.config.nClasses;
    const counts = new Float64Array(C);
    for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
    // The same bytes writeMask produces: the input's header, level-6 gzip.
    const mask = zlib.gzipSync(encodeMask({ header: p.header, headerBytes: p.headerBytes, shape: p.shape }, labels), { level: 6 });
    const spacing = p.header.pixdim.slice(1, 4).map(Math.abs) as [number, number, number];
    const mm = UNIT_MM[p.header.xyztUnits & 7] ?? 1;
    const voxelMm3 = spacing[0] * spacing[1] * spacing[2] * mm ** 3;
    const names = this.info.labels;
    const end = performance.now();
    return {
      mask: new Uint8Array(mask.buffer, mask.byteOffset, mask.byteLength), labelMap: labels, ...(probs ? { probs } : {}), shape: p.shape, spacing, batchSize: t.batchSize,
      labels: Array.from(counts, (v, c) => ({ value: c, name: names.find((l) => l.value === c)?.name ?? String(c), voxels: v, volumeMm3: v * voxelMm3 })),
      timings: { decodeMs: p.decodeMs, queueMs: t.queueMs, inferMs: t.inferMs, encodeMs: end - t1, totalMs: end - p.t0 },
    };
  }
}

const sameShape = (a: Shape3, b: Shape3) => a.every((v, i) => v === b[i]);

/** Load the trained model in `modelDir` once and answer segmentations with it; dispose() when done. */
export async function createSegmenter(o: SegmenterOptions): Promise<Segmenter> {
  if (!fs.existsSync(o.modelDir)) throw new RunError(`--model_dir ${o.modelDir} does not exist`, 'VNET_E_NO_CHECKPOINT');
  const m = await loadModel(o.modelDir, { device: o.device, amp: o.amp, xla: o.xla });
  try {
    return new Segmenter(m.net, m.config.labels, { ...o, checkpoint: m.file, ownNet: true });
  } catch (e) {
    m.net.dispose();
    throw e;
  }
}
