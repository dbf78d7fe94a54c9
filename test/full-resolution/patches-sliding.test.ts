// Native-resolution mechanics as pure functions: patch sampling (bounds, padding, the
// foreground fraction) and sliding-window inference (coverage, Gaussian weighting, volumes
// smaller than the patch, odd sizes, the 8 mirrorings).
import { NO_FLIPS } from '../../src/data/augment.js';
import { runJob } from '../../src/data/jobs.js';
import { drawPatch, extractPatch, flipZInPlace, patchStart, startRange } from '../../src/data/patches.js';
import { Rng } from '../../src/data/rng.js';
import { gaussianImportance, mirror, mirrored, slidingWindow, windowStarts } from '../../src/infer/sliding.js';
import type { Shape3 } from '../../src/data/nifti.js';

const iota = (n: number) => Float32Array.from({ length: n }, (_, i) => i + 1);
const vol = (s: Shape3) => s[0] * s[1] * s[2];

describe('patch sampling', () => {
  it('extracts the exact box inside the volume and pads outside it', () => {
    const shape: Shape3 = [5, 4, 3];
    const src = iota(vol(shape));
    const patch: Shape3 = [3, 6, 4];
    const start = [-1, -1, 1];
    const dst = new Float32Array(vol(patch) + 2).fill(-7);
    extractPatch(src, shape, start, patch, dst, 1, 0);
    expect(dst[0]).toBe(-7);
    expect(dst[dst.length - 1]).toBe(-7);
    for (let x = 0; x < 3; x++) for (let y = 0; y < 6; y++) for (let z = 0; z < 4; z++) {
      const [sx, sy, sz] = [x + start[0], y + start[1], z + start[2]];
      const inside = sx >= 0 && sx < 5 && sy >= 0 && sy < 4 && sz >= 0 && sz < 3;
      expect(dst[1 + (x * 6 + y) * 4 + z]).toBe(inside ? src[(sx * 4 + sy) * 3 + sz] : 0);
    }
  });

  it('random starts stay in range: inside a larger volume, around a smaller one', () => {
    expect(startRange(10, 4)).toEqual([0, 6]);
    expect(startRange(3, 8)).toEqual([-5, 0]);
    const rng = new Rng(3);
    const shape: Shape3 = [35, 50, 20];
    const patch: Shape3 = [32, 48, 32];
    const seen = [new Set<number>(), new Set<number>(), new Set<number>()];
    for (let i = 0; i < 400; i++) {
      const s = patchStart(shape, patch, drawPatch(rng, 0));
      s.forEach((v, a) => {
        const [lo, hi] = startRange(shape[a], patch[a]);
        expect(v).toBeGreaterThanOrEqual(lo);
        expect(v).toBeLessThanOrEqual(hi);
        seen[a].add(v);
      });
    }
    // Every allowed start is reached (uniform over the range, ends included).
    expect(seen.map((s) => s.size)).toEqual([4, 3, 13]);
  });

  it('a foreground draw puts a labelled voxel in the patch; p sets the fraction', () => {
    const shape: Shape3 = [40, 40, 40];
    const patch: Shape3 = [8, 8, 8];
    const label = new Int32Array(vol(shape));
    const fg = [[2, 3, 37], [39, 39, 0], [20, 1, 20]];
    for (const [x, y, z] of fg) label[(x * 40 + y) * 40 + z] = 2;
    const rng = new Rng(11);
    let withFg = 0, fgDraws = 0;
    const n = 2000;
    for (let i = 0; i < n; i++) {
      const d = drawPatch(rng, 0.33);
      const s = patchStart(shape, patch, d, label);
      const has = fg.some((v) => v.every((c, a) => c >= s[a] && c < s[a] + patch[a]));
      if (d.foreground) { fgDraws++; expect(has).toBe(true); }
      if (has) withFg++;
    }
    // Random 8^3 patches in 40^3 almost never hold one of three voxels.
    expect(Math.abs(fgDraws / n - 0.33)).toBeLessThan(0.04);
    expect(withFg / n).toBeLessThan(0.33 + 0.06);
    // Without labelled voxels a foreground draw is a random patch, still in range.
    const s = patchStart(shape, patch, { foreground: true, u: [0.999, 0, 0.5], pick: 0.2 }, new Int32Array(vol(shape)));
    expect(s).toEqual([32, 0, 16]);
  });
});

describe('z mirroring of full-resolution patches', () => {
  it('is drawn only when augmenting, about half the time', () => {
    const rng = new Rng(5);
    const draws = Array.from({ length: 1000 }, () => drawPatch(rng, 0.3, true));
    const frac = draws.filter((d) => d.flipZ).length / 1000;
    expect(Math.abs(frac - 0.5)).toBeLessThan(0.05);
    expect(drawPatch(new Rng(5), 0.3, false).flipZ).toBeUndefined();
  });

  it('reverses z of image and label together in the batch', () => {
    const shape: Shape3 = [3, 4, 5];
    const image = iota(vol(shape));
    const label = Int32Array.from(image, (v) => v % 3);
    const patch: Shape3 = [2, 2, 4];
    const draw = { foreground: false, u: [0.99, 0, 0] as [number, number, number], pick: 0 };
    const cached = { id: 'c', image, label, originalShape: shape };
    const batch = (flipZ: boolean) => runJob({ kind: 'batch', shape: patch, withLabels: true, fullResolution: true, samples: [{ ref: { id: 'c', image: '', label: '' }, cached, flips: NO_FLIPS, patch: { ...draw, flipZ } }] }, false);
    const plain = batch(false), flipped = batch(true);
    const start = patchStart(shape, patch, draw);
    expect(start).toEqual([1, 0, 0]);
    const want = new Float32Array(vol(patch));
    extractPatch(image, shape, start, patch, want);
    expect(plain.images).toEqual(want);
    flipZInPlace(want, patch);
    expect(flipped.images).toEqual(want);
    expect(Array.from(flipped.images!.subarray(0, 4))).toEqual([24, 23, 22, 21]);
    expect(Array.from(flipped.labels!)).toEqual(Array.from(flipped.images!, (v) => v % 3));
  });
});

