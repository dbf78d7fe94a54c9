// dataset.json parsing: the real MSD file, an nnU-Net v2 layout (symlinks to real files), the
// data folder override.
import fs from 'node:fs';
import path from 'node:path';
import { loadDataset, inspectDataset } from '../../src/data/dataset.js';
import { defaultDataDir, repoRoot } from '../../src/data/paths.js';
import { readNiftiLabels } from '../../src/data/nifti.js';
import { DATA_DIR, cleanupTmp, itData, real, tmpDir } from './helpers.js';

afterAll(cleanupTmp);

describe('MSD dataset.json', () => {
  itData('parses the real Task04 file in JSON order with absolute paths', () => {
    const s = loadDataset(DATA_DIR);
    expect(s.format).toBe('msd');
    expect(s.training).toHaveLength(234);
    expect(s.test).toHaveLength(27);
    expect(s.labels).toEqual([{ value: 0, name: 'background' }, { value: 1, name: 'Anterior' }, { value: 2, name: 'Posterior' }]);
    expect(s.modality).toEqual(['MRI']);
    expect(s.training[0]).toEqual({ id: 'hippocampus_001', image: real('001'), label: real('001', 'label') });
    expect(s.test[0].id).toBe('hippocampus_011');
    expect(s.test[0].label).toBeUndefined();
    expect(s.training.every((c) => path.isAbsolute(c.image) && fs.existsSync(c.label))).toBe(true);
  });

  it('reports a missing training list and a missing file', () => {
    const d = tmpDir('ds');
    fs.writeFileSync(path.join(d, 'dataset.json'), JSON.stringify({ labels: { 0: 'bg' } }));
    expect(inspectDataset(d).errors.map((e) => e.code)).toEqual(['VNET_E_MISSING_KEY']);
    expect(() => loadDataset(path.join(d, 'nope'))).toThrow(/VNET_E_NO_DATASET_JSON/);
  });
});

describe('nnU-Net v2 dataset.json', () => {
  itData('discovers <case>_0000 images and <case> labels, ignoring dot files', () => {
    const d = tmpDir('nnunet');
    for (const sub of ['imagesTr', 'labelsTr', 'imagesTs']) fs.mkdirSync(path.join(d, sub));
    for (const n of ['017', '001', '044']) {
      fs.symlinkSync(real(n), path.join(d, 'imagesTr', `hippo_${n}_0000.nii.gz`));
      fs.symlinkSync(real(n, 'label'), path.join(d, 'labelsTr', `hippo_${n}.nii.gz`));
    }
    fs.writeFileSync(path.join(d, 'imagesTr', '._hippo_001_0000.nii.gz'), 'mac junk');
    fs.symlinkSync(real('101'), path.join(d, 'imagesTs', 'hippo_101_0000.nii.gz'));
    fs.writeFileSync(path.join(d, 'dataset.json'), JSON.stringify({
      channel_names: { 0: 'MRI' }, labels: { background: 0, Anterior: 1, Posterior: 2 }, numTraining: 3, file_ending: '.nii.gz',
    }));
    const s = loadDataset(d);
    expect(s.format).toBe('nnunetv2');
    expect(s.training.map((c) => c.id)).toEqual(['hippo_001', 'hippo_017', 'hippo_044']);
    expect(s.training[1].label).toBe(path.join(d, 'labelsTr', 'hippo_017.nii.gz'));
    expect(s.test.map((c) => c.id)).toEqual(['hippo_101']);
    expect(s.labels.map((l) => l.name)).toEqual(['background', 'Anterior', 'Posterior']);
    expect(new Set(readNiftiLabels(s.training[0].label).data)).toEqual(new Set([0, 1, 2]));
    expect(inspectDataset(d).warnings).toEqual([]);
  });

  it('rejects region labels with a clear code (two channels are fine: test/data/channels.test.ts)', () => {
    const d = tmpDir('nnunet');
    fs.mkdirSync(path.join(d, 'imagesTr'));
    fs.writeFileSync(path.join(d, 'dataset.json'), JSON.stringify({ channel_names: { 0: 'T1', 1: 'T2' }, labels: { background: 0, whole: [1, 2] }, file_ending: '.nii.gz' }));
    const codes = inspectDataset(d).errors.map((e) => e.code);
    expect(codes).not.toContain('VNET_E_UNSUPPORTED');
    expect(codes).toContain('VNET_E_BAD_JSON');
  });
});

describe('data folder', () => {
  it('defaults to ../shared/data/Task04_Hippocampus and honours VNET_DATA_DIR', () => {
    const saved = process.env.VNET_DATA_DIR;
    try {
      delete process.env.VNET_DATA_DIR;
      expect(defaultDataDir()).toBe(path.resolve(repoRoot(), '../shared/data/Task04_Hippocampus'));
      process.env.VNET_DATA_DIR = '/some/where';
      expect(defaultDataDir()).toBe('/some/where');
    } finally {
      if (saved === undefined) delete process.env.VNET_DATA_DIR;
      else process.env.VNET_DATA_DIR = saved;
    }
  });
});
