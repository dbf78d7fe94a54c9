// Metrics against hand-computed values and an independent brute-force HD95 (surface voxels by
// direct neighbour checks, nearest distances by exhaustive search).
import type { Shape3 } from '../../src/data/index.js';
import { confusion, formatSummaryTable, hardDice, hd95, percentileSorted, squaredEdt, summarize } from '../../src/eval/metrics.js';

type Sp = [number, number, number];

function vol(shape: Shape3, f: (x: number, y: number, z: number) => number): Int32Array {
  const [D, H, W] = shape;
  const out = new Int32Array(D * H * W);
  for (let x = 0, i = 0; x < D; x++) for (let y = 0; y < H; y++) for (let z = 0; z < W; z++, i++) out[i] = f(x, y, z);
  return out;
}

/** Coordinates of surface voxels, computed without the library. */
function surfacePoints(v: Int32Array, shape: Shape3, cls: number): number[][] {
  const [D, H, W] = shape;
  const get = (x: number, y: number, z: number) => (x < 0 || y < 0 || z < 0 || x >= D || y >= H || z >= W ? -1 : v[(x * H + y) * W + z]);
  const pts: number[][] = [];
  for (let x = 0; x < D; x++) for (let y = 0; y < H; y++) for (let z = 0; z < W; z++) {
    if (get(x, y, z) !== cls) continue;
    const nb = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]];
    if (nb.some(([a, b, c]) => get(x + a, y + b, z + c) !== cls)) pts.push([x, y, z]);
  }
  return pts;
}

/** medpy hd95 by brute force: pooled directed distances, numpy linear 95th percentile. */
function bruteHd95(a: Int32Array, b: Int32Array, cls: number, shape: Shape3, sp: Sp): number {
  const pa = surfacePoints(a, shape, cls);
  const pb = surfacePoints(b, shape, cls);
  if (!pa.length || !pb.length) return NaN;
  const directed = (p: number[][], q: number[][]) => p.map((u) => Math.sqrt(Math.min(...q.map((w) =>
    ((u[0] - w[0]) * sp[0]) ** 2 + ((u[1] - w[1]) * sp[1]) ** 2 + ((u[2] - w[2]) * sp[2]) ** 2))));
  const all = [...directed(pa, pb), ...directed(pb, pa)].sort((x, y) => x - y);
  const idx = 0.95 * (all.length - 1);
  const lo = Math.floor(idx);
  return all[lo] + (all[Math.min(lo + 1, all.length - 1)] - all[lo]) * (idx - lo);
}

/** A seeded random blob: union of a few balls. */
function blob(shape: Shape3, seed: number, cls = 1): Int32Array {
  let s = seed;
  const r = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const balls = Array.from({ length: 3 }, () => [r() * shape[0], r() * shape[1], r() * shape[2], 2 + r() * 4]);
  return vol(shape, (x, y, z) => (balls.some(([a, b, c, rad]) => (x - a) ** 2 + (y - b) ** 2 + (z - c) ** 2 <= rad * rad) ? cls : 0));
}

describe('confusion and hard Dice', () => {
  it('counts a hand-made overlap', () => {
    const pred = Int32Array.from([1, 1, 1, 0, 0, 2, 2, 0]);
    const ref = Int32Array.from([1, 1, 0, 1, 0, 2, 0, 0]);
    expect(confusion(pred, ref, 1)).toEqual({ tp: 2, fp: 1, fn: 1, tn: 4, nPred: 3, nRef: 3 });
    expect(hardDice(pred, ref, 1)).toBeCloseTo(4 / 6, 12);
    // class 2: tp 1, fp 1, fn 0 -> 2/3
    expect(hardDice(pred, ref, 2)).toBeCloseTo(2 / 3, 12);
    expect(hardDice(pred, ref, 3)).toBeNaN();
    expect(hardDice(Int32Array.from([0, 0]), Int32Array.from([3, 0]), 3)).toBe(0);
  });
});

