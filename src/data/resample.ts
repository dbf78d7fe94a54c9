// Resampling with the reference's (SimpleITK 1.1 / ITK 4.13) grid semantics: output index i
// samples input continuous index p = i * old / new on each axis (anchored at voxel 0, neither
// align-corners nor half-pixel). ITK counts p as inside while p < old - 0.5 and returns the
// default value 0 beyond; the linear interpolator clamps the +1 neighbour at the upper edge and
// nearest neighbour rounds half up. The inverse (back to a case's original shape) is the same
// map with the sizes swapped, q = j * new / old, so the two grids share voxel 0 and physical
// extent and resample-then-inverse is consistent; there we clamp at the edges instead of
// zeroing, so that every original voxel gets a prediction.
import type { Shape3 } from './nifti.js';

/** What a sample beyond the input's half-voxel border gets: 0 (ITK) or the edge voxel. */
export type Outside = 'zero' | 'clamp';

interface AxisMap { i0: Int32Array; i1: Int32Array; w0: Float32Array; w1: Float32Array }

function linearMap(n: number, m: number, outside: Outside): AxisMap {
  const map = { i0: new Int32Array(m), i1: new Int32Array(m), w0: new Float32Array(m), w1: new Float32Array(m) };
  for (let j = 0; j < m; j++) {
    const p = (j * n) / m;
    if (outside === 'zero' && !(p < n - 0.5)) continue; // weights stay 0
    const b = Math.min(Math.floor(p), n - 1);
    const f = Math.min(p - b, 1);
    map.i0[j] = b;
    map.i1[j] = Math.min(b + 1, n - 1);
    map.w0[j] = 1 - f;
    map.w1[j] = f;
  }
  return map;
}

/** One linear pass over the middle axis of an (outer, n, inner) array, giving (outer, m, inner). */
function linearPass(src: Float32Array, outer: number, n: number, inner: number, m: number, outside: Outside): Float32Array {
  const { i0, i1, w0, w1 } = linearMap(n, m, outside);
  const dst = new Float32Array(outer * m * inner);
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    for (let j = 0; j < m; j++) {
      const a = base + i0[j] * inner;
      const b = base + i1[j] * inner;
      const d = (o * m + j) * inner;
      const wa = w0[j];
      const wb = w1[j];
      for (let k = 0; k < inner; k++) dst[d + k] = wa * src[a + k] + wb * src[b + k];
    }
  }
  return dst;
}

/**
 * Trilinear resample of a (D, H, W, C) channel-last volume from `from` to `to` (C = 1 for an
 * image). Separable: one pass per axis, identical to the 8-neighbour trilinear formula because
 * the weights factor per axis. Default `outside: 'zero'` is the reference's behaviour.
 */
export function resampleLinear(src: Float32Array, from: Shape3, to: Shape3, opts: { channels?: number; outside?: Outside } = {}): Float32Array {
  const c = opts.channels ?? 1;
  const outside = opts.outside ?? 'zero';
  if (src.length !== from[0] * from[1] * from[2] * c) throw new RangeError(`resampleLinear: ${src.length} values for shape ${from.join('x')}x${c}`);
  let cur = src;
  let [d, h, w] = from;
  if (d !== to[0]) { cur = linearPass(cur, 1, d, h * w * c, to[0], outside); d = to[0]; }
  if (h !== to[1]) { cur = linearPass(cur, d, h, w * c, to[1], outside); h = to[1]; }
  if (w !== to[2]) { cur = linearPass(cur, d * h, w, c, to[2], outside); w = to[2]; }
  return cur === src ? src.slice() : cur;
}

/** Keys' cubic convolution kernel with a = -0.5 (Catmull-Rom): interpolates, reproduces quadratics. */
function keys(t: number): number {
  const x = Math.abs(t);
  return x <= 1 ? (1.5 * x - 2.5) * x * x + 1 : x < 2 ? ((-0.5 * x + 2.5) * x - 4) * x + 2 : 0;
}

