// The seeded generator, flips and the split.
import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../../src/data/rng.js';
import { applyAugment, copyFlipped, drawAugment, drawFlips, flipVolume, type SampleAugment } from '../../src/data/augment.js';
import { makeSplit, readSplit, writeSplit } from '../../src/data/split.js';
import { loadDataset } from '../../src/data/dataset.js';
import type { Shape3 } from '../../src/data/nifti.js';
import { DATA_DIR, at, cleanupTmp, itData, tmpDir } from './helpers.js';

afterAll(cleanupTmp);

describe('Rng (xoshiro128**)', () => {
  it('matches the reference outputs for state {1, 2, 3, 4}', () => {
    const r = new Rng({ algorithm: 'xoshiro128**', s: [1, 2, 3, 4] });
    expect([r.nextU32(), r.nextU32(), r.nextU32()]).toEqual([11520, 0, 5927040]);
  });

  it('is reproducible per seed, differs across seeds, and resumes from JSON state', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 50 }, () => a.nextU32());
    expect(Array.from({ length: 50 }, () => b.nextU32())).toEqual(sa);
    expect(Array.from({ length: 50 }, () => c.nextU32())).not.toEqual(sa);
    const saved = JSON.parse(JSON.stringify(a.state()));
    const more = Array.from({ length: 20 }, () => a.float());
    expect(Array.from({ length: 20 }, () => new Rng(saved).float()).length).toBe(20);
    const resumed = new Rng(saved);
    expect(Array.from({ length: 20 }, () => resumed.float())).toEqual(more);
  });

  it('float is in [0, 1) and roughly uniform; int(n) stays in range', () => {
    const r = new Rng(7);
    let sum = 0;
    const counts = [0, 0, 0];
    for (let i = 0; i < 30000; i++) {
      const f = r.float();
      expect(f >= 0 && f < 1).toBe(true);
      sum += f;
      counts[r.int(3)]++;
    }
    expect(Math.abs(sum / 30000 - 0.5)).toBeLessThan(0.01);
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(400);
  });
});

describe('flips', () => {
  const shape: Shape3 = [3, 4, 5];
  const v = Float32Array.from({ length: 60 }, (_, i) => i);
  it('flipX reverses tensor axis 0, flipY axis 1, z never flips', () => {
    const fx = flipVolume(v, shape, { flipX: true, flipY: false });
    const fy = flipVolume(v, shape, { flipX: false, flipY: true });
    for (let x = 0; x < 3; x++) for (let y = 0; y < 4; y++) for (let z = 0; z < 5; z++) {
      expect(at(fx, shape, x, y, z)).toBe(at(v, shape, 2 - x, y, z));
      expect(at(fy, shape, x, y, z)).toBe(at(v, shape, x, 3 - y, z));
    }
  });
  it('copies into a batch slot at an offset, for ints too', () => {
    const l = Int32Array.from(v);
    const dst = new Int32Array(120);
    copyFlipped(l, shape, { flipX: true, flipY: true }, dst, 60);
    expect(dst[0]).toBe(0);
    expect(dst[60]).toBe(at(l, shape, 2, 3, 0));
  });
  it('draws are reproducible under a seed and each flip happens about half the time', () => {
    const a = new Rng(5);
    const b = new Rng(5);
    let nx = 0;
    let ny = 0;
    for (let i = 0; i < 4000; i++) {
      const f = drawFlips(a);
      expect(drawFlips(b)).toEqual(f);
      nx += +f.flipX;
      ny += +f.flipY;
    }
    expect(Math.abs(nx - 2000)).toBeLessThan(150);
    expect(Math.abs(ny - 2000)).toBeLessThan(150);
  });
});

