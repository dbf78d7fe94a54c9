// Sliding-window inference at full resolution (models trained with --resize none): the volume
// is covered by patches of the network input shape overlapping by `overlap`, each patch's class
// probabilities are weighted by a Gaussian centred on the patch (its borders see less context)
// and the weighted probabilities are averaged per voxel. A volume smaller than the patch on an
// axis is padded (centred). The volume is streamed row by row along D with accumulators for the
// rows still open only. Pure: the network is a callback, so tests use constant models.
import { extractPatch } from '../data/patches.js';
import { putChannel } from '../data/jobs.js';
import type { Shape3 } from '../data/nifti.js';
import { DEFAULT_OVERLAP } from '../config/options.js';

/** Class probabilities (n, pd, ph, pw, C) of n patches (n, pd, ph, pw, Cin) laid end to end. */
export type PatchRunner = (patches: Float32Array, n: number) => Float32Array;

export interface SlidingOptions {
  /** Fraction of the patch shared by neighbouring windows, in [0, 1); default DEFAULT_OVERLAP (0.5). */
  overlap?: number;
  /** Patches per network call (default 1). */
  batchSize?: number;
  /** Average over the 8 mirrorings of the three axes (test-time augmentation, 8x the passes). */
  mirror?: boolean;
  /** Input channels Cin of the image (default 1). */
  channels?: number;
  /** Filled in with the accumulators' size (how tests check that memory is bounded). */
  stats?: SlidingStats;
}

/**
 * Window starts on one axis, as nnU-Net places them: the fewest windows whose step is at most
 * p * (1 - overlap), spread evenly from 0 to n - p. Shorter than the patch: one window, centred.
 */
export function windowStarts(n: number, p: number, overlap = DEFAULT_OVERLAP): number[] {
  if (!(overlap >= 0 && overlap < 1)) throw new RangeError(`overlap must be in [0, 1), got ${overlap}`);
  if (n <= p) return [0 - Math.floor((p - n) / 2)]; // 0 - x: never -0
  const target = p * (1 - overlap);
  const steps = Math.ceil((n - p) / target) + 1;
  const step = (n - p) / (steps - 1);
  return Array.from({ length: steps }, (_, i) => Math.round(i * step));
}

/** Gaussian weights over a patch (σ = size / 8 per axis, centred, maximum 1), (pd, ph, pw). */
export function gaussianImportance(patch: Shape3, sigmaScale = 1 / 8): Float32Array {
  const axis = patch.map((p) => {
    const c = (p - 1) / 2, s = Math.max(p * sigmaScale, 1e-6);
    return Float64Array.from({ length: p }, (_, i) => Math.exp(-((i - c) ** 2) / (2 * s * s)));
  });
  const out = new Float32Array(patch[0] * patch[1] * patch[2]);
  let o = 0;
  for (let x = 0; x < patch[0]; x++) for (let y = 0; y < patch[1]; y++) for (let z = 0; z < patch[2]; z++) out[o++] = axis[0][x] * axis[1][y] * axis[2][z];
  return out;
}

/**
 * Reverse the axes set in `axes` (bit 0: D, 1: H, 2: W) of n volumes (n, D, H, W, C); C = 1
 * for images. Its own inverse.
 */
export function mirror(src: Float32Array, n: number, shape: Shape3, C: number, axes: number): Float32Array {
  const [D, H, W] = shape;
  const out = new Float32Array(src.length);
  const vox = D * H * W;
  for (let s = 0; s < n; s++) {
    for (let x = 0; x < D; x++) {
      const sx = axes & 1 ? D - 1 - x : x;
      for (let y = 0; y < H; y++) {
        const sy = axes & 2 ? H - 1 - y : y;
        for (let z = 0; z < W; z++) {
          const sz = axes & 4 ? W - 1 - z : z;
          const o = (s * vox + (x * H + y) * W + z) * C, i = (s * vox + (sx * H + sy) * W + sz) * C;
          for (let c = 0; c < C; c++) out[o + c] = src[i + c];
        }
      }
    }
  }
  return out;
}

/** `run` averaged over all 8 mirrorings of the three axes, each mirrored back. */
export function mirrored(run: PatchRunner, patch: Shape3, C: number, Cin = 1): PatchRunner {
  return (patches, n) => {
    let sum: Float64Array | undefined;
    for (let axes = 0; axes < 8; axes++) {
      const p = axes ? mirror(run(mirror(patches, n, patch, Cin, axes), n), n, patch, C, axes) : run(patches, n);
      if (!sum) sum = Float64Array.from(p);
      else for (let i = 0; i < p.length; i++) sum[i] += p[i];
    }
    return Float32Array.from(sum!, (v) => v / 8);
  };
}

/** One finished row x along D: its class probabilities (H, W, C), valid until the next row is pulled. */
export type Row = readonly [x: number, probs: Float32Array];

/** What slidingRows held: the rows of its accumulators (slabRows x H x W x (C + 1) float32). */
export interface SlidingStats { slabRows: number }

/**
 * Rows along D that the accumulators must hold at once for windows starting at `xs` (ascending)
 * taken `B` at a time: before each batch every row above its first window's start is finished,
 * and the batch reaches its last window's start + p.
 */
