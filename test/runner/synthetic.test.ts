// The synthetic dataset: passes the project's validator, reads back with the project's reader,
// has the header we promise, two touching classes with distinct intensities, and is seeded.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { loadDataset, parseNiftiHeader, niftiAffine, readNifti, readNiftiLabels, validateDataset } from '../../src/data/index.js';
import { writeSyntheticDataset } from '../../src/data/synthetic.js';

const dirs: string[] = [];
const tmp = () => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'vnet-synth-')); dirs.push(d); return d; };
afterAll(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

describe('writeSyntheticDataset', () => {
  const dir = tmp();
  const summary = writeSyntheticDataset(dir, { cases: 5, testCases: 2, seed: 7 });

  it('writes an MSD layout that validates without errors or warnings', () => {
    expect(summary.training).toHaveLength(5);
    expect(summary.test).toHaveLength(2);
    const res = validateDataset(dir);
    expect(res.errors).toEqual([]);
    expect(res.warnings).toEqual([]);
    expect(res.cases).toBe(5);
    expect(res.testCases).toBe(2);
    const j = JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8'));
    expect(j).toMatchObject({
      tensorImageSize: '3D', modality: { 0: 'MRI' }, labels: { 0: 'background', 1: 'Anterior', 2: 'Posterior' },
      numTraining: 5, numTest: 2,
    });
    expect(j.training[0]).toEqual({ image: `./imagesTr/${summary.training[0]}.nii.gz`, label: `./labelsTr/${summary.training[0]}.nii.gz` });
    expect(j.test[0]).toBe(`./imagesTs/${summary.test[0]}.nii.gz`);
    const spec = loadDataset(dir);
    expect(spec.labels.map((l) => l.name)).toEqual(['background', 'Anterior', 'Posterior']);
  });

  it('writes the promised NIfTI-1 header', () => {
    const raw = zlib.gunzipSync(fs.readFileSync(path.join(dir, 'labelsTr', `${summary.training[0]}.nii.gz`)));
    const h = parseNiftiHeader(raw);
    expect(h.version).toBe(1);
    expect(h.headerSize).toBe(348);
    expect(h.magic).toBe('n+1');
    expect(raw[347]).toBe(0);
    expect(h.datatype).toBe(2);
    expect(h.bitpix).toBe(8);
    expect(h.voxOffset).toBe(352);
    expect(h.sclSlope).toBe(1);
    expect(h.pixdim.slice(1, 4)).toEqual([1, 1, 1]);
    expect([h.qformCode, h.sformCode]).toEqual([1, 1]);
    expect(niftiAffine(h)).toEqual([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]);
    expect(raw.length).toBe(352 + h.dim[1] * h.dim[2] * h.dim[3]);
    const img = parseNiftiHeader(zlib.gunzipSync(fs.readFileSync(path.join(dir, 'imagesTr', `${summary.training[0]}.nii.gz`))));
    expect([img.datatype, img.bitpix]).toEqual([16, 32]);
  });

  it('reads back: matching shapes near 36x48x36, two adjoining classes brighter than background', () => {
    for (const id of summary.training) {
      const img = readNifti(path.join(dir, 'imagesTr', `${id}.nii.gz`));
      const lab = readNiftiLabels(path.join(dir, 'labelsTr', `${id}.nii.gz`));
      expect(lab.shape).toEqual(img.shape);
      [36, 48, 36].forEach((s, i) => expect(Math.abs(img.shape[i] - s)).toBeLessThanOrEqual(2));
      const [D, H, W] = lab.shape;
      const count = [0, 0, 0];
      const sum = [0, 0, 0];
      let touching = 0;
      let bad = 0;
      for (let i = 0; i < lab.data.length; i++) {
        const v = lab.data[i];
        if (v !== 0 && v !== 1 && v !== 2) { bad++; continue; }
        count[v]++;
        sum[v] += img.data[i];
        // A class-1 voxel with a class-2 6-neighbour: the structures adjoin.
        if (v === 1) {
          const d = Math.floor(i / (H * W));
          const h = Math.floor(i / W) % H;
          const w = i % W;
          if ((d > 0 && lab.data[i - H * W] === 2) || (d < D - 1 && lab.data[i + H * W] === 2) || (h > 0 && lab.data[i - W] === 2)
            || (h < H - 1 && lab.data[i + W] === 2) || (w > 0 && lab.data[i - 1] === 2) || (w < W - 1 && lab.data[i + 1] === 2)) touching++;
        }
      }
      expect(bad).toBe(0);
      // Both classes are real structures: the generator's smallest draws give ~240 voxels a class
      // (measured over 48 cases of 4 seeds: 243..764).
      expect(count[1]).toBeGreaterThan(200);
      expect(count[2]).toBeGreaterThan(200);
      expect(touching).toBeGreaterThan(20);
      const mean = sum.map((s, k) => s / count[k]);
      expect(mean[1]).toBeGreaterThan(mean[0] * 2);
      expect(mean[2]).toBeGreaterThan(mean[0] * 1.6);
      expect(mean[1]).toBeGreaterThan(mean[2] * 1.15);
    }
  });

  it('is deterministic under the seed and differs across seeds', () => {
    const again = tmp();
    writeSyntheticDataset(again, { cases: 5, testCases: 2, seed: 7 });
    const other = tmp();
    writeSyntheticDataset(other, { cases: 5, testCases: 2, seed: 8 });
    for (const f of ['dataset.json', `imagesTr/${summary.training[3]}.nii.gz`, `labelsTr/${summary.training[4]}.nii.gz`, `imagesTs/${summary.test[1]}.nii.gz`]) {
      expect(fs.readFileSync(path.join(again, f)).equals(fs.readFileSync(path.join(dir, f)))).toBe(true);
    }
    const f = `labelsTr/${summary.training[0]}.nii.gz`;
    expect(fs.readFileSync(path.join(other, f)).equals(fs.readFileSync(path.join(dir, f)))).toBe(false);
  });

  it('refuses to overwrite a dataset that is not synthetic', () => {
    const d = tmp();
    fs.writeFileSync(path.join(d, 'dataset.json'), JSON.stringify({ name: 'Hippocampus' }));
    expect(() => writeSyntheticDataset(d, { cases: 1, testCases: 0 })).toThrow(/VNET_E_DATA_EXISTS/);
    expect(JSON.parse(fs.readFileSync(path.join(d, 'dataset.json'), 'utf8')).name).toBe('Hippocampus');
    // Re-generating over a synthetic one is fine.
    expect(() => writeSyntheticDataset(dir, { cases: 5, testCases: 2, seed: 7 })).not.toThrow();
  });
});
