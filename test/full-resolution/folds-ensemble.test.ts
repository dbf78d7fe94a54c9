// Cross-validation folds (disjoint, covering, seeded), ensemble averaging (pure, and through the
// segmenter: a model with itself is the model; two models give the argmax of their mean), and
// the CV summary's means.
import zlib from 'node:zlib';
import { argmaxChannels, prepareCase, readNiftiLabels } from '../../src/data/index.js';
import { foldOf, foldSplit } from '../../src/data/folds.js';
import { VNet } from '../../src/nn/index.js';
import { cvSummary, type FoldResult } from '../../src/runner/cv.js';
import { checkMembers } from '../../src/infer/ensemble.js';
import { averageProbs, caseProbs } from '../../src/infer/probs.js';
import { Segmenter } from '../../src/infer/segmenter.js';
import { itData, real } from '../data/helpers.js';

describe('folds', () => {
  it('are disjoint, cover every case, differ in size by at most one, and follow the seed', () => {
    for (const [n, F] of [[5, 2], [7, 5], [234, 5], [10, 10]]) {
      const items = Array.from({ length: n }, (_, i) => `c${i}`);
      const seen = new Map<string, number>();
      const sizes: number[] = [];
      for (let k = 0; k < F; k++) {
        const s = foldSplit(items, F, k, 3);
        expect(s.train.length + s.eval.length).toBe(n);
        expect(s.train.filter((c) => s.eval.includes(c))).toEqual([]);
        for (const c of s.eval) seen.set(c, (seen.get(c) ?? 0) + 1);
        sizes.push(s.eval.length);
      }
      expect(seen.size).toBe(n);
      expect([...seen.values()].every((v) => v === 1)).toBe(true);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
    expect(foldOf(50, 5, 1)).toEqual(foldOf(50, 5, 1));
    expect(foldOf(50, 5, 1)).not.toEqual(foldOf(50, 5, 2));
    expect(() => foldSplit(['a', 'b'], 1, 0)).toThrow(/folds/);
    expect(() => foldSplit(['a', 'b'], 2, 2)).toThrow(/fold must/);
    expect(() => foldSplit(['a'], 2, 0)).toThrow(/at least 2 cases/);
  });
});

describe('ensembles', () => {
  it('average member probabilities element-wise', () => {
    const a = Float32Array.from([0.2, 0.8, 1, 0]), b = Float32Array.from([0.6, 0.4, 0, 1]);
    expect(Array.from(averageProbs([a, b]))).toEqual([0.4000000059604645, 0.6000000238418579, 0.5, 0.5]);
    expect(averageProbs([a])).toBe(a);
    expect(() => averageProbs([a, new Float32Array(3)])).toThrow(/different sizes/);
    expect(() => averageProbs([])).toThrow(/no members/);
  });

  it('refuse members that read the input differently', () => {
    const a = new VNet({ inputShape: [16, 16, 16], downscaleBlocks: [1, 1], upscaleBlocks: [1] });
    const b = new VNet({ inputShape: [16, 16, 16], downscaleBlocks: [1, 1], upscaleBlocks: [1], resize: 'none' });
    try {
      expect(() => checkMembers([a, b], ['A', 'B'])).toThrow(/B reads its input at full resolution but A resized to 16x16x16/);
      expect(() => checkMembers([a, a], ['A', 'A'])).not.toThrow();
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  itData('through the segmenter: a model with itself is the model; two models give the argmax of the mean', async () => {
    const cfg = { inputShape: [16, 16, 16] as [number, number, number], downscaleBlocks: [1, 1], upscaleBlocks: [1] };
    const labels = [0, 1, 2].map((value) => ({ value, name: String(value) }));
    const a = new VNet(cfg, { seed: 1 }), b = new VNet(cfg, { seed: 2 });
    a.training = b.training = false;
    const mask = async (members: VNet[]) => {
      const seg = new Segmenter(a, labels, { workers: 0, members });
      try {
        return readNiftiLabels(zlib.gunzipSync((await seg.segmentBatch([real('006')]))[0].mask)).data;
      } finally {
        await seg.dispose();
      }
    };
    try {
      const alone = await mask([]);
      expect(await mask([a])).toEqual(alone);
      const p = prepareCase({ id: '002', image: real('006') }, cfg.inputShape);
      const mean = averageProbs([a, b].map((n) => caseProbs(n, p.image, p.originalShape)));
      const both = await mask([b]);
      expect(both).toEqual(argmaxChannels(mean, 3));
      expect(both).not.toEqual(alone);
    } finally {
      a.dispose();
      b.dispose();
    }
  });
});

describe('CV summary', () => {
  it('means each class over the folds, skipping NaN', () => {
    const fold = (k: number, d1: number, h1: number, d2: number): FoldResult => ({
      fold: k, model_dir: `m/fold_${k}`, cases: 3,
      mean: { 1: { Dice: d1, HD95: h1 }, 2: { Dice: d2, HD95: 1 } }, foreground_mean: { Dice: (d1 + d2) / 2, HD95: (h1 + 1) / 2 },
    });
    const s = cvSummary([fold(0, 0.8, 2, 0.6), fold(1, 0.9, NaN, 0.7), fold(2, 0.7, 4, 0.8)], 0);
    expect(s.folds).toBe(3);
    expect(s.mean['1'].Dice).toBeCloseTo(0.8, 12);
    expect(s.mean['1'].HD95).toBeCloseTo(3, 12);
    expect(s.mean['2'].Dice).toBeCloseTo(0.7, 12);
    expect(s.foreground_mean.Dice).toBeCloseTo(0.75, 12);
    expect(s.per_fold.map((f) => f.fold)).toEqual([0, 1, 2]);
  });
});
