// Normalisation by modality: the CT scheme (clip to the training foreground's 0.5 / 99.5
// percentiles, z-score with its mean and std) fitted on a generated CT-like dataset in
// Hounsfield units, the schemes --data_normalization picks, and the statistics themselves.
import { channelSchemes, fitIntensity, fingerprintCases, intensityStats, loadDataset, normalizeChannels, prepareCase } from '../../src/data/index.js';
import { runJob } from '../../src/data/jobs.js';
import { cleanupTmp, tmpDir } from './helpers.js';
import { writeCt, writeTwoChannel } from './generated.js';

afterAll(cleanupTmp);

describe('statistics', () => {
  it('percentiles interpolate between order statistics (numpy\'s default), std is the population one', () => {
    const s = intensityStats(Array.from({ length: 101 }, (_, i) => 100 - i));
    expect(s.p00_5).toBeCloseTo(0.5, 10);
    expect(s.median).toBe(50);
    expect(s.p99_5).toBeCloseTo(99.5, 10);
    expect(s.mean).toBe(50);
    expect(s.std).toBeCloseTo(Math.sqrt((101 * 101 - 1) / 12), 10);
    expect(intensityStats([]).count).toBe(0);
  });
});

describe('schemes by modality', () => {
  it('auto: CT channels get the CT scheme, the rest a z-score; a choice applies to every channel', () => {
    expect(channelSchemes(['CT', 'MRI'], 2)).toEqual(['ct', 'zscore']);
    expect(channelSchemes(['ct'], 1, 'auto')).toEqual(['ct']);
    expect(channelSchemes(['T1', 'T2'], 2, 'ct')).toEqual(['ct', 'ct']);
    expect(channelSchemes([], 1, 'none')).toEqual(['none']);
    expect(channelSchemes(['MRI'], 1)).toEqual(['zscore']);
  });
});

describe('a CT-like dataset in Hounsfield units', () => {
  let dir = '';
  beforeAll(() => {
    dir = tmpDir('ct');
    writeCt(dir);
  });

  it('fits the clip range and scale on the foreground (organ ~80 HU, lesion ~20 HU), not on air or bone', () => {
    const spec = loadDataset(dir);
    const [ct] = fitIntensity(spec.training, ['ct'])!;
    expect(ct.scheme).toBe('ct');
    const [lo, hi] = ct.clip!;
    // The foreground lies in 20 - 7.5 .. 80 + 7.5 HU: air (-1000) and bone (700+) are outside.
    expect(lo).toBeGreaterThan(10);
    expect(lo).toBeLessThan(25);
    expect(hi).toBeGreaterThan(75);
    expect(hi).toBeLessThan(90);
    expect(ct.mean!).toBeGreaterThan(20);
    expect(ct.mean!).toBeLessThan(80);
    expect(ct.std!).toBeGreaterThan(5);
    // The same numbers as the fingerprint's foreground statistics.
    const fp = fingerprintCases(spec.training, 1, 3);
    expect(fp.foreground[0].p00_5).toBe(lo);
    expect(fp.classFractions.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
  });

  it('prepared images are clipped then scaled with the stored statistics, in training and at inference alike', () => {
    const spec = loadDataset(dir);
    const intensity = fitIntensity(spec.training, ['ct'])!;
    const [lo, hi] = intensity[0].clip!, m = intensity[0].mean!, s = intensity[0].std!;
    const p = prepareCase(spec.training[0], [16, 16, 16], { input: { channels: 1, intensity } });
    let min = Infinity, max = -Infinity;
    for (const v of p.image) { min = Math.min(min, v); max = Math.max(max, v); }
    expect(min).toBeCloseTo((lo - m) / s, 4); // air, clipped
    expect(max).toBeCloseTo((hi - m) / s, 4); // bone, clipped
    // The inference decode job applies the same normalisation to the same file.
    const dec = runJob({ kind: 'decode', shape: [16, 16, 16], src: spec.training[0].image, input: { channels: 1, intensity } }, false);
    expect(Array.from(dec.images!)).toEqual(Array.from(p.image));
  });

  it('"none" passes intensities through; CT without statistics is refused', () => {
    const v = Float32Array.from([-1000, 40, 700]);
    expect(Array.from(normalizeChannels(v.slice(), 1, [{ scheme: 'none' }]))).toEqual([-1000, 40, 700]);
    expect(() => normalizeChannels(v.slice(), 1, [{ scheme: 'ct' }])).toThrow(/VNET_E_BAD_ARGUMENT.*training statistics/);
  });

  it('an all-z-score choice needs no statistics (and reads nothing); CT without foreground is an error', () => {
    expect(fitIntensity([], ['zscore'])).toBeUndefined();
    expect(fitIntensity([], ['none', 'zscore'])).toEqual([{ scheme: 'none' }, { scheme: 'zscore' }]);
    const d2 = tmpDir('two');
    writeTwoChannel(d2, 'msd', { cases: 1, tests: 0 });
    const spec = loadDataset(d2);
    expect(() => fitIntensity(spec.training.map((c) => ({ ...c, label: undefined })), ['ct', 'ct'])).toThrow(/needs foreground voxels/);
  });
});
