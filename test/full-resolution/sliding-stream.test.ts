// Streamed sliding-window inference against a whole-volume oracle: the rows handed out one by one,
// with accumulators for the open rows only, must equal, bit for bit, the Gaussian-weighted mean
// accumulated over the whole volume (the oracle below, kept here as the reference), for odd
// shapes, volumes thinner than the patch, every overlap, batches, mirroring, several input
// channels and classes, and ensembles of members with different windows; and the rows held at
// once must follow the formula, not the volume's length.
import { putChannel } from '../../src/data/jobs.js';
import { extractPatch } from '../../src/data/patches.js';
import { averageProbs, averageRows } from '../../src/infer/probs.js';
import { gaussianImportance, mirrored, slabRows, slidingRows, slidingWindow, windowStarts, type PatchRunner, type Row, type SlidingStats } from '../../src/infer/sliding.js';
import type { Shape3 } from '../../src/data/nifti.js';

const vol = (s: Shape3) => s[0] * s[1] * s[2];

/** The whole-volume accumulation as it was before streaming: every window in order, one division at the end. */
function oracle(image: Float32Array, shape: Shape3, patch: Shape3, C: number, run: PatchRunner, o: { overlap: number; batchSize: number; mirror: boolean; channels: number }): Float32Array {
  const [D, H, W] = shape, Cin = o.channels, V = vol(shape), pv = vol(patch);
  const runner = o.mirror ? mirrored(run, patch, C, Cin) : run;
  const starts: number[][] = [];
  for (const x of windowStarts(D, patch[0], o.overlap)) for (const y of windowStarts(H, patch[1], o.overlap)) for (const z of windowStarts(W, patch[2], o.overlap)) starts.push([x, y, z]);
  const g = gaussianImportance(patch);
  const acc = new Float32Array(V * C), wsum = new Float32Array(V);
  for (let b = 0; b < starts.length; b += o.batchSize) {
    const chunk = starts.slice(b, b + o.batchSize);
    const patches = new Float32Array(chunk.length * pv * Cin), one = new Float32Array(pv);
    chunk.forEach((s, i) => {
      for (let c = 0; c < Cin; c++) {
        extractPatch(image.subarray(c * V, (c + 1) * V), shape, s, patch, one);
        putChannel(one, patches, i * pv, c, Cin);
      }
    });
    const probs = runner(patches, chunk.length);
    chunk.forEach((s, i) => {
      for (let x = 0; x < patch[0]; x++) for (let y = 0; y < patch[1]; y++) for (let z = 0; z < patch[2]; z++) {
        const [vx, vy, vz] = [s[0] + x, s[1] + y, s[2] + z];
        if (vx < 0 || vx >= D || vy < 0 || vy >= H || vz < 0 || vz >= W) continue;
        const q = (x * patch[1] + y) * patch[2] + z, v = (vx * H + vy) * W + vz;
        wsum[v] += g[q];
        for (let c = 0; c < C; c++) acc[v * C + c] += g[q] * probs[(i * pv + q) * C + c];
      }
    });
  }
  for (let v = 0; v < V; v++) for (let c = 0; c < C; c++) acc[v * C + c] /= wsum[v];
  return acc;
}

/** A model that reads its input and where each voxel sits in the patch, so a misplaced window or channel shows. */
function model(patch: Shape3, Cin: number, C: number): PatchRunner {
  const pv = vol(patch);
  return (patches, n) => {
    const out = new Float32Array(n * pv * C);
    for (let i = 0; i < n * pv; i++) {
      let s = 0;
      for (let c = 0; c < Cin; c++) s += patches[i * Cin + c] * (c + 1.7);
      for (let c = 0; c < C; c++) out[i * C + c] = 0.5 + 0.5 * Math.sin(s * (c + 1) + (i % pv) * 0.37);
    }
    return out;
  };
}

