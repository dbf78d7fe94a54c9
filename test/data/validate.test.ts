// validateDataset: the real data is clean; corrupt and mismatched fixtures (made here, in a
// temp folder, from copies of real cases) each give their stable code on the right file.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { formatProblems, validateDataset } from '../../src/data/validate.js';
import { readNifti } from '../../src/data/nifti.js';
import { DATA_DIR, buildNifti, cleanupTmp, itData, real, tmpDir } from './helpers.js';

afterAll(cleanupTmp);

const LINE = /^VNET_[EW]_[A-Z0-9_]+ \S+: .+$/;

describe('validateDataset', () => {
  itData('the real Task04 data has no problems', () => {
    const r = validateDataset(DATA_DIR);
    expect(formatProblems([...r.errors, ...r.warnings])).toBe('');
    expect(r.cases).toBe(234);
    expect(r.testCases).toBe(27);
    expect(r.format).toBe('msd');
  });

  it('dataset.json problems: missing, unreadable, incomplete', () => {
    const d = tmpDir('val');
    expect(validateDataset(d).errors.map((e) => e.code)).toEqual(['VNET_E_NO_DATASET_JSON']);
    fs.writeFileSync(path.join(d, 'dataset.json'), '{"training": [');
    expect(validateDataset(d).errors.map((e) => e.code)).toEqual(['VNET_E_BAD_JSON']);
    fs.writeFileSync(path.join(d, 'dataset.json'), '{"training": [], "labels": {"0": "bg"}}');
    expect(validateDataset(d).errors.map((e) => e.code)).toEqual(['VNET_E_NO_CASES']);
    fs.writeFileSync(path.join(d, 'dataset.json'), '{"training": [{"image": "a.nii.gz"}], "test": []}');
    expect(validateDataset(d).errors.map((e) => e.code).sort()).toEqual(['VNET_E_MISSING_KEY']);
  });

  itData('every corrupt or mismatched case is reported with its code and file', () => {
    const d = tmpDir('val');
    for (const s of ['imagesTr', 'labelsTr']) fs.mkdirSync(path.join(d, s));
    const I = (n: string) => path.join(d, 'imagesTr', n);
    const L = (n: string) => path.join(d, 'labelsTr', n);
    const gz = (f: string) => fs.readFileSync(f);
    // a: fine
    fs.copyFileSync(real('001'), I('a.nii.gz')); fs.copyFileSync(real('001', 'label'), L('a.nii.gz'));
    // b: image missing
    fs.copyFileSync(real('001', 'label'), L('b.nii.gz'));
    // c: truncated gzip
    fs.writeFileSync(I('c.nii.gz'), gz(real('001')).subarray(0, 3000)); fs.copyFileSync(real('001', 'label'), L('c.nii.gz'));
    // d: flipped header bytes
    const raw = zlib.gunzipSync(gz(real('001')));
    const flipped = Buffer.from(raw); flipped[0] ^= 0x5a; flipped[1] ^= 0xa5;
    fs.writeFileSync(I('d.nii.gz'), zlib.gzipSync(flipped)); fs.copyFileSync(real('001', 'label'), L('d.nii.gz'));
    // e: data shorter than the header says (uncompressed)
    fs.writeFileSync(I('e.nii'), raw.subarray(0, raw.length - 100)); fs.copyFileSync(real('001', 'label'), L('e.nii.gz'));
    // f: label of another shape
    fs.copyFileSync(real('001'), I('f.nii.gz')); fs.copyFileSync(real('017', 'label'), L('f.nii.gz'));
    // g, h, i: synthetic 4x4x4 cases
    const vals = (f: (i: number) => number) => Array.from({ length: 64 }, (_, i) => f(i));
    fs.writeFileSync(I('g.nii'), buildNifti({ datatype: 16, dims: [4, 4, 4], values: vals((i) => i) }));
    fs.writeFileSync(L('g.nii'), buildNifti({ datatype: 16, dims: [4, 4, 4], values: vals((i) => [0, 1, 5, 1.5][i % 4]) }));
    fs.writeFileSync(I('h.nii'), buildNifti({ datatype: 16, dims: [4, 4, 4], values: vals((i) => (i === 7 ? NaN : i === 9 ? Infinity : i)) }));
    fs.writeFileSync(L('h.nii'), buildNifti({ datatype: 2, dims: [4, 4, 4], values: vals((i) => i % 3) }));
    fs.writeFileSync(I('i.nii'), buildNifti({ datatype: 16, dims: [4, 4, 4], values: vals((i) => i) }));
    fs.writeFileSync(L('i.nii'), buildNifti({ datatype: 2, dims: [4, 4, 4], values: vals((i) => i % 3), pixdim: [1, 1, 2.5] }));
    const entry = (n: string, ie = '.nii.gz', le = '.nii.gz') => ({ image: `./imagesTr/${n}${ie}`, label: `./labelsTr/${n}${le}` });
    fs.writeFileSync(path.join(d, 'dataset.json'), JSON.stringify({
      labels: { 0: 'bg', 1: 'a', 2: 'b' }, modality: { 0: 'MRI' }, test: [], numTraining: 99,
      training: [entry('a'), entry('b'), entry('c'), entry('d'), entry('e', '.nii'), entry('f'), entry('g', '.nii', '.nii'), entry('h', '.nii', '.nii'), entry('i', '.nii', '.nii')],
    }));
    const r = validateDataset(d);
    const got = (list: typeof r.errors) => list.map((p) => `${p.code} ${path.relative(d, p.file ?? '')}`).sort();
    expect(got(r.errors)).toEqual([
      'VNET_E_CORRUPT_FILE imagesTr/c.nii.gz',
      'VNET_E_CORRUPT_FILE imagesTr/d.nii.gz',
      'VNET_E_CORRUPT_FILE imagesTr/e.nii',
      'VNET_E_LABEL_VALUES labelsTr/g.nii',
      'VNET_E_MISSING_FILE imagesTr/b.nii.gz',
      'VNET_E_NONFINITE imagesTr/h.nii',
      'VNET_E_SHAPE_MISMATCH labelsTr/f.nii.gz',
    ]);
    expect(got(r.warnings)).toEqual(['VNET_W_COUNT_MISMATCH dataset.json', 'VNET_W_GEOMETRY_MISMATCH labelsTr/i.nii']);
    expect(r.errors.find((p) => p.code === 'VNET_E_LABEL_VALUES')?.message).toMatch(/1\.5, 5/);
    expect(r.errors.find((p) => p.code === 'VNET_E_NONFINITE')?.message).toMatch(/^2 /);
    expect(r.errors.find((p) => p.code === 'VNET_E_CORRUPT_FILE' && p.file?.endsWith('e.nii'))?.message).toMatch(/shorter/);
    expect(readNifti(real('017', 'label')).shape).not.toEqual(readNifti(real('001')).shape);
    const text = formatProblems([...r.errors, ...r.warnings], { relativeTo: d });
    expect(text.split('\n')).toHaveLength(9);
    for (const line of text.split('\n')) expect(line).toMatch(LINE);
    expect(text).toContain('VNET_E_MISSING_FILE imagesTr/b.nii.gz: image file does not exist');
  });
});
