// Several input channels in the data layer: MSD 4-D images and nnU-Net v2 per-channel files give
// C channels, each normalised on its own; batches are (N, D, H, W, C); every disagreement (a
// channel file missing, of another shape or grid, a 4-D file with the wrong number of volumes)
// is an error naming the file.
import fs from 'node:fs';
import path from 'node:path';
import { Loader, loadDataset, prepareCase, readImageChannels, validateDataset, imageSource } from '../../src/data/index.js';
import { buildNifti, cleanupTmp, tmpDir } from './helpers.js';
import { overwriteNii, writeTwoChannel } from './generated.js';

afterAll(cleanupTmp);

/** Mean and population std of a channel-first channel. */
function moments(a: Float32Array, c: number, C: number): [number, number] {
  const V = a.length / C, v = a.subarray(c * V, (c + 1) * V);
  let s = 0, q = 0;
  for (const x of v) s += x;
  const m = s / V;
  for (const x of v) q += (x - m) ** 2;
  return [m, Math.sqrt(q / V)];
}

describe.each(['msd', 'nnunet'] as const)('a two-channel dataset (%s layout)', (layout) => {
  let dir = '';
  beforeAll(() => {
    dir = tmpDir(`two-${layout}`);
    writeTwoChannel(dir, layout);
  });

  it('lists two channels, validates clean, and reads (C, D, H, W) channels', () => {
    const spec = loadDataset(dir);
    expect(spec.channels).toBe(2);
    expect(spec.modality).toEqual(['T1', 'T2']);
    if (layout === 'nnunet') {
      expect(spec.training[0].channels).toEqual([0, 1].map((k) => path.join(dir, 'imagesTr', `case_000_000${k}.nii`)));
      expect(spec.test[0].channels?.length).toBe(2);
    } else expect(spec.training[0].channels).toBeUndefined();
    const res = validateDataset(dir);
    expect(res.errors).toEqual([]);
    const img = readImageChannels(imageSource(spec.training[0]), 2);
    expect(img.shape).toEqual([20, 24, 16]);
    expect(img.data.length).toBe(2 * 20 * 24 * 16);
    // Channel 1 is on another scale (thousands): it really is the second channel, not a copy.
    expect(moments(img.data, 0, 2)[0]).toBeLessThan(400);
    expect(moments(img.data, 1, 2)[0]).toBeGreaterThan(1500);
  });

  it('normalises each channel on its own, at the input shape and at full resolution', () => {
    const spec = loadDataset(dir);
    for (const fullResolution of [false, true]) {
      const p = prepareCase(spec.training[1], [16, 16, 16], { fullResolution, input: { channels: 2 } });
      expect(p.channels).toBe(2);
      expect(p.image.length).toBe(2 * (fullResolution ? 20 * 24 * 16 : 16 ** 3));
      for (const c of [0, 1]) {
        const [m, s] = moments(p.image, c, 2);
        expect(Math.abs(m)).toBeLessThan(1e-4);
        expect(Math.abs(s - 1)).toBeLessThan(1e-4);
      }
    }
  });

  it('builds (N, D, H, W, C) batches whose channels interleave the prepared channels', async () => {
    const spec = loadDataset(dir);
    const shape: [number, number, number] = [16, 16, 16];
    const loader = new Loader({ cases: spec.training, batchSize: 2, mode: 'eval', inputShape: shape, workers: 0, input: { channels: 2 } });
    const V = 16 ** 3;
    for await (const b of loader.epoch(0)) {
      expect(b.images.length).toBe(b.size * V * 2);
      b.ids.forEach((id, i) => {
        const p = prepareCase(spec.training.find((c) => c.id === id)!, shape, { input: { channels: 2 } });
        for (const v of [0, 123, V - 1]) for (const c of [0, 1]) expect(b.images[(i * V + v) * 2 + c]).toBe(p.image[c * V + v]);
      });
      break;
    }
    await loader.close();
  });
});