describe('full augmentation', () => {
  // A smooth test volume and a labelled ball in its middle.
  const shape: Shape3 = [16, 20, 12];
  const n = 16 * 20 * 12;
  const img = new Float32Array(n);
  const lab = new Int32Array(n);
  for (let x = 0; x < 16; x++) for (let y = 0; y < 20; y++) for (let z = 0; z < 12; z++) {
    const i = (x * 20 + y) * 12 + z;
    img[i] = 0.1 * x - 0.05 * y + 0.2 * z;
    const r2 = (x - 7.5) ** 2 + (y - 9.5) ** 2 + (z - 5.5) ** 2;
    lab[i] = r2 < 9 ? 2 : r2 < 16 ? 1 : 0;
  }
  const count = (l: Int32Array, k: number) => l.reduce((s, v) => s + (v === k ? 1 : 0), 0);

  it("'flips' mode draws exactly the reference's flips stream", () => {
    const a = new Rng(9);
    const b = new Rng(9);
    for (let i = 0; i < 200; i++) expect(drawAugment(a, 'flips')).toEqual(drawFlips(b));
  });

  it('an identity affine with flips equals the plain flipped copy, for images and labels', () => {
    for (const [fx, fy] of [[false, false], [true, false], [false, true], [true, true]]) {
      const aug: SampleAugment = { flipX: fx, flipY: fy, affine: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
      const a = new Float32Array(n);
      const b = new Float32Array(n);
      applyAugment(img, shape, aug, a, 0, false);
      copyFlipped(img, shape, aug, b, 0);
      expect(Array.from(a)).toEqual(Array.from(b).map((v) => expect.closeTo(v, 5)));
      const la = new Int32Array(n);
      const lb = new Int32Array(n);
      applyAugment(lab, shape, aug, la, 0, true);
      copyFlipped(lab, shape, aug, lb, 0);
      expect(Array.from(la)).toEqual(Array.from(lb));
    }
  });

  it('a linear image stays linear under a rotation about the centre (trilinear is exact on it)', () => {
    const t = (15 * Math.PI) / 180;
    const aug: SampleAugment = { flipX: false, flipY: false, affine: [Math.cos(t), -Math.sin(t), 0, Math.sin(t), Math.cos(t), 0, 0, 0, 1] };
    const out = new Float32Array(n);
    applyAugment(img, shape, aug, out, 0, false);
    // Voxels whose source point is inside the volume read the linear function there.
    const x = 8, y = 10, z = 6;
    const px = x - 7.5, py = y - 9.5;
    const q0 = 7.5 + Math.cos(t) * px - Math.sin(t) * py;
    const q1 = 9.5 + Math.sin(t) * px + Math.cos(t) * py;
    expect(at(out, shape, x, y, z)).toBeCloseTo(0.1 * q0 - 0.05 * q1 + 0.2 * z, 4);
  });

  it('scaling grows or shrinks the labelled ball by about s^3 and keeps its classes nested', () => {
    const grow = new Int32Array(n);
    applyAugment(lab, shape, { flipX: false, flipY: false, affine: [0.8, 0, 0, 0, 0.8, 0, 0, 0, 0.8] }, grow, 0, true);
    const fg = count(lab, 1) + count(lab, 2);
    const ratio = (count(grow, 1) + count(grow, 2)) / fg;
    expect(ratio).toBeGreaterThan(1.6);
    expect(ratio).toBeLessThan(2.4);
    expect(count(grow, 2)).toBeGreaterThan(count(lab, 2));
  });

  it('intensity: gain and offset exactly, noise reproducible from its seed, labels untouched', () => {
    const aug: SampleAugment = { flipX: false, flipY: false, gain: 1.2, offset: -0.1 };
    const out = new Float32Array(n);
    applyAugment(img, shape, aug, out, 0, false);
    for (let i = 0; i < n; i += 97) expect(out[i]).toBeCloseTo(img[i] * 1.2 - 0.1, 5);
    const noisy = { flipX: false, flipY: false, noise: 0.1, noiseSeed: 1234 };
    const a = new Float32Array(n);
    const b = new Float32Array(n);
    applyAugment(img, shape, noisy, a, 0, false);
    applyAugment(img, shape, noisy, b, 0, false);
    expect(Array.from(a)).toEqual(Array.from(b));
    let s2 = 0;
    for (let i = 0; i < n; i++) s2 += (a[i] - img[i]) ** 2;
    expect(Math.sqrt(s2 / n)).toBeGreaterThan(0.08);
    expect(Math.sqrt(s2 / n)).toBeLessThan(0.12);
    const l = new Int32Array(n);
    applyAugment(lab, shape, { ...noisy, gain: 3 }, l, 0, true);
    expect(Array.from(l)).toEqual(Array.from(lab));
  });

  it("'full' draws are seeded and each extra happens at about its probability", () => {
    const a = new Rng(3);
    const b = new Rng(3);
    let affine = 0;
    let gain = 0;
    let noise = 0;
    for (let i = 0; i < 4000; i++) {
      const s = drawAugment(a, 'full');
      expect(drawAugment(b, 'full')).toEqual(s);
      affine += s.affine ? 1 : 0;
      gain += s.gain !== undefined ? 1 : 0;
      noise += s.noise !== undefined ? 1 : 0;
    }
    expect(Math.abs(affine / 4000 - 0.51)).toBeLessThan(0.03); // 1 - 0.7 * 0.7
    expect(Math.abs(gain / 4000 - 0.15)).toBeLessThan(0.02);
    expect(Math.abs(noise / 4000 - 0.1)).toBeLessThan(0.02);
  });
});

describe('split', () => {
  const items = Array.from({ length: 260 }, (_, i) => ({ id: `c${i}` }));
  it('defaults to the first int(N * train_split) in order (the reference)', () => {
    const s = makeSplit(items, { trainSplit: 0.9 });
    expect(s.train).toHaveLength(234);
    expect(s.eval).toHaveLength(26);
    expect(s.train[0].id).toBe('c0');
    expect(s.eval[0].id).toBe('c234');
    expect(makeSplit(items.slice(0, 234), { trainSplit: 0.9 }).train).toHaveLength(210);
  });
  it('shuffles with a split seed, reproducibly, as a partition', () => {
    const a = makeSplit(items, { trainSplit: 0.9, splitSeed: 42 });
    const b = makeSplit(items, { trainSplit: 0.9, splitSeed: 42 });
    const c = makeSplit(items, { trainSplit: 0.9, splitSeed: 0 });
    expect(a).toEqual(b);
    expect(a.train).not.toEqual(c.train);
    expect(a.train.map((x) => x.id)).not.toEqual(items.slice(0, 234).map((x) => x.id));
    expect(new Set([...a.train, ...a.eval].map((x) => x.id)).size).toBe(260);
  });
  it('rejects a fraction outside [0, 1]', () => {
    expect(() => makeSplit(items, { trainSplit: 1.5 })).toThrow(/VNET_E_BAD_ARGUMENT/);
  });
  itData('writes the split atomically into the model folder and reads it back', () => {
    const dir = path.join(tmpDir('split'), 'model');
    const cases = loadDataset(DATA_DIR).training;
    const s = makeSplit(cases, { trainSplit: 0.9, splitSeed: 1 });
    const f = writeSplit(dir, s, { trainSplit: 0.9, splitSeed: 1 });
    expect(fs.readdirSync(dir)).toEqual(['split.json']);
    const back = readSplit(dir);
    expect(back?.train).toEqual(s.train.map((c) => c.id));
    expect(back?.eval).toHaveLength(24);
    expect(back?.splitSeed).toBe(1);
    expect(JSON.parse(fs.readFileSync(f, 'utf8')).version).toBe(1);
    expect(readSplit(path.join(dir, 'none'))).toBeUndefined();
  });
});
