// Float64 reference implementations of the engine's ops, written as plainly as possible; the
// CPU backend is checked against these (and the CUDA backend against the CPU one).
export type F64 = Float64Array;

export interface Geom {
  N: number; D: number; H: number; W: number; C: number; K: number;
  k: [number, number, number]; s: [number, number, number]; p: [number, number, number];
  O: [number, number, number];
}

export function conv3dRef(x: ArrayLike<number>, w: ArrayLike<number>, g: Geom): F64 {
  const [OD, OH, OW] = g.O;
  const y = new Float64Array(g.N * OD * OH * OW * g.K);
  for (let n = 0; n < g.N; n++)
    for (let od = 0; od < OD; od++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++)
          for (let a = 0; a < g.k[0]; a++)
            for (let b = 0; b < g.k[1]; b++)
              for (let c3 = 0; c3 < g.k[2]; c3++) {
                const id = od * g.s[0] - g.p[0] + a, ih = oh * g.s[1] - g.p[1] + b, iw = ow * g.s[2] - g.p[2] + c3;
                if (id < 0 || ih < 0 || iw < 0 || id >= g.D || ih >= g.H || iw >= g.W) continue;
                for (let c = 0; c < g.C; c++) {
                  const xv = x[(((n * g.D + id) * g.H + ih) * g.W + iw) * g.C + c];
                  for (let k = 0; k < g.K; k++)
                    y[(((n * OD + od) * OH + oh) * OW + ow) * g.K + k] += xv * w[(((a * g.k[1] + b) * g.k[2] + c3) * g.C + c) * g.K + k];
                }
              }
  return y;
}

/** dx of conv3dRef: the adjoint, written as its own scatter loop. */
export function conv3dDgradRef(dy: ArrayLike<number>, w: ArrayLike<number>, g: Geom): F64 {
  const [OD, OH, OW] = g.O;
  const dx = new Float64Array(g.N * g.D * g.H * g.W * g.C);
  for (let n = 0; n < g.N; n++)
    for (let od = 0; od < OD; od++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++)
          for (let a = 0; a < g.k[0]; a++)
            for (let b = 0; b < g.k[1]; b++)
              for (let c3 = 0; c3 < g.k[2]; c3++) {
                const id = od * g.s[0] - g.p[0] + a, ih = oh * g.s[1] - g.p[1] + b, iw = ow * g.s[2] - g.p[2] + c3;
                if (id < 0 || ih < 0 || iw < 0 || id >= g.D || ih >= g.H || iw >= g.W) continue;
                for (let c = 0; c < g.C; c++)
                  for (let k = 0; k < g.K; k++)
                    dx[(((n * g.D + id) * g.H + ih) * g.W + iw) * g.C + c] +=
                      dy[(((n * OD + od) * OH + oh) * OW + ow) * g.K + k] * w[(((a * g.k[1] + b) * g.k[2] + c3) * g.C + c) * g.K + k];
              }
  return dx;
}

export function conv3dWgradRef(x: ArrayLike<number>, dy: ArrayLike<number>, g: Geom): F64 {
  const [OD, OH, OW] = g.O;
  const dw = new Float64Array(g.k[0] * g.k[1] * g.k[2] * g.C * g.K);
  for (let n = 0; n < g.N; n++)
    for (let od = 0; od < OD; od++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++)
          for (let a = 0; a < g.k[0]; a++)
            for (let b = 0; b < g.k[1]; b++)
              for (let c3 = 0; c3 < g.k[2]; c3++) {
                const id = od * g.s[0] - g.p[0] + a, ih = oh * g.s[1] - g.p[1] + b, iw = ow * g.s[2] - g.p[2] + c3;
                if (id < 0 || ih < 0 || iw < 0 || id >= g.D || ih >= g.H || iw >= g.W) continue;
                for (let c = 0; c < g.C; c++)
                  for (let k = 0; k < g.K; k++)
                    dw[(((a * g.k[1] + b) * g.k[2] + c3) * g.C + c) * g.K + k] +=
                      x[(((n * g.D + id) * g.H + ih) * g.W + iw) * g.C + c] * dy[(((n * OD + od) * OH + oh) * OW + ow) * g.K + k];
              }
  return dw;
}

export function batchNormTrainRef(x: ArrayLike<number>, C: number, gamma: ArrayLike<number>, beta: ArrayLike<number>, eps: number) {
  const R = x.length / C;
  const mean = new Float64Array(C), v = new Float64Array(C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) mean[c] += x[r * C + c] / R;
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) v[c] += (x[r * C + c] - mean[c]) ** 2 / R;
  const y = new Float64Array(x.length);
  for (let r = 0; r < R; r++)
    for (let c = 0; c < C; c++) y[r * C + c] = ((x[r * C + c] - mean[c]) / Math.sqrt(v[c] + eps)) * gamma[c] + beta[c];
  return { y, mean, v };
}

export function softmaxRef(x: ArrayLike<number>, C: number): F64 {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let m = -Infinity, s = 0;
    for (let c = 0; c < C; c++) m = Math.max(m, x[r * C + c]);
    for (let c = 0; c < C; c++) s += Math.exp(x[r * C + c] - m);
    for (let c = 0; c < C; c++) y[r * C + c] = Math.exp(x[r * C + c] - m) / s;
  }
  return y;
}

/** The reference's loss: Σ_c (1 − mean_n dice[n,c]) + ceWeight · mean CE. */
export function diceLossRef(logits: ArrayLike<number>, labels: ArrayLike<number>, N: number, C: number, eps: number, ceWeight = 0): number {
  const p = softmaxRef(logits, C);
  const V = logits.length / (N * C);
  let loss = 0, ce = 0;
  for (let c = 0; c < C; c++) {
    let md = 0;
    for (let n = 0; n < N; n++) {
      let I = 0, U = 0;
      for (let v = 0; v < V; v++) {
        const t = labels[n * V + v] === c ? 1 : 0;
        I += p[(n * V + v) * C + c] * t;
        U += p[(n * V + v) * C + c] + t;
      }
      md += (2 * I + eps) / (U + eps) / N;
    }
    loss += 1 - md;
  }
  for (let r = 0; r < N * V; r++) ce -= Math.log(p[r * C + labels[r]]);
  return loss + (ceWeight * ce) / (N * V);
}

/** Small deterministic generator for test inputs (fresh seed per run, printed on failure). */
export function makeRng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

export function randArray(n: number, rng: () => number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng();
  return a;
}

/** Largest |a−b| / (atol + rtol·|b|); ≤ 1 means within tolerance. */
export function maxErr(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, atol: number): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i]));
    if (!(e <= m)) m = Number.isNaN(e) ? Infinity : e;
  }
  return m;
}

/** Central differences of a float64 scalar function: the reference for backward kernels. */
export function numGrad(f: (x: Float64Array) => number, x: ArrayLike<number>, h = 1e-6): F64 {
  const p = Float64Array.from(x), g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = p[i];
    p[i] = v + h;
    const a = f(p);
    p[i] = v - h;
    const b = f(p);
    p[i] = v;
    g[i] = (a - b) / (2 * h);
  }
  return g;
}
