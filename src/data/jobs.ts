// The work a loader hands out, runnable in the main thread or in a worker thread: load and
// preprocess cases, and assemble a batch (with the flips the main thread already drew).
import { applyAugment, type SampleAugment } from './augment.js';
import { isDataError } from './errors.js';
import { readNifti, type Shape3 } from './nifti.js';
import type { NiftiHeader } from './nifti-header.js';
import { extractPatch, flipZInPlace, patchStart, type PatchDraw } from './patches.js';
import { preprocessImage, prepareCase, zscoreInPlace, type CaseRef, type PreparedCase } from './preprocess.js';

/** One batch slot: the case, its cached arrays when the main thread has them, its augmentation. */
export interface SampleSpec {
  ref: CaseRef;
  cached?: PreparedCase;
  flips: SampleAugment;
  /** Full resolution (--resize none): where the patch of the batch shape is taken. */
  patch?: PatchDraw;
}

/** Assemble a batch. `withLabels` false skips labels (prediction). */
export interface BatchJob {
  kind: 'batch';
  shape: Shape3;
  withLabels: boolean;
  samples: SampleSpec[];
  /** Cases at their own resolution; each sample is a patch of `shape` (its `patch` draw). */
  fullResolution?: boolean;
}

/** Preprocess cases into the cache. */
export interface LoadJob {
  kind: 'load';
  shape: Shape3;
  withLabels: boolean;
  refs: CaseRef[];
  fullResolution?: boolean;
}

/** Read one image (a path, or the bytes of a .nii / .nii.gz) and preprocess it for inference. */
export interface DecodeJob {
  kind: 'decode';
  shape: Shape3;
  src: string | Uint8Array;
  /** Names the image in errors when `src` is bytes. */
  name?: string;
  /** z-score at the image's own shape, no resampling (models trained with --resize none). */
  fullResolution?: boolean;
}

export type Job = BatchJob | LoadJob | DecodeJob;

/** A job's result; `loaded` are the cases preprocessed by this job, for the main thread's cache. */
export interface JobResult {
  images?: Float32Array;
  labels?: Int32Array;
  originalShapes?: Shape3[];
  loaded: PreparedCase[];
  /** decode: the image's header (a mask reuses it), its number of volumes and the time taken. */
  decoded?: { header: NiftiHeader; headerBytes: Uint8Array; volumes: number; ms: number };
}

/** Error fields that survive postMessage. */
export interface JobError {
  code?: string;
  file?: string;
  message: string;
}

function load(ref: CaseRef, shape: Shape3, withLabels: boolean, shared: boolean, fullResolution?: boolean): PreparedCase {
  return prepareCase(withLabels ? ref : { id: ref.id, image: ref.image }, shape, { shared, fullResolution });
}

/**
 * Run a job. `shared` puts freshly preprocessed cases in SharedArrayBuffers (worker threads),
 * so the main thread caches them without a copy.
 */
export function runJob(job: Job, shared: boolean): JobResult {
  if (job.kind === 'decode') {
    const t0 = performance.now();
    const img = readNifti(job.src, job.name);
    const images = job.fullResolution ? zscoreInPlace(img.data) : preprocessImage(img.data, img.shape, job.shape);
    return { images, originalShapes: [img.shape], loaded: [], decoded: { header: img.header, headerBytes: img.headerBytes, volumes: img.volumes, ms: performance.now() - t0 } };
  }
  if (job.kind === 'load') return { loaded: job.refs.map((r) => load(r, job.shape, job.withLabels, shared, job.fullResolution)) };
  const vox = job.shape[0] * job.shape[1] * job.shape[2];
  const n = job.samples.length;
  const images = new Float32Array(n * vox);
  const labels = job.withLabels ? new Int32Array(n * vox) : undefined;
  const loaded: PreparedCase[] = [];
  const originalShapes: Shape3[] = [];
  // Full resolution: the sample's patch is cut out first, then augmented like a whole volume.
  const imgPatch = job.fullResolution ? new Float32Array(vox) : undefined;
  const labPatch = job.fullResolution && labels ? new Int32Array(vox) : undefined;
  job.samples.forEach((s, i) => {
    let c = s.cached;
    if (!c) {
      c = load(s.ref, job.shape, job.withLabels, shared, job.fullResolution);
      loaded.push(c);
    }
    let img = c.image, lab = c.label;
    if (imgPatch) {
      if (!s.patch) throw new Error(`case ${c.id}: a full-resolution batch needs a patch draw per sample`);
      const start = patchStart(c.originalShape, job.shape, s.patch, c.label);
      extractPatch(c.image, c.originalShape, start, job.shape, imgPatch);
      if (s.patch.flipZ) flipZInPlace(imgPatch, job.shape);
      img = imgPatch;
      if (labPatch && c.label) {
        extractPatch(c.label, c.originalShape, start, job.shape, labPatch);
        if (s.patch.flipZ) flipZInPlace(labPatch, job.shape);
        lab = labPatch;
      }
    }
    applyAugment(img, job.shape, s.flips, images, i * vox, false);
    if (labels) {
      if (!lab) throw new Error(`case ${c.id} has no label`);
      applyAugment(lab, job.shape, s.flips, labels, i * vox, true);
    }
    originalShapes.push(c.originalShape);
  });
  return { images, labels, originalShapes, loaded };
}

/** Flatten an error for postMessage, keeping DataError's code and file. */
export function toJobError(e: unknown): JobError {
  if (isDataError(e)) return { code: e.code, file: e.file, message: e.detail ?? e.message };
  return { message: e instanceof Error ? e.message : String(e) };
}