const image = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 3);
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe('streamed sliding window', () => {
  it('equals the whole-volume accumulation bit for bit', () => {
    const cases: { shape: Shape3; patch: Shape3; Cin: number; C: number }[] = [
      { shape: [9, 13, 7], patch: [4, 6, 4], Cin: 1, C: 3 },
      { shape: [3, 5, 2], patch: [4, 6, 4], Cin: 2, C: 2 }, // smaller than the patch on every axis
      { shape: [17, 3, 11], patch: [5, 4, 4], Cin: 2, C: 4 }, // thinner than the patch on H
      { shape: [2, 9, 9], patch: [4, 4, 4], Cin: 1, C: 3 }, // thinner than the patch on D
    ];
    for (const { shape, patch, Cin, C } of cases) {
      const img = image(vol(shape) * Cin), run = model(patch, Cin, C);
      for (const overlap of [0, 0.5, 0.75]) for (const batchSize of [1, 3]) for (const mirror of [false, true]) {
        if (mirror && overlap !== 0.5) continue; // mirroring is per window: one overlap shows it
        const o = { overlap, batchSize, mirror, channels: Cin };
        const got = slidingWindow(img, shape, patch, C, run, o);
        expect(bits(got)).toEqual(bits(oracle(img, shape, patch, C, run, o)));
      }
    }
  });

  it('hands out every row once, in order, the row buffer reused', () => {
    const shape: Shape3 = [23, 5, 6], patch: Shape3 = [6, 4, 4];
    const seen: number[] = [];
    const buffers = new Set<ArrayBufferLike>();
    for (const [x, p] of slidingRows(image(vol(shape)), shape, patch, 2, model(patch, 1, 2), { batchSize: 2 })) {
      seen.push(x);
      expect(p.length).toBe(5 * 6 * 2);
      buffers.add(p.buffer);
    }
    expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(buffers.size).toBe(1);
  });

  it('holds only the open rows: the slab follows the formula on a tall volume, and rows leave before the last window runs', () => {
    // D = 200, p = 8, overlap 0.5: window starts every 4 rows; H = W = 6 with 4-voxel patches: 4 windows per plane.
    const shape: Shape3 = [200, 6, 6], patch: Shape3 = [8, 4, 4];
    const xs = windowStarts(200, 8, 0.5).flatMap((x) => [x, x, x, x]);
    expect(windowStarts(200, 8, 0.5)[1]).toBe(4);
    for (const [B, rows] of [[1, 8], [3, 12], [4, 8], [8, 12]] as const) {
      // One plane per batch: the patch; a batch across two planes: the patch and one step.
      expect(slabRows(200, 8, xs, B)).toBe(rows);
      const stats: SlidingStats = { slabRows: 0 };
      let calls = 0;
      const inner = model(patch, 1, 3);
      const run: PatchRunner = (p, n) => { calls++; return inner(p, n); };
      const it = slidingRows(image(vol(shape)), shape, patch, 3, run, { overlap: 0.5, batchSize: B, stats });
      const first = it.next();
      expect(stats.slabRows).toBe(rows);
      expect((first.value as Row)[0]).toBe(0);
      // Row 0 is final once the windows starting at row 0 have run, long before the last of 49 x 4.
      expect(calls).toBeLessThanOrEqual(Math.ceil(4 / B) + 1);
      let n = 1;
      while (!it.next().done) n++;
      expect(n).toBe(200);
      expect(calls).toBe(Math.ceil((49 * 4) / B));
    }
    // A volume shorter than the patch holds all of its rows, no more.
    expect(slabRows(3, 8, [-2], 1)).toBe(3);
  });

  it('an ensemble streamed in lockstep equals the mean of its members held whole, windows of different sizes included', () => {
    const shape: Shape3 = [15, 7, 9], C = 3;
    const img = image(vol(shape));
    const members: Shape3[] = [[4, 4, 4], [6, 5, 3], [3, 3, 8]];
    const whole = members.map((p) => slidingWindow(img, shape, p, C, model(p, 1, C), { overlap: 0.5, batchSize: 2 }));
    const stream = averageRows(members.map((p) => slidingRows(img, shape, p, C, model(p, 1, C), { overlap: 0.5, batchSize: 2 })));
    const got = new Float32Array(vol(shape) * C);
    for (const [x, p] of stream) got.set(p, x * 7 * 9 * C);
    expect(bits(got)).toEqual(bits(averageProbs(whole)));
  });
});