describe('sliding window', () => {
  it('window starts cover the axis with at most the target step', () => {
    expect(windowStarts(32, 32)).toEqual([0]);
    expect(windowStarts(20, 32)).toEqual([-6]);
    expect(windowStarts(35, 32)).toEqual([0, 3]);
    expect(windowStarts(100, 32, 0.5)).toEqual([0, 14, 27, 41, 54, 68]);
    expect(windowStarts(100, 32, 0)).toEqual([0, 23, 45, 68]);
    for (const [n, p, ov] of [[37, 8, 0.5], [101, 17, 0.25], [9, 8, 0.9]] as const) {
      const s = windowStarts(n, p, ov);
      expect(s[0]).toBe(0);
      expect(s[s.length - 1]).toBe(n - p);
      for (let i = 1; i < s.length; i++) expect(s[i] - s[i - 1]).toBeLessThanOrEqual(Math.ceil(p * (1 - ov)));
    }
    expect(() => windowStarts(10, 4, 1)).toThrow(/overlap/);
  });

  it('the Gaussian peaks at the centre, is symmetric and never zero', () => {
    const g = gaussianImportance([5, 6, 7]);
    const max = Math.max(...g);
    expect(max).toBeLessThanOrEqual(1);
    expect(g[(2 * 6 + 2) * 7 + 3]).toBe(max);
    expect(Math.min(...g)).toBeGreaterThan(0);
    expect(g[(0 * 6 + 1) * 7 + 2]).toBeCloseTo(g[(4 * 6 + 4) * 7 + 4], 6);
  });

  it('a constant model gives a constant map, for odd sizes and volumes smaller than the patch', () => {
    const C = 3, q = [0.2, 0.5, 0.3];
    const run = (_: Float32Array, n: number) => Float32Array.from({ length: n * 4 * 6 * 4 * C }, (_, i) => q[i % C]);
    for (const shape of [[9, 13, 7], [3, 5, 2], [4, 6, 4], [11, 2, 17]] as Shape3[]) {
      const out = slidingWindow(iota(vol(shape)), shape, [4, 6, 4], C, run, { overlap: 0.5, batchSize: 3 });
      expect(out.length).toBe(vol(shape) * C);
      for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(q[i % C], 6);
    }
  });

  it('every voxel is covered, and each prediction lands on its own voxel (identity model)', () => {
    // The "probability" of channel 0 is the input itself: the weighted mean of copies of the
    // same voxel is that voxel, so any misplaced window would show.
    const patch: Shape3 = [4, 4, 6];
    const run = (x: Float32Array) => x.slice();
    for (const shape of [[7, 9, 5], [2, 3, 3], [12, 4, 13]] as Shape3[]) {
      const img = iota(vol(shape));
      const out = slidingWindow(img, shape, patch, 1, run, { overlap: 0.5, batchSize: 2 });
      for (let i = 0; i < img.length; i++) expect(out[i]).toBeCloseTo(img[i], 3);
    }
  });

  it('weights favour the centre of each window', () => {
    // Two windows on a 6-voxel axis with a 4-voxel patch (starts 0 and 2); window k answers k.
    let call = 0;
    const run = (_: Float32Array, n: number) => new Float32Array(n * 4).fill(call++);
    const out = slidingWindow(new Float32Array(6), [1, 1, 6], [1, 1, 4], 1, run, { overlap: 0.5 });
    const g = gaussianImportance([1, 1, 4]);
    expect(Array.from(out.slice(0, 2))).toEqual([0, 0]);
    // Voxel 2 is inner in window 0 (g[2]) and the edge of window 1 (g[0]): it leans to 0.
    expect(out[2]).toBeCloseTo(g[0] / (g[2] + g[0]), 6);
    expect(out[2]).toBeLessThan(0.5);
    expect(out[3]).toBeCloseTo(g[1] / (g[3] + g[1]), 6);
    expect(out[3]).toBeGreaterThan(0.5);
    expect(Array.from(out.slice(4))).toEqual([1, 1]);
  });

  it('mirror is its own inverse, and 8-way mirroring of an equivariant model changes nothing', () => {
    const shape: Shape3 = [3, 4, 5];
    const x = iota(2 * vol(shape));
    for (let a = 0; a < 8; a++) expect(mirror(mirror(x, 2, shape, 1, a), 2, shape, 1, a)).toEqual(x);
    expect(mirror(iota(4), 1, [1, 1, 2], 2, 4)).toEqual(Float32Array.from([3, 4, 1, 2]));
    // A voxel-wise model commutes with mirroring; one that reads its neighbour does not.
    const square = (p: Float32Array) => p.map((v) => v * v);
    expect(mirrored(square, shape, 1)(x, 2)).toEqual(square(x));
    const shift = (p: Float32Array) => p.map((_, i) => p[Math.min(i + 1, p.length - 1)]);
    const m = mirrored(shift, shape, 1)(x, 2);
    expect(m).not.toEqual(shift(x));
    let calls = 0;
    mirrored((p) => { calls++; return p; }, shape, 1)(x, 2);
    expect(calls).toBe(8);
  });
});
