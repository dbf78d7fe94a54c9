// Resampling to a common spacing: nnU-Net's automatic target (median; the coarse axis of
// strongly anisotropic data at its 10th percentile), grids at a target spacing, bad spacings
// refused by file or flag, and a full-resolution model trained at a target spacing whose masks
// come back on each input's own grid and header.
import fs from 'node:fs';
import path from 'node:path';
import { autoTargetSpacing, gridAt, loadDataset, prepareCase, readGrids, readNiftiHeader, readNiftiLabels, resampleCubic, resampleLinear, type Shape3 } from '../../src/data/index.js';
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

  it('--resize_interpolator cubic: recorded in the model, images resampled cubically to the target spacing, masks on each input\'s grid', async () => {
    const spec = loadDataset(dir);
    const lin = prepareCase(spec.training[0], [16, 16, 16], { fullResolution: true, input: { targetSpacing: [1, 1, 1] } });
    const cub = prepareCase(spec.training[0], [16, 16, 16], { fullResolution: true, input: { targetSpacing: [1, 1, 1], interpolation: 'cubic' } });
    expect(cub.shape).toEqual(lin.shape);
    expect(cub.label).toEqual(lin.label);
    expect(Buffer.from(cub.image.buffer).equals(Buffer.from(lin.image.buffer))).toBe(false);
    const modelDir = path.join(tmpDir('spacing-cubic'), 'm');
    const o = { dataDir: dir, modelDir, batchSize: 2, inputShape: [16, 16, 16] as Shape3, downscaleBlocks: [1, 1], upscaleBlocks: [1], resize: 'none' as const, progress: false, report: false };
    await runMode('train_and_predict', withDefaults({ ...o, targetSpacing: [1, 1, 1], resizeInterpolator: 'cubic' }), { logger: quiet });
    expect(JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8')).model.imageInterpolation).toBe('cubic');
    expect(readNiftiHeader(path.join(modelDir, 'predictions', 'ct_004.nii.gz')).shape).toEqual([20, 24, 16]);
    // The reference's resize stays linear: cubic with a resized model is refused before anything is written.
    const refused = path.join(tmpDir('spacing-cubic-refused'), 'm');
    await expect(runMode('train', withDefaults({ dataDir: dir, modelDir: refused, batchSize: 2, resizeInterpolator: 'cubic' }), { logger: quiet })).rejects.toThrow(/--resize_interpolator cubic: cubic is for --resize none models/);
    expect(fs.existsSync(refused)).toBe(false);
  }, 120_000);
});

describe('cubic resampling', () => {
  /** Keys' kernel (a = -0.5) and the separable tricubic sum in float64, edges clamped: the definition. */
  const keys = (t: number) => { const x = Math.abs(t); return x <= 1 ? 1.5 * x ** 3 - 2.5 * x ** 2 + 1 : x < 2 ? -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2 : 0; };
  function reference(src: Float32Array, from: Shape3, to: Shape3): Float64Array {
    const taps = (n: number, m: number, j: number) => {
      const p = Math.min((j * n) / m, n - 1), b = Math.floor(p);
      return [0, 1, 2, 3].map((k) => [Math.min(Math.max(b - 1 + k, 0), n - 1), keys(p - b - (k - 1))] as const);
    };
    const out = new Float64Array(to[0] * to[1] * to[2]);
    for (let x = 0; x < to[0]; x++) for (let y = 0; y < to[1]; y++) for (let z = 0; z < to[2]; z++) {
      let v = 0;
      for (const [ix, wx] of taps(from[0], to[0], x)) for (const [iy, wy] of taps(from[1], to[1], y)) for (const [iz, wz] of taps(from[2], to[2], z)) v += wx * wy * wz * src[(ix * from[1] + iy) * from[2] + iz];
      out[(x * to[1] + y) * to[2] + z] = v;
    }
    return out;
  }
  const from: Shape3 = [7, 9, 5], to: Shape3 = [11, 6, 13];
  const field = (f: (x: number, y: number, z: number) => number, s: Shape3) => Float32Array.from({ length: s[0] * s[1] * s[2] }, (_, i) => f(Math.floor(i / (s[1] * s[2])), Math.floor(i / s[2]) % s[1], i % s[2]));

  it('matches the float64 definition, keeps constants, reproduces quadratics inside, and equals linear on a grid it does not change', () => {
    const rnd = field((x, y, z) => Math.sin(x * 1.3 + y * 0.7) * Math.cos(z * 2.1) * 100, from);
    const got = resampleCubic(rnd, from, to);
    const ref = reference(rnd, from, to);
    expect(Math.max(...got.map((v, i) => Math.abs(v - ref[i])))).toBeLessThan(1e-3);
    expect(resampleCubic(new Float32Array(7 * 9 * 5).fill(3.25), from, to).every((v) => Math.abs(v - 3.25) < 1e-5)).toBe(true);
    // A quadratic along x, sampled where all four taps are inside: exact (Keys' kernel is third-order accurate).
    const q = (x: number) => 0.5 * x * x - 2 * x + 1;
    const up = resampleCubic(field((x) => q(x), [7, 1, 1]), [7, 1, 1], [14, 1, 1]);
    for (let j = 2; j < 10; j++) expect(up[j]).toBeCloseTo(q((j * 7) / 14), 4);
    const same = resampleCubic(rnd, from, from);
    expect(Array.from(same)).toEqual(Array.from(resampleLinear(rnd, from, from, { outside: 'clamp' })));
  });
});
