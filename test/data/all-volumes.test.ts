// The slow one: every volume of the real dataset (234 training pairs + 27 test images) reads
// with a plausible shape, labels are exactly {0,1,2} with the image's shape, preprocessing is
// finite, and resample-then-inverse keeps Dice high for every case.
import { loadDataset } from '../../src/data/dataset.js';
import { readNifti, readNiftiLabels } from '../../src/data/nifti.js';
import { preprocessImage, preprocessLabel } from '../../src/data/preprocess.js';
import { restoreLabels } from '../../src/data/resample.js';
import { DATA_DIR, HAVE_DATA, dice, itData } from './helpers.js';

const spec = HAVE_DATA ? loadDataset(DATA_DIR) : undefined;

describe('all 261 volumes', () => {
  itData('read, shapes, label values, finite preprocessing, inverse Dice', () => {
    const s = spec!;
    expect(s.training.length + s.test.length).toBe(261);
    const t0 = performance.now();
    const dices: number[] = [];
    for (const c of [...s.training, ...s.test]) {
      const img = readNifti(c.image);
      const [nx, ny, nz] = img.shape;
      // SOURCE.md: 31-43 x 40-59 x 24-47 voxels.
      expect(nx >= 31 && nx <= 43 && ny >= 40 && ny <= 59 && nz >= 24 && nz <= 47).toBe(true);
      const pre = preprocessImage(img.data, img.shape);
      let sum = 0;
      let sq = 0;
      for (let i = 0; i < pre.length; i++) { sum += pre[i]; sq += pre[i] * pre[i]; }
      expect(Math.abs(sum / pre.length)).toBeLessThan(1e-4); // z-scored: mean 0, std 1, no NaN
      expect(Math.abs(sq / pre.length - 1)).toBeLessThan(1e-3);
      if (!c.label) continue;
      const lab = readNiftiLabels(c.label);
      expect(lab.shape).toEqual(img.shape);
      expect([...new Set(lab.data)].sort()).toEqual([0, 1, 2]);
      const small = preprocessLabel(lab.data, lab.shape);
      const probs = new Float32Array(small.length * 3);
      for (let i = 0; i < small.length; i++) probs[i * 3 + small[i]] = 1;
      const back = restoreLabels(probs, [32, 32, 32], 3, lab.shape);
      dices.push((dice(back, lab.data, 1) + dice(back, lab.data, 2)) / 2);
    }
    const mean = dices.reduce((a, b) => a + b, 0) / dices.length;
    console.log(`261 volumes checked in ${((performance.now() - t0) / 1000).toFixed(1)} s; resample->inverse Dice mean ${mean.toFixed(4)}, min ${Math.min(...dices).toFixed(4)}`);
    expect(dices).toHaveLength(234);
    expect(Math.min(...dices)).toBeGreaterThan(0.85);
    expect(mean).toBeGreaterThan(0.9);
  });
});