/** One cubic pass over the middle axis of an (outer, n, inner) array; the 4 taps clamp at the edges. */
function cubicPass(src: Float32Array, outer: number, n: number, inner: number, m: number): Float32Array {
  const idx = new Int32Array(4 * m);
  const w = new Float64Array(4 * m);
  for (let j = 0; j < m; j++) {
    const p = Math.min((j * n) / m, n - 1);
    const b = Math.floor(p);
    const f = p - b;
    for (let k = 0; k < 4; k++) {
      idx[4 * j + k] = Math.min(Math.max(b - 1 + k, 0), n - 1);
      w[4 * j + k] = keys(f - (k - 1));
    }
  }
  const dst = new Float32Array(outer * m * inner);
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    for (let j = 0; j < m; j++) {
      const d = (o * m + j) * inner;
      const a0 = base + idx[4 * j] * inner, a1 = base + idx[4 * j + 1] * inner, a2 = base + idx[4 * j + 2] * inner, a3 = base + idx[4 * j + 3] * inner;
      const w0 = w[4 * j], w1 = w[4 * j + 1], w2 = w[4 * j + 2], w3 = w[4 * j + 3];
      for (let k = 0; k < inner; k++) dst[d + k] = w0 * src[a0 + k] + w1 * src[a1 + k] + w2 * src[a2 + k] + w3 * src[a3 + k];
    }
  }
  return dst;
}

/**
 * Tricubic resample (Keys' cubic convolution, separable) of a (D, H, W, C) volume, on the same
 * grid map as resampleLinear with clamped edges: sharper than linear for images resampled to a
 * target spacing (nnU-Net resamples images with a cubic spline). It may overshoot at edges.
 */
export function resampleCubic(src: Float32Array, from: Shape3, to: Shape3, opts: { channels?: number } = {}): Float32Array {
  const c = opts.channels ?? 1;
  if (src.length !== from[0] * from[1] * from[2] * c) throw new RangeError(`resampleCubic: ${src.length} values for shape ${from.join('x')}x${c}`);
  let cur = src;
  let [d, h, w] = from;
  if (d !== to[0]) { cur = cubicPass(cur, 1, d, h * w * c, to[0]); d = to[0]; }
  if (h !== to[1]) { cur = cubicPass(cur, d, h, w * c, to[1]); h = to[1]; }
  if (w !== to[2]) { cur = cubicPass(cur, d * h, w, c, to[2]); w = to[2]; }
  return cur === src ? src.slice() : cur;
}

function nearestMap(n: number, m: number, outside: Outside): Int32Array {
  const idx = new Int32Array(m);
  for (let j = 0; j < m; j++) {
    const p = (j * n) / m;
    if (outside === 'zero' && !(p < n - 0.5)) { idx[j] = -1; continue; }
    idx[j] = Math.min(Math.floor(p + 0.5), n - 1); // round half up
  }
  return idx;
}

/** Nearest-neighbour resample of a (D, H, W) label volume; samples outside the input get 0. */
export function resampleNearest(src: Int32Array, from: Shape3, to: Shape3, opts: { outside?: Outside } = {}): Int32Array {
  const outside = opts.outside ?? 'zero';
  if (src.length !== from[0] * from[1] * from[2]) throw new RangeError(`resampleNearest: ${src.length} values for shape ${from.join('x')}`);
  const mx = nearestMap(from[0], to[0], outside);
  const my = nearestMap(from[1], to[1], outside);
  const mz = nearestMap(from[2], to[2], outside);
  const dst = new Int32Array(to[0] * to[1] * to[2]);
  let p = 0;
  for (let x = 0; x < to[0]; x++) {
    const sx = mx[x];
    for (let y = 0; y < to[1]; y++) {
      const sy = my[y];
      if (sx < 0 || sy < 0) { p += to[2]; continue; }
      const row = (sx * from[1] + sy) * from[2];
      for (let z = 0; z < to[2]; z++, p++) {
        const sz = mz[z];
        if (sz >= 0) dst[p] = src[row + sz];
      }
    }
  }
  return dst;
}

/**
 * Per-voxel argmax over the last axis of a (V, C) array; ties go to the lower class. Written into
 * `out` from voxel `at` when given (a streamed volume's rows, one after another).
 */
export function argmaxChannels<T extends Int32Array | Uint8Array = Int32Array>(probs: Float32Array, channels: number, out: T = new Int32Array(probs.length / channels) as T, at = 0): T {
  const n = probs.length / channels;
  for (let v = 0, p = 0; v < n; v++, p += channels) {
    let best = 0;
    let bv = probs[p];
    for (let c = 1; c < channels; c++) if (probs[p + c] > bv) { bv = probs[p + c]; best = c; }
    out[at + v] = best;
  }
  return out;
}

/**
 * Bring a prediction back to a case's original shape: resample the class probabilities
 * (D, H, W, C) at `from` (the network input shape) linearly onto `to` (the original shape) with
 * the inverse grid map and clamped edges, then argmax. The result lines up voxel for voxel with
 * the original image (tensor order, like every volume here).
 */
export function restoreLabels(probs: Float32Array, from: Shape3, channels: number, to: Shape3): Int32Array {
  return argmaxChannels(resampleLinear(probs, from, to, { channels, outside: 'clamp' }), channels);
}