describe('channel mismatches are errors naming the file', () => {
  const codesFor = (dir: string) => validateDataset(dir).errors.map((e) => [e.code, path.basename(e.file ?? '')]);

  it('nnU-Net: a missing channel file, one of another shape, one on another grid', () => {
    const dir = tmpDir('chan-bad');
    writeTwoChannel(dir, 'nnunet', { cases: 4, tests: 0 });
    fs.rmSync(path.join(dir, 'imagesTr', 'case_001_0001.nii'));
    overwriteNii(path.join(dir, 'imagesTr', 'case_002_0001.nii'), [20, 24, 14], new Float32Array(20 * 24 * 14));
    overwriteNii(path.join(dir, 'imagesTr', 'case_003_0001.nii'), [20, 24, 16], new Float32Array(20 * 24 * 16).fill(1), [1, 1, 2.5]);
    const codes = codesFor(dir);
    expect(codes).toContainEqual(['VNET_E_MISSING_FILE', 'case_001_0001.nii']);
    expect(codes).toContainEqual(['VNET_E_SHAPE_MISMATCH', 'case_002_0001.nii']);
    expect(codes).toContainEqual(['VNET_E_GEOMETRY', 'case_003_0001.nii']);
    // Reading refuses the same files, by name, with the same codes.
    const spec = loadDataset(dir);
    expect(() => readImageChannels(imageSource(spec.training[2]), 2)).toThrow(/VNET_E_SHAPE_MISMATCH .*case_002_0001\.nii/);
    expect(() => readImageChannels(imageSource(spec.training[3]), 2)).toThrow(/VNET_E_GEOMETRY .*case_003_0001\.nii/);
  });

  it('MSD: a 4-D file with three volumes, or a 3-D one, for two modalities', () => {
    const dir = tmpDir('chan-msd');
    writeTwoChannel(dir, 'msd', { cases: 3, tests: 0 });
    overwriteNii(path.join(dir, 'imagesTr', 'case_001.nii'), [20, 24, 16, 3], new Float32Array(3 * 20 * 24 * 16));
    overwriteNii(path.join(dir, 'imagesTr', 'case_002.nii'), [20, 24, 16], new Float32Array(20 * 24 * 16));
    const codes = codesFor(dir);
    expect(codes).toContainEqual(['VNET_E_CHANNEL_COUNT', 'case_001.nii']);
    expect(codes).toContainEqual(['VNET_E_CHANNEL_COUNT', 'case_002.nii']);
    const spec = loadDataset(dir);
    expect(() => prepareCase(spec.training[1], [16, 16, 16], { input: { channels: 2 } })).toThrow(/VNET_E_CHANNEL_COUNT .*case_001\.nii/);
  });

  it('a one-modality MSD dataset with a 4-D image is an error, not a silent cut to the last volume', () => {
    const dir = tmpDir('chan-one');
    writeTwoChannel(dir, 'msd', { cases: 2, tests: 0 });
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'dataset.json'), JSON.stringify({ ...json, modality: { 0: 'MRI' } }));
    expect(codesFor(dir)).toContainEqual(['VNET_E_CHANNEL_COUNT', 'case_000.nii']);
  });

  it('nnU-Net explicit cases must list one image per channel', () => {
    const dir = tmpDir('chan-explicit');
    fs.writeFileSync(path.join(dir, 'a.nii'), buildNifti({ datatype: 16, dims: [4, 4, 4], values: new Float32Array(64) }));
    fs.writeFileSync(path.join(dir, 'dataset.json'), JSON.stringify({
      channel_names: { 0: 'T1', 1: 'T2' }, labels: { background: 0, x: 1 }, file_ending: '.nii', dataset: { a: { images: ['a.nii'], label: 'a.nii' } },
    }));
    expect(validateDataset(dir).errors.map((e) => e.code)).toContain('VNET_E_CHANNEL_COUNT');
  });
});
