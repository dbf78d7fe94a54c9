// The work a loader hands out, runnable in the main thread or in a worker thread: load and
// preprocess cases, and assemble a batch (with the flips the main thread already drew).
import { applyAugment, type SampleAugment } from './augment.js';
import { isDataError } from './errors.js';
import { imageSource, readImageChannels, type ImageSource } from './channels.js';
import type { Shape3 } from './nifti.js';
import type { NiftiHeader } from './nifti-header.js';
import { extractPatch, flipZInPlace, patchStart, type Foreground, type PatchDraw } from './patches.js';
import { DiskReader, diskCase, type DiskCase } from './cache.js';
import { prepareCase, prepareImage, preparedGrid, type CaseRef, type InputSpec, type PreparedCase } from './preprocess.js';

/** One batch slot: the case, its cached arrays when the main thread has them, its augmentation. */
export interface SampleSpec {
  ref: CaseRef;
  cached?: PreparedCase;
  flips: SampleAugment;
  /** Full resolution (--resize none): where the patch of the batch shape is taken. */
  patch?: PatchDraw;
  /** The case in the on-disk cache (read by region instead of `cached`). */
  disk?: DiskCase;
}

/** Assemble a batch. `withLabels` false skips labels (prediction). */
export interface BatchJob {
  kind: 'batch';
  shape: Shape3;
  withLabels: boolean;
  samples: SampleSpec[];
  /** Cases at their own resolution; each sample is a patch of `shape` (its `patch` draw). */
  fullResolution?: boolean;
  /** The network's input channels and their normalisation (default: one, z-scored). */
  input?: InputSpec;
}

/** Preprocess cases into the cache. */
export interface LoadJob {
  kind: 'load';
  shape: Shape3;
  withLabels: boolean;
  refs: CaseRef[];
  fullResolution?: boolean;
  input?: InputSpec;
}

/** Read one image (a path, one path per channel, or the bytes of a .nii / .nii.gz) and preprocess it for inference: (C, D, H, W). */
export interface DecodeJob {
  kind: 'decode';
  shape: Shape3;
  src: ImageSource;
  input?: InputSpec;
  /** Names the image in errors when `src` is bytes. */
  name?: string;
  /** Normalise at the image's own shape, no resampling (models trained with --resize none). */
  fullResolution?: boolean;
}

/** Write (or find up to date) the on-disk cache files of labelled cases. */
export interface CacheJob {
  kind: 'cache';
  dir: string;
  refs: CaseRef[];
  input?: InputSpec;
}

export type Job = BatchJob | LoadJob | DecodeJob | CacheJob;

/** A job's result; `loaded` are the cases preprocessed by this job, for the main thread's cache. */
export interface JobResult {
  images?: Float32Array;
  labels?: Int32Array;
  originalShapes?: Shape3[];
  loaded: PreparedCase[];
  /** decode: the image's header (a mask reuses it), its number of volumes, the grid `images` is on and the time taken. */
  /** cache: the cases' cache files. */
  disk?: DiskCase[];
  decoded?: { header: NiftiHeader; headerBytes: Uint8Array; volumes: number; grid: Shape3; ms: number };
}

/** Error fields that survive postMessage. */
export interface JobError {
  code?: string;
  file?: string;
  message: string;
}

function load(ref: CaseRef, shape: Shape3, withLabels: boolean, shared: boolean, fullResolution?: boolean, input?: InputSpec): PreparedCase {
  return prepareCase(withLabels ? ref : { id: ref.id, image: ref.image, channels: ref.channels }, shape, { shared, fullResolution, input });
}

/** Write channel `c` of C of a (D, H, W) volume into a channel-last (..., C) array at voxel `offset`. */
export function putChannel(src: Float32Array, dst: Float32Array, offset: number, c: number, C: number): void {
  for (let v = 0, o = offset * C + c; v < src.length; v++, o += C) dst[o] = src[v];
}

/** A (C, V) channel-first array as (V, C) channel-last; itself when C = 1. */
export function channelsLast(src: Float32Array, C: number): Float32Array {
  if (C === 1) return src;
  const V = src.length / C, out = new Float32Array(src.length);
  for (let c = 0; c < C; c++) putChannel(src.subarray(c * V, (c + 1) * V), out, 0, c, C);
  return out;
}

/**
 * Run a job. `shared` puts freshly preprocessed cases in SharedArrayBuffers (worker threads),
 * so the main thread caches them without a copy.
 */