describe('hd95', () => {
  it('uses numpy-style linear percentiles', () => {
    expect(percentileSorted([1, 2, 3, 4], 95)).toBeCloseTo(3.85, 12);
    expect(percentileSorted([5], 95)).toBe(5);
  });

  it('is the shift for a cube moved clear of itself, scaled by anisotropic spacing', () => {
    const shape: Shape3 = [24, 10, 10];
    const a = vol(shape, (x, y, z) => (x >= 2 && x < 6 && y >= 3 && y < 7 && z >= 3 && z < 7 ? 1 : 0));
    const b = vol(shape, (x, y, z) => (x >= 12 && x < 16 && y >= 3 && y < 7 && z >= 3 && z < 7 ? 1 : 0));
    // By hand: A's layers x=2..5 have 16,12,12,16 surface voxels at 10,9,8,7 from B's near face;
    // the top 5 % of the 112 pooled distances are all 10.
    expect(hd95(a, b, 1, shape)).toBeCloseTo(10, 9);
    expect(hd95(a, b, 1, shape, [2, 1, 1])).toBeCloseTo(20, 9);
    expect(hd95(a, b, 1, shape, [1, 3, 3])).toBeCloseTo(10, 9);
  });

  it('measures parallel planes along the axis of their spacing only', () => {
    const shape: Shape3 = [8, 12, 6];
    const a = vol(shape, (_x, y) => (y === 2 ? 1 : 0));
    const b = vol(shape, (_x, y) => (y === 7 ? 1 : 0));
    expect(hd95(a, b, 1, shape, [1, 1, 1])).toBeCloseTo(5, 9);
    expect(hd95(a, b, 1, shape, [0.5, 1.5, 2])).toBeCloseTo(7.5, 9);
  });

  it('is close to the offset for two spheres, and 0 for identical ones', () => {
    const shape: Shape3 = [40, 40, 40];
    const R = 10;
    const d = 4;
    const a = vol(shape, (x, y, z) => ((x - 18) ** 2 + (y - 20) ** 2 + (z - 20) ** 2 <= R * R ? 1 : 0));
    const b = vol(shape, (x, y, z) => ((x - 18 - d) ** 2 + (y - 20) ** 2 + (z - 20) ** 2 <= R * R ? 1 : 0));
    const h = hd95(a, b, 1, shape);
    // Continuous surfaces give 0.95·d for small d; voxelised ones sit close to it.
    expect(h).toBeGreaterThan(0.85 * d);
    expect(h).toBeLessThanOrEqual(d + 1e-9);
    expect(hd95(a, a, 1, shape)).toBe(0);
    expect(h).toBeCloseTo(bruteHd95(a, b, 1, shape, [1, 1, 1]), 9);
  });

  it('matches brute force on random blobs with anisotropic spacing and border contact', () => {
    const shape: Shape3 = [14, 18, 11];
    for (let seed = 1; seed <= 6; seed++) {
      const a = blob(shape, seed);
      const b = blob(shape, seed + 100);
      const sp: Sp = [1.3, 0.7, 2.1];
      expect(hd95(a, b, 1, shape, sp)).toBeCloseTo(bruteHd95(a, b, 1, shape, sp), 9);
    }
  });

  it('is NaN when either side is empty', () => {
    const shape: Shape3 = [4, 4, 4];
    const a = vol(shape, (x) => (x === 1 ? 1 : 0));
    const e = new Int32Array(64);
    expect(hd95(a, e, 1, shape)).toBeNaN();
    expect(hd95(e, a, 1, shape)).toBeNaN();
    expect(hd95(e, e, 1, shape)).toBeNaN();
  });

  it('squared EDT gives exact squared distances with spacing', () => {
    const shape: Shape3 = [5, 6, 7];
    const f = new Uint8Array(5 * 6 * 7);
    f[(1 * 6 + 2) * 7 + 3] = 1;
    f[(4 * 6 + 5) * 7 + 0] = 1;
    const sp: Sp = [2, 1, 0.5];
    const g = squaredEdt(f, shape, sp);
    for (let x = 0, i = 0; x < 5; x++) for (let y = 0; y < 6; y++) for (let z = 0; z < 7; z++, i++) {
      const d1 = ((x - 1) * 2) ** 2 + (y - 2) ** 2 + ((z - 3) * 0.5) ** 2;
      const d2 = ((x - 4) * 2) ** 2 + (y - 5) ** 2 + (z * 0.5) ** 2;
      expect(g[i]).toBeCloseTo(Math.min(d1, d2), 9);
    }
  });

  it('handles 26 cases x 2 classes of 40x50x40 quickly', () => {
    const shape: Shape3 = [40, 50, 40];
    const two = (cx: number, seedShift: number) => vol(shape, (x, y, z) => {
      const e = ((x - cx) / 8) ** 2 + ((y - 25 - seedShift) / 18) ** 2 + ((z - 20) / 6) ** 2;
      return e <= 1 ? (y - seedShift < 25 ? 1 : 2) : 0;
    });
    const cases = Array.from({ length: 26 }, (_, k) => ({
      id: `c${k}`, pred: two(20 + (k % 3), k % 2), ref: two(20, 0), shape, spacing: [1, 1, 1] as Sp,
    }));
    const t0 = performance.now();
    const s = summarize(cases, [{ value: 0, name: 'background' }, { value: 1, name: 'Anterior' }, { value: 2, name: 'Posterior' }]);
    const ms = performance.now() - t0;
    console.log(`summarize 26 cases x 2 classes: ${ms.toFixed(0)} ms (${s.metric_per_case[0].metrics['1'].n_ref} voxels in class 1)`);
    expect(s.metric_per_case[0].metrics['1'].n_ref).toBeGreaterThan(1500);
    expect(ms).toBeLessThan(2000);
  });
});

