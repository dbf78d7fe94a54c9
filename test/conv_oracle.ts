// The float64 oracles of the CPU convolution tests (conv_fast, conv_winograd): direct scatters
// over every (output voxel, tap) pair, independent of the engine, and a native call helper.
import { native } from '../bindings/native.js';

export type V3 = [number, number, number];
export interface Case {
  name: string;
  n: number;
  in: V3; // D, H, W
  c: number;
  k: number;
  ks: V3;
  s: V3;
  pad: V3;
  padBack: V3;
}

export function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

export function outSize(c: Case): V3 {
  return [0, 1, 2].map((i) => Math.floor((c.in[i] + c.pad[i] + c.padBack[i] - c.ks[i]) / c.s[i]) + 1) as V3;
}

// Calls f(xIndex, yIndex, wIndex / (C*K)) for every (output voxel, tap) pair that reads a real
// input voxel; the float64 oracles below are scatters over these pairs.
export function forEachTap(c: Case, f: (xv: number, yv: number, t: number) => void): void {
  const [D, H, W] = c.in;
  const [OD, OH, OW] = outSize(c);
  const [kd, kh, kw] = c.ks;
  for (let n = 0; n < c.n; n++)
    for (let od = 0; od < OD; od++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          const yv = ((n * OD + od) * OH + oh) * OW + ow;
          for (let a = 0; a < kd; a++) {
            const id = od * c.s[0] - c.pad[0] + a;
            if (id < 0 || id >= D) continue;
            for (let b = 0; b < kh; b++) {
              const ih = oh * c.s[1] - c.pad[1] + b;
              if (ih < 0 || ih >= H) continue;
              for (let e = 0; e < kw; e++) {
                const iw = ow * c.s[2] - c.pad[2] + e;
                if (iw < 0 || iw >= W) continue;
                f(((n * D + id) * H + ih) * W + iw, yv, (a * kh + b) * kw + e);
              }
            }
          }
        }
}

export function fprop64(c: Case, x: Float32Array, w: Float32Array, ny: number): Float64Array {
  const y = new Float64Array(ny);
  const C = c.c, K = c.k;
  forEachTap(c, (xv, yv, t) => {
    for (let ci = 0; ci < C; ci++) {
      const xval = x[xv * C + ci], wb = (t * C + ci) * K;
      for (let k = 0; k < K; k++) y[yv * K + k] += xval * w[wb + k];
    }
  });
  return y;
}

export function dgrad64(c: Case, dy: Float32Array, w: Float32Array, nx: number): Float64Array {
  const dx = new Float64Array(nx);
  const C = c.c, K = c.k;
  forEachTap(c, (xv, yv, t) => {
    for (let ci = 0; ci < C; ci++) {
      const wb = (t * C + ci) * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += dy[yv * K + k] * w[wb + k];
      dx[xv * C + ci] += s;
    }
  });
  return dx;
}

export function wgrad64(c: Case, x: Float32Array, dy: Float32Array, nw: number): Float64Array {
  const dw = new Float64Array(nw);
  const C = c.c, K = c.k;
  forEachTap(c, (xv, yv, t) => {
    for (let ci = 0; ci < C; ci++) {
      const xval = x[xv * C + ci], wb = (t * C + ci) * K;
      for (let k = 0; k < K; k++) dw[wb + k] += xval * dy[yv * K + k];
    }
  });
  return dw;
}

/** max |got - want| / max |want|: the error measure of the convolution tests. */
export function relError(got: Float32Array, want: Float64Array): number {
  let maxRef = 0, maxErr = 0;
  for (let i = 0; i < want.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(want[i]));
    const e = Math.abs(got[i] - want[i]);
    maxErr = Number.isNaN(e) ? Infinity : Math.max(maxErr, e);
  }
  return maxErr / Math.max(maxRef, 1e-30);
}

// Relative to the largest reference magnitude: fp32 accumulation over up to a few thousand
// terms (tens of thousands for wgrad) stays well inside 1e-4 of it.
export function expectClose(got: Float32Array, want: Float64Array, what: string): void {
  expect(got.length).toBe(want.length);
  let maxRef = 0, maxErr = 0;
  for (let i = 0; i < want.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(want[i]));
    maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
  }
  if (!(maxErr <= 1e-4 * Math.max(maxRef, 1e-6))) throw new Error(`${what}: max error ${maxErr} vs max |ref| ${maxRef}`);
}

export function runOp(op: string, a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], attrs: Record<string, number[]>): Float32Array {
  const ta = native.fromArray(a, aShape, 'f32', 'cpu');
  const tb = native.fromArray(b, bShape, 'f32', 'cpu');
  const [out] = native.run(op, [ta.handle, tb.handle], attrs);
  const r = native.toArray(out.handle) as Float32Array;
  native.dispose(ta.handle);
  native.dispose(tb.handle);
  native.dispose(out.handle);
  return r;
}