export function runJob(job: Job, shared: boolean): JobResult {
  if (job.kind === 'decode') {
    const t0 = performance.now();
    const img = readImageChannels(job.src, job.input?.channels ?? 1, job.name);
    const grid = preparedGrid(img.shape, img.header, job.fullResolution ? undefined : job.shape, job.input, job.name);
    const images = prepareImage(img.data, img.shape, grid, job.input, job.fullResolution ? 'clamp' : 'zero');
    return { images, originalShapes: [img.shape], loaded: [], decoded: { header: img.header, headerBytes: img.headerBytes, volumes: img.volumes, grid, ms: performance.now() - t0 } };
  }
  if (job.kind === 'cache') return { loaded: [], disk: job.refs.map((r) => diskCase(job.dir, r, job.input ?? {})) };
  if (job.kind === 'load') return { loaded: job.refs.map((r) => load(r, job.shape, job.withLabels, shared, job.fullResolution, job.input)) };
  const vox = job.shape[0] * job.shape[1] * job.shape[2];
  const C = job.input?.channels ?? 1;
  const n = job.samples.length;
  // (n, D, H, W, C): each channel is cut and augmented like a one-channel volume, then interleaved.
  const images = new Float32Array(n * vox * C);
  const labels = job.withLabels ? new Int32Array(n * vox) : undefined;
  const loaded: PreparedCase[] = [];
  const originalShapes: Shape3[] = [];
  // Full resolution: the sample's patch is cut out first, then augmented like a whole volume.
  const imgPatch = job.fullResolution ? new Float32Array(vox) : undefined;
  const labPatch = job.fullResolution && labels ? new Int32Array(vox) : undefined;
  const augmented = C > 1 ? new Float32Array(vox) : undefined;
  job.samples.forEach((s, i) => {
    const src = s.disk ? diskSource(s.disk, job.shape) : memorySource(s, job, shared, loaded);
    try {
      const start = imgPatch ? patchStart(src.grid, job.shape, drawOf(s, src.id), src.foreground) : undefined;
      for (let ch = 0; ch < C; ch++) {
        let img = src.channel(ch, start, imgPatch);
        if (imgPatch && s.patch?.flipZ) flipZInPlace(img, job.shape);
        // Each channel gets its own noise (channel 0 the drawn seed, as with one channel).
        const aug = ch > 0 && s.flips.noiseSeed !== undefined ? { ...s.flips, noiseSeed: s.flips.noiseSeed + ch } : s.flips;
        if (!augmented) applyAugment(img, job.shape, aug, images, i * vox, false);
        else {
          applyAugment(img, job.shape, aug, augmented, 0, false);
          putChannel(augmented, images, i * vox, ch, C);
        }
      }
      if (labels) {
        const lab = src.label(start, labPatch);
        if (!lab) throw new Error(`case ${src.id} has no label`);
        if (labPatch && s.patch?.flipZ) flipZInPlace(lab, job.shape);
        applyAugment(lab, job.shape, s.flips, labels, i * vox, true);
      }
      originalShapes.push(src.originalShape);
    } finally {
      src.close?.();
    }
  });
  return { images, labels, originalShapes, loaded };
}

/**
 * Where a sample's voxels come from: a case in memory or a cache file. With `start` each read is
 * the patch there, into `dst`; without, the whole (resized) volume.
 */
interface SampleSource {
  id: string;
  grid: Shape3;
  originalShape: Shape3;
  foreground?: Int32Array | Foreground;
  channel(ch: number, start: number[] | undefined, dst?: Float32Array): Float32Array;
  label(start: number[] | undefined, dst?: Int32Array): Int32Array | undefined;
  close?(): void;
}

function memorySource(s: SampleSpec, job: BatchJob, shared: boolean, loaded: PreparedCase[]): SampleSource {
  let c = s.cached;
  if (!c) {
    c = load(s.ref, job.shape, job.withLabels, shared, job.fullResolution, job.input);
    loaded.push(c);
  }
  const k = c, grid = k.shape ?? k.originalShape, vol = grid[0] * grid[1] * grid[2];
  return {
    id: k.id, grid, originalShape: k.originalShape, foreground: k.label,
    channel: (ch, start, dst) => {
      const v = k.image.subarray(ch * vol, (ch + 1) * vol);
      if (!start || !dst) return v;
      extractPatch(v, grid, start, job.shape, dst);
      return dst;
    },
    label: (start, dst) => {
      if (!k.label || !start || !dst) return k.label;
      extractPatch(k.label, grid, start, job.shape, dst);
      return dst;
    },
  };
}

function diskSource(d: DiskCase, patch: Shape3): SampleSource {
  const r = new DiskReader(d);
  const need = <T>(start: number[] | undefined, dst: T | undefined): [number[], T] => {
    if (!start || !dst) throw new Error(`case ${d.id}: cached cases are read as full-resolution patches`);
    return [start, dst];
  };
  return {
    id: d.id, grid: d.shape, originalShape: d.originalShape, foreground: { count: d.fgCount, at: (k) => r.foreground(k) },
    channel: (ch, start, dst) => { const [s0, o] = need(start, dst); r.readBox(ch, s0, patch, o); return o; },
    label: (start, dst) => { const [s0, o] = need(start, dst); r.readBox(-1, s0, patch, o); return o; },
    close: () => r.close(),
  };
}

function drawOf(s: SampleSpec, id: string): PatchDraw {
  if (!s.patch) throw new Error(`case ${id}: a full-resolution batch needs a patch draw per sample`);
  return s.patch;
}

/** Flatten an error for postMessage, keeping DataError's code and file. */
export function toJobError(e: unknown): JobError {
  if (isDataError(e)) return { code: e.code, file: e.file, message: e.detail ?? e.message };
  return { message: e instanceof Error ? e.message : String(e) };
}