describe('summarize', () => {
  const shape: Shape3 = [6, 6, 6];
  const labels = [{ value: 0, name: 'background' }, { value: 1, name: 'Anterior' }, { value: 2, name: 'Posterior' }];
  const ref = vol(shape, (x) => (x < 2 ? 1 : x < 4 ? 2 : 0));
  const perfect = { id: 'a', pred: ref, ref, shape, spacing: [1, 1, 1] as Sp, referenceFile: 'r.nii.gz', predictionFile: 'p.nii.gz' };
  // Case b: class 2 missing from both -> NaN, skipped by the means; class 1 half right.
  const refB = vol(shape, (x) => (x < 2 ? 1 : 0));
  const predB = vol(shape, (x) => (x < 1 ? 1 : 0));
  const half = { id: 'b', pred: predB, ref: refB, shape, spacing: [1, 1, 1] as Sp };
  const s = summarize([perfect, half], labels);

  it('has the nnU-Net shape and NaN-skipping means', () => {
    expect(s.metric_per_case.map((c) => c.case)).toEqual(['a', 'b']);
    expect(s.metric_per_case[0].reference_file).toBe('r.nii.gz');
    expect(s.metric_per_case[1].reference_file).toBeUndefined();
    expect(Object.keys(s.metric_per_case[0].metrics)).toEqual(['1', '2']);
    const b1 = s.metric_per_case[1].metrics['1'];
    expect(b1).toMatchObject({ TP: 36, FP: 0, FN: 36, n_pred: 36, n_ref: 72 });
    expect(b1.Dice).toBeCloseTo(72 / 108, 12);
    expect(s.metric_per_case[1].metrics['2'].Dice).toBeNaN();
    expect(s.mean['1'].Dice).toBeCloseTo((1 + 72 / 108) / 2, 12);
    expect(s.mean['2'].Dice).toBe(1);
    expect(s.mean['2'].HD95).toBe(0);
    expect(s.foreground_mean.Dice).toBeCloseTo(((1 + 72 / 108) / 2 + 1) / 2, 12);
    // JSON keeps NaN as null (Python would write NaN).
    expect(JSON.parse(JSON.stringify(s)).metric_per_case[1].metrics['2'].Dice).toBeNull();
  });

  it('formats a table with soft Dice', () => {
    const t = formatSummaryTable(s, labels, { 1: 0.81, Posterior: 0.79 });
    const lines = t.split('\n');
    expect(lines[0]).toMatch(/class\s+Dice\s+HD95 \(mm\)\s+soft Dice @32³/);
    expect(lines).toHaveLength(5);
    expect(lines[2]).toMatch(/^1 Anterior\s+0\.8333\s+\S+\s+0\.8100$/);
    expect(lines[3]).toMatch(/^2 Posterior\s+1\.0000\s+0\.00\s+0\.7900$/);
    expect(lines[4]).toMatch(/^foreground mean\s+0\.9167\s+\S+\s+0\.8000$/);
    expect(formatSummaryTable(s, labels)).not.toContain('soft');
    expect(formatSummaryTable(s, labels, { 1: 0.8 }, [32, 48, 32]).split('\n')[0]).toMatch(/soft Dice @32x48x32$/);
  });
});
