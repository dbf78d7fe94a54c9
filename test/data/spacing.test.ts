// Resampling to a common spacing: nnU-Net's automatic target (median; the coarse axis of
// strongly anisotropic data at its 10th percentile), grids at a target spacing, bad spacings
// refused by file or flag, and a full-resolution model trained at a target spacing whose masks
// come back on each input's own grid and header.
import fs from 'node:fs';
import path from 'node:path';
import { autoTargetSpacing, gridAt, loadDataset, prepareCase, readGrids, readNiftiHeader, readNiftiLabels, type Shape3 } from '../../src/data/index.js';
import { targetSpacingFlag, UsageError } from '../../src/cli/flags.js';
import { runMode, withDefaults } from '../../src/runner/index.js';
import { buildNifti, cleanupTmp, tmpDir } from './helpers.js';
import { writeCt } from './generated.js';

afterAll(cleanupTmp);
const quiet = { log() {}, info() {}, progress() {}, close() {} };
const g = (spacing: [number, number, number], shape: Shape3 = [100, 100, 100]) => ({ spacing, shape });

describe('the automatic target spacing', () => {
  it('is the median spacing of each axis', () => {
    expect(autoTargetSpacing([g([1, 1, 1]), g([0.8, 0.9, 1.2]), g([1.2, 1, 3])])).toEqual([1, 1, 1.2]);
  });

  it('takes a strongly anisotropic coarse axis at its 10th percentile, never finer than the other axes', () => {
    const thick = [3, 5, 5, 5, 6].map((z) => g([0.8, 0.8, z], [512, 512, 40]));
    const t = autoTargetSpacing(thick);
    expect(t[0]).toBe(0.8);
    expect(t[2]).toBeCloseTo(3.8, 10); // 10th percentile of 3, 5, 5, 5, 6
    // Coarse spacing but many slices: not anisotropic in voxels, so the median stays.
    expect(autoTargetSpacing([3, 5, 5, 5, 6].map((z) => g([0.8, 0.8, z], [512, 512, 400])))[2]).toBe(5);
  });

  it('keeps the extent when it changes the grid', () => {
    expect(gridAt([20, 24, 16], [1, 1, 2], [1, 1, 1])).toEqual([20, 24, 32]);
    expect(gridAt([3, 3, 3], [0.1, 0.1, 0.1], [5, 5, 5])).toEqual([1, 1, 1]);
  });
});

describe('bad spacings', () => {
  it.each([[0, 'zero'], [NaN, 'NaN']])('a header spacing of %s is an error naming the file', (bad) => {
    const d = tmpDir('spacing-bad');
    const f = path.join(d, 'img.nii');
    fs.writeFileSync(f, buildNifti({ datatype: 16, dims: [4, 4, 4], values: new Float32Array(64), pixdim: [1, bad, 1] }));
    expect(() => readGrids([f])).toThrow(new RegExp(`VNET_E_GEOMETRY ${f.replace(/[.]/g, '\\.')}`));
  });

  it('--target_spacing needs auto, none or three positive sizes', () => {
    expect(targetSpacingFlag(['auto'])).toBe('auto');
    expect(targetSpacingFlag(['1', '1', '2.5'])).toEqual([1, 1, 2.5]);
    for (const v of [['0', '1', '1'], ['1', '1'], ['NaN', '1', '1'], ['fast']]) expect(() => targetSpacingFlag(v)).toThrow(UsageError);
    expect(() => targetSpacingFlag(['-1', '1', '1'])).toThrow(/--target_spacing/);
  });

  it('--target_spacing auto with a resized model is refused before anything is written', async () => {
    const d = tmpDir('spacing-flag');
    writeCt(d, { cases: 2, tests: 0 });
    const modelDir = path.join(d, 'model');
    await expect(runMode('train', withDefaults({ dataDir: d, modelDir, batchSize: 1, targetSpacing: 'auto' }), { logger: quiet })).rejects.toThrow(/--target_spacing/);
    expect(fs.existsSync(modelDir)).toBe(false);
  });
});

describe('a dataset at 1 x 1 x 2 mm resampled to 1 mm', () => {
  let dir = '';
  beforeAll(() => {
    dir = tmpDir('spacing');
    writeCt(dir, { cases: 4, tests: 1, pixdim: [1, 1, 2] });
  });

  it('prepares full-resolution cases on the target grid (labels by nearest neighbour)', () => {
    const spec = loadDataset(dir);
    const p = prepareCase(spec.training[0], [16, 16, 16], { fullResolution: true, input: { targetSpacing: [1, 1, 1] } });
    expect(p.originalShape).toEqual([20, 24, 16]);
    expect(p.shape).toEqual([20, 24, 32]);
    expect(p.image.length).toBe(20 * 24 * 32);
    // Nearest neighbour: slice 2k of the new grid is slice k of the old.
    const lab = readNiftiLabels(spec.training[0].label).data;
    for (const [x, y, z] of [[10, 12, 8], [5, 5, 3], [12, 10, 10]]) expect(p.label![(x * 24 + y) * 32 + 2 * z]).toBe(lab[(x * 24 + y) * 16 + z]);
  });

  it('trains at the target spacing (auto: the median) and writes masks at each input\'s own grid and header', async () => {
    const modelDir = path.join(tmpDir('spacing-model'), 'm');
    const o = { dataDir: dir, modelDir, batchSize: 2, inputShape: [16, 16, 16] as Shape3, downscaleBlocks: [1, 1], upscaleBlocks: [1], resize: 'none' as const, progress: false, report: false };
    await runMode('train_and_predict', withDefaults({ ...o, targetSpacing: [1, 1, 1] }), { logger: quiet });
    expect(JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8')).model.targetSpacing).toEqual([1, 1, 1]);
    const mask = path.join(modelDir, 'predictions', 'ct_004.nii.gz');
    const h = readNiftiHeader(mask);
    expect(h.shape).toEqual([20, 24, 16]);
    expect(h.header.pixdim.slice(1, 4)).toEqual([1, 1, 2]);
    const auto = path.join(tmpDir('spacing-auto'), 'm');
    await runMode('train', withDefaults({ ...o, modelDir: auto }), { logger: quiet });
    expect(JSON.parse(fs.readFileSync(path.join(auto, 'config.json'), 'utf8')).model.targetSpacing).toEqual([1, 1, 2]);
  }, 120_000);
});
