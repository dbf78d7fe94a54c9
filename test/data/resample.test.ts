// Resampling and z-score against hand-computed values and a deliberately naive float64
// implementation (8-neighbour trilinear per voxel); the inverse map recovers real labels.
import { argmaxChannels, resampleLinear, resampleNearest, restoreLabels } from '../../src/data/resample.js';
import { preprocessImage, preprocessLabel } from '../../src/data/preprocess.js';
import { zscoreInPlace } from '../../src/data/intensity.js';
import { readNifti, readNiftiLabels, type Shape3 } from '../../src/data/nifti.js';
import { Rng } from '../../src/data/rng.js';
import { at, dice, itData, real } from './helpers.js';

/** Naive ITK-style trilinear: p = i*old/new, outside (p >= n - 0.5) -> 0, +1 clamped. float64. */
function naiveLinear(src: ArrayLike<number>, from: number[], to: number[]): Float64Array {
  const out = new Float64Array(to[0] * to[1] * to[2]);
  for (let x = 0; x < to[0]; x++) for (let y = 0; y < to[1]; y++) for (let z = 0; z < to[2]; z++) {
    const p = [x, y, z].map((i, a) => (i * from[a]) / to[a]);
    if (p.some((v, a) => v >= from[a] - 0.5)) continue;
    const b = p.map(Math.floor);
    const f = p.map((v, a) => v - b[a]);
    let acc = 0;
    for (let c = 0; c < 8; c++) {
      const o = [c & 1, (c >> 1) & 1, (c >> 2) & 1];
      const idx = o.map((d, a) => Math.min(b[a] + d, from[a] - 1));
      const w = o.reduce((m, d, a) => m * (d ? f[a] : 1 - f[a]), 1);
      acc += w * at(src, from, idx[0], idx[1], idx[2]);
    }
    out[(x * to[1] + y) * to[2] + z] = acc;
  }
  return out;
}