export function slabRows(D: number, p: number, xs: readonly number[], B: number): number {
  let rows = 1;
  for (let b = 0; b < xs.length; b += B) {
    const lo = Math.min(D, Math.max(0, xs[b])), hi = Math.min(D, xs[Math.min(b + B, xs.length) - 1] + p);
    rows = Math.max(rows, hi - lo);
  }
  return rows;
}

/**
 * Class probabilities of a whole (Cin, D, H, W) image of `shape`, from windows of `patch`: the
 * Gaussian-weighted mean of every window covering each voxel, streamed row by row along D. The
 * windows run in order of their start on D, so the rows above the next window's start are final:
 * each is divided by its weight and handed out at once, and the accumulators (float32, in a ring
 * of slabRows rows) never hold more than the rows that windows still to come can touch. Every
 * voxel sums the same windows in the same order as a whole-volume accumulator would.
 */
export function* slidingRows(image: Float32Array, shape: Shape3, patch: Shape3, C: number, run: PatchRunner, o: SlidingOptions = {}): Generator<Row, void, undefined> {
  const [D, H, W] = shape;
  const Cin = o.channels ?? 1, V = D * H * W;
  if (image.length !== V * Cin) throw new RangeError(`slidingWindow: ${image.length} values for shape ${shape.join('x')}x${Cin}`);
  const B = Math.max(1, Math.floor(o.batchSize ?? 1));
  const runner = o.mirror ? mirrored(run, patch, C, Cin) : run;
  const starts: [number, number, number][] = [];
  for (const x of windowStarts(D, patch[0], o.overlap)) for (const y of windowStarts(H, patch[1], o.overlap)) for (const z of windowStarts(W, patch[2], o.overlap)) starts.push([x, y, z]);
  const g = gaussianImportance(patch);
  const pv = patch[0] * patch[1] * patch[2], HW = H * W;
  const cap = slabRows(D, patch[0], starts.map((s) => s[0]), B);
  if (o.stats) o.stats.slabRows = cap;
  // Row x lives in slot x % cap: the rows held at once never span more than cap.
  const acc = new Float32Array(cap * HW * C);
  const wsum = new Float32Array(cap * HW);
  let next = 0;
  function* finish(upTo: number): Generator<Row, void, undefined> {
    for (; next < upTo; next++) {
      const r = next % cap;
      const a = acc.subarray(r * HW * C, (r + 1) * HW * C), ws = wsum.subarray(r * HW, (r + 1) * HW);
      for (let v = 0; v < HW; v++) for (let c = 0; c < C; c++) a[v * C + c] /= ws[v];
      yield [next, a];
      a.fill(0);
      ws.fill(0);
    }
  }
  const one = Cin > 1 ? new Float32Array(pv) : undefined;
  for (let b = 0; b < starts.length; b += B) {
    const chunk = starts.slice(b, b + B);
    yield* finish(Math.min(D, Math.max(0, chunk[0][0])));
    const patches = new Float32Array(chunk.length * pv * Cin);
    chunk.forEach((s, i) => {
      if (!one) return extractPatch(image, shape, s, patch, patches, i * pv);
      for (let c = 0; c < Cin; c++) {
        extractPatch(image.subarray(c * V, (c + 1) * V), shape, s, patch, one);
        putChannel(one, patches, i * pv, c, Cin);
      }
    });
    const probs = runner(patches, chunk.length);
    if (probs.length !== chunk.length * pv * C) throw new RangeError(`slidingWindow: the model gave ${probs.length} values for ${chunk.length} patches of ${pv} voxels x ${C} classes`);
    chunk.forEach((s, i) => {
      for (let x = 0; x < patch[0]; x++) {
        const vx = s[0] + x;
        if (vx < 0 || vx >= D) continue;
        const slot = vx % cap;
        for (let y = 0; y < patch[1]; y++) {
          const vy = s[1] + y;
          if (vy < 0 || vy >= H) continue;
          for (let z = 0; z < patch[2]; z++) {
            const vz = s[2] + z;
            if (vz < 0 || vz >= W) continue;
            const q = (x * patch[1] + y) * patch[2] + z, v = (slot * H + vy) * W + vz, w = g[q];
            wsum[v] += w;
            const pi = (i * pv + q) * C, ai = v * C;
            for (let c = 0; c < C; c++) acc[ai + c] += w * probs[pi + c];
          }
        }
      }
    });
  }
  yield* finish(D);
}

/** The rows of a whole (D, H, W, C) array `probs` of `shape`, as slidingRows hands them out. */
export function* wholeRows(probs: Float32Array, shape: Shape3, C: number): Generator<Row, void, undefined> {
  const n = shape[1] * shape[2] * C;
  for (let x = 0; x < shape[0]; x++) yield [x, probs.subarray(x * n, (x + 1) * n)];
}

/**
 * Every row stored into one (D, H, W, C) array, for callers that need the whole probability
 * volume (kept probabilities, resampling back from a target spacing, scoring): 4 C bytes per voxel.
 */
export function collectRows(rows: Iterable<Row>, shape: Shape3, C: number): Float32Array {
  const n = shape[1] * shape[2] * C;
  const out = new Float32Array(shape[0] * n);
  for (const [x, p] of rows) out.set(p, x * n);
  return out;
}

/** slidingRows' probabilities (D, H, W, C) held whole. */
export function slidingWindow(image: Float32Array, shape: Shape3, patch: Shape3, C: number, run: PatchRunner, o: SlidingOptions = {}): Float32Array {
  return collectRows(slidingRows(image, shape, patch, C, run, o), shape, C);
}