function naiveZscore(v: ArrayLike<number>): Float64Array {
  const a = Float64Array.from(v);
  const mean = a.reduce((s, x) => s + x, 0) / a.length;
  const sd = Math.sqrt(a.reduce((s, x) => s + (x - mean) ** 2, 0) / a.length);
  return a.map((x) => (sd === 0 ? 0 : (x - mean) / sd));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('linear resample, by hand', () => {
  const line = (v: number[], axis: number): [Float32Array, Shape3] => {
    const s: Shape3 = [1, 1, 1];
    s[axis] = v.length;
    return [Float32Array.from(v), s];
  };
  for (const axis of [0, 1, 2]) {
    it(`axis ${axis}: 4 -> 2 samples p = 0, 2`, () => {
      const [v, s] = line([10, 20, 30, 40], axis);
      const to = [...s] as Shape3; to[axis] = 2;
      expect([...resampleLinear(v, s, to)]).toEqual([10, 30]);
    });
    it(`axis ${axis}: 3 -> 4 samples p = 0, .75, 1.5, 2.25 (+1 neighbour clamped)`, () => {
      const [v, s] = line([10, 20, 40], axis);
      const to = [...s] as Shape3; to[axis] = 4;
      expect([...resampleLinear(v, s, to)]).toEqual([10, 17.5, 30, 40]);
    });
    it(`axis ${axis}: 2 -> 4: p = 1.5 is past the half-voxel border and gets 0 (ITK default)`, () => {
      const [v, s] = line([10, 20], axis);
      const to = [...s] as Shape3; to[axis] = 4;
      expect([...resampleLinear(v, s, to)]).toEqual([10, 15, 20, 0]);
      expect([...resampleLinear(v, s, to, { outside: 'clamp' })]).toEqual([10, 15, 20, 20]);
    });
  }
});

describe('nearest resample, by hand', () => {
  it('rounds half up and zeroes past the border', () => {
    const v = Int32Array.from([1, 2, 3]);
    expect([...resampleNearest(v, [3, 1, 1], [4, 1, 1])]).toEqual([1, 2, 3, 3]); // p = 0, .75, 1.5, 2.25
    expect([...resampleNearest(Int32Array.from([1, 2, 3, 4]), [1, 1, 4], [1, 1, 3])]).toEqual([1, 2, 4]); // 0, 1.33, 2.67
    expect([...resampleNearest(Int32Array.from([5, 6]), [1, 2, 1], [1, 4, 1])]).toEqual([5, 6, 6, 0]); // 0, .5, 1, 1.5
  });
});

describe('against a naive implementation', () => {
  it('trilinear on a random 7x9x5 volume to 4x12x8 and to 32^3', () => {
    const rng = new Rng(3);
    const from: Shape3 = [7, 9, 5];
    const src = Float32Array.from({ length: 315 }, () => rng.float() * 100 - 50);
    for (const to of [[4, 12, 8], [32, 32, 32]] as Shape3[]) {
      expect(maxAbsDiff(resampleLinear(src, from, to), naiveLinear(src, from, to))).toBeLessThan(1e-4);
    }
  });

  it('nearest on a random label volume', () => {
    const rng = new Rng(4);
    const from: Shape3 = [7, 9, 5];
    const to: Shape3 = [32, 5, 11];
    const src = Int32Array.from({ length: 315 }, () => rng.int(3));
    const got = resampleNearest(src, from, to);
    for (let x = 0; x < to[0]; x++) for (let y = 0; y < to[1]; y++) for (let z = 0; z < to[2]; z++) {
      const p = [x, y, z].map((i, a) => (i * from[a]) / to[a]);
      const want = p.some((v, a) => v >= from[a] - 0.5) ? 0 : at(src, from, ...(p.map((v) => Math.floor(v + 0.5)) as [number, number, number]));
      expect(at(got, to, x, y, z)).toBe(want);
    }
  });

  it('z-score: population std, a constant volume gives zeros', () => {
    const v = Float32Array.from([1, 2, 3, 4]);
    // mean 2.5, population std sqrt(1.25)
    const s = Math.sqrt(1.25);
    expect([...zscoreInPlace(v)].map((x) => +x.toFixed(6))).toEqual([-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s].map((x) => +x.toFixed(6)));
    const c = zscoreInPlace(new Float32Array(100).fill(7.25));
    expect(c.every((x) => x === 0)).toBe(true);
  });

  itData('full image preprocessing of real cases matches naive resample + z-score', () => {
    for (const n of ['001', '044', '243']) {
      const img = readNifti(real(n));
      const ours = preprocessImage(img.data, img.shape);
      const want = naiveZscore(naiveLinear(img.data, img.shape, [32, 32, 32]));
      expect(maxAbsDiff(ours, want)).toBeLessThan(1e-4);
    }
  });
});

describe('inverse resample', () => {
  const oneHot = (l: Int32Array, c: number) => {
    const p = new Float32Array(l.length * c);
    l.forEach((v, i) => { p[i * c + v] = 1; });
    return p;
  };

  itData('resample-then-inverse of real labels recovers the originals (Dice > 0.9)', () => {
    for (const n of ['001', '017', '101', '243', '394']) {
      const lab = readNiftiLabels(real(n, 'label'));
      const small = preprocessLabel(lab.data, lab.shape);
      const back = restoreLabels(oneHot(small, 3), [32, 32, 32], 3, lab.shape);
      expect(back.length).toBe(lab.data.length);
      for (const c of [1, 2]) expect(dice(back, lab.data, c)).toBeGreaterThan(0.9);
    }
  });

  it('is the exact inverse grid: with old = 2 * new, voxel 2i comes back from sample i', () => {
    const rng = new Rng(9);
    const from: Shape3 = [16, 12, 8];
    const to: Shape3 = [8, 6, 4];
    const l = Int32Array.from({ length: 16 * 12 * 8 }, () => rng.int(3));
    const back = restoreLabels(oneHot(resampleNearest(l, from, to), 3), to, 3, from);
    for (let x = 0; x < 16; x += 2) for (let y = 0; y < 12; y += 2) for (let z = 0; z < 8; z += 2) {
      expect(at(back, from, x, y, z)).toBe(at(l, from, x, y, z));
    }
  });

  it('argmax breaks ties toward the lower class', () => {
    expect([...argmaxChannels(Float32Array.from([0.5, 0.5, 0, 0.2, 0.3, 0.3]), 3)]).toEqual([0, 1]);
  });
});
