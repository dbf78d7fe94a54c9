// `predict -i ... -o ... --model ...` as a user runs it: a NIfTI file, a folder, a DICOM series
// (written by pydicom from a real case) to a DICOM SEG, --continue, --save_probabilities, and each
// bad input refused with a clear error before anything is written.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { readNifti, readNiftiLabels } from '../../src/data/index.js';
import { packModel, resolveModel, shippedModelNames } from '../../src/infer/shipped.js';
import { itIf, real, HAVE_DATA } from '../data/helpers.js';
import { HAVE_DCIODVFY, HAVE_PYDICOM, NO_PYDICOM, makeSeries, python } from '../dicom/helpers.js';
import { SMALL_NET, realSubset, requireBuilt, runCli, snapshot, tmpDir } from './helpers.js';

requireBuilt();
const itPy = itIf(HAVE_PYDICOM, NO_PYDICOM);
const work = tmpDir('predict-files');
const model = path.join(work, 'model');
const err = (r: { stderr: string }) => /error \[(VNET_E_\w+)\]/.exec(r.stderr)?.[1];

beforeAll(() => {
  if (!HAVE_DATA) return;
  const r = runCli(['train', '--data_dir', realSubset(4, 0), '--model_dir', model, '--batch_size', '2', ...SMALL_NET, '--train_epochs', '1', '--train_split', '1']);
  if (r.code !== 0) throw new Error(`training the test model failed: ${r.stderr}`);
}, 300_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const itData = itIf(HAVE_DATA, 'no Task04 data (set VNET_DATA_DIR)');

describe('predict -i (NIfTI)', () => {
  itData('one file to one file: the mask has the input\'s shape and geometry', () => {
    const out = path.join(work, 'one', 'mask.nii.gz');
    const r = runCli(['predict', '-i', real('001'), '-o', out, '--model', model, '--no-tta']);
    expect(r.stderr).toMatch(/\[1\/1\] hippocampus_001: Anterior \d+ mm³/);
    expect(r.code).toBe(0);
    const img = readNifti(real('001'));
    const mask = readNiftiLabels(out);
    expect(mask.shape).toEqual(img.shape);
    for (const k of ['pixdim', 'srow', 'quatern', 'qoffset', 'qformCode', 'sformCode'] as const) expect(mask.header[k]).toEqual(img.header[k]);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['mask.nii.gz']);
  });

  itData('a folder: a mask per case, probabilities, volumes.json, report.html; --continue redoes only what is missing', () => {
    const inDir = path.join(work, 'in');
    fs.mkdirSync(inDir);
    // nnU-Net's channel suffix is dropped from the case id; a stray file is skipped with a word.
    fs.copyFileSync(real('001'), path.join(inDir, 'a_0000.nii.gz'));
    fs.copyFileSync(real('003'), path.join(inDir, 'b.nii.gz'));
    fs.writeFileSync(path.join(inDir, 'notes.txt'), 'not an image\n');
    const out = path.join(work, 'out');
    const args = ['predict', '-i', inDir, '-o', out, '--model', model, '--no-tta', '--save_probabilities'];
    const r = runCli(args);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/skipping .*notes\.txt/);
    expect(r.stderr).toMatch(/\[2\/2\] b: /);
    expect(fs.readdirSync(out).sort()).toEqual(['a.nii.gz', 'a.probabilities.nii.gz', 'b.nii.gz', 'b.probabilities.nii.gz', 'report.html', 'volumes.json']);
    // Probabilities: one volume per class, summing to 1, their argmax the mask.
    const probs = readNifti(zlib.gunzipSync(fs.readFileSync(path.join(out, 'a.probabilities.nii.gz'))));
    const mask = readNiftiLabels(path.join(out, 'a.nii.gz'));
    expect(probs.header.dim.slice(0, 5)).toEqual([4, ...mask.shape, 3]);
    const raw = zlib.gunzipSync(fs.readFileSync(path.join(out, 'a.probabilities.nii.gz')));
    const f = new Float32Array(raw.buffer.slice(raw.byteOffset + 352, raw.byteOffset + raw.byteLength));
    const n = mask.data.length;
    let agree = 0;
    for (let x = 0, nx = mask.shape[0], ny = mask.shape[1], nz = mask.shape[2]; x < nx; x++) for (let y = 0; y < ny; y++) for (let z = 0; z < nz; z++) {
      const v = x + nx * (y + ny * z);
      const p = [0, 1, 2].map((c) => f[c * n + v]);
      expect(Math.abs(p[0] + p[1] + p[2] - 1)).toBeLessThan(1e-4);
      if (p.indexOf(Math.max(...p)) === mask.data[(x * ny + y) * nz + z]) agree++;
    }
    expect(agree).toBe(n);
    const vols = JSON.parse(fs.readFileSync(path.join(out, 'volumes.json'), 'utf8'));
    expect(vols.cases.map((c: { case: string }) => c.case)).toEqual(['a', 'b']);
    const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/<h2>Predicted volumes<\/h2>/);
    expect(html).toMatch(/image \| prediction/);
    expect(html).not.toMatch(/undefined|NaN/);
    // --continue: b is removed, so only b is segmented again; a's files are untouched.
    const aBefore = fs.statSync(path.join(out, 'a.nii.gz')).mtimeMs;
    fs.rmSync(path.join(out, 'b.nii.gz'));
    const again = runCli([...args, '--continue']);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/\[1\/2\] a: done before, skipped \(--continue\)/);
    expect(again.stderr).toMatch(/\[2\/2\] b: Anterior/);
    expect(fs.statSync(path.join(out, 'a.nii.gz')).mtimeMs).toBe(aBefore);
    expect(fs.existsSync(path.join(out, 'b.nii.gz'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'volumes.json'), 'utf8')).cases).toHaveLength(2);
  });
});

describe('predict -i (DICOM)', () => {
  itPy('a series folder to a DICOM SEG that dciodvfy accepts and pydicom reads, and to NIfTI on request', () => {
    const s = makeSeries('single');
    const out = path.join(work, 'dicom-out');
    const r = runCli(['predict', '-i', s.dir, '-o', out, '--model', model, '--no-tta']);
    expect(r.code).toBe(0);
    const id = path.basename(s.dir);
    const seg = path.join(out, `${id}.seg.dcm`);
    expect(fs.existsSync(seg)).toBe(true);
    const info = JSON.parse(python(`
import json, sys, pydicom
d = pydicom.dcmread(sys.argv[1])
print(json.dumps({'modality': d.Modality, 'series': d.ReferencedSeriesSequence[0].SeriesInstanceUID, 'segments': [s.SegmentLabel for s in d.SegmentSequence], 'algo': d.SegmentSequence[0].SegmentAlgorithmName}))
`, [seg]));
    expect(info).toMatchObject({ modality: 'SEG', series: s.series, segments: ['Anterior', 'Posterior'] });
    expect(info.algo).toMatch(/^vnet-native /);
    if (HAVE_DCIODVFY) {
      const v = spawnSync('dciodvfy', [seg], { encoding: 'utf8' });
      expect(`${v.stdout}${v.stderr}`.split('\n').filter((l) => /^Error/.test(l))).toEqual([]);
    } else process.stdout.write('dciodvfy missing (apt-get install dicom3tools): the SEG was read by pydicom only\n');
    const nii = path.join(work, 'dicom.nii.gz');
    const r2 = runCli(['predict', '-i', s.dir, '-o', nii, '--model', model, '--no-tta', '--output_type', 'nifti']);
    expect(r2.code).toBe(0);
    expect(readNiftiLabels(nii).shape).toEqual(s.shape);
  });
});

describe('predict -i: bad input is refused, nothing written', () => {
  const out = () => path.join(work, `refused-${Math.random().toString(36).slice(2)}`);
  const refused = (args: string[], code: string, names: RegExp) => {
    const o = out();
    fs.mkdirSync(o);
    fs.writeFileSync(path.join(o, 'keep.nii.gz'), 'earlier output');
    const before = snapshot(o);
    const r = runCli(['predict', ...args, '-o', o, '--model', model]);
    expect(r.code).toBe(1);
    expect(err(r)).toBe(code);
    expect(r.stderr).toMatch(names);
    expect(snapshot(o)).toEqual(before);
  };

  itData('an empty folder', () => {
    const d = tmpDir('empty');
    refused(['-i', d], 'VNET_E_EMPTY_FOLDER', new RegExp(path.basename(d)));
  });
  itData('a file that is not an image', () => {
    const f = path.join(tmpDir('txt'), 'scan.txt');
    fs.writeFileSync(f, 'hello');
    refused(['-i', f], 'VNET_E_NOT_IMAGE', /scan\.txt/);
  });
  itData('a SEG asked for NIfTI input', () => refused(['-i', real('001'), '--output_type', 'dicom_seg'], 'VNET_E_BAD_FLAG', /dicom_seg needs DICOM input.*hippocampus_001/));
  itData('a model that is neither a folder nor a shipped name', () => {
    const o = out();
    const r = runCli(['predict', '-i', real('001'), '-o', o, '--model', 'no-such-model']);
    expect(err(r)).toBe('VNET_E_NO_MODEL');
    expect(r.stderr).toMatch(/--model no-such-model .*shipped models: /);
    expect(fs.existsSync(o)).toBe(false);
  });
  itPy('a DICOM folder holding two series', () => refused(['-i', makeSeries('mixed').dir], 'VNET_E_MIXED_SERIES', /OTHER/));
  itPy('an output folder that does not exist yet is not made by a run that fails', () => {
    const o = out();
    const r = runCli(['predict', '-i', makeSeries('truncated').dir, '-o', o, '--model', model]);
    expect(r.code).toBe(1);
    expect(fs.existsSync(o)).toBe(false);
  });
  itPy('a truncated slice', () => {
    const s = makeSeries('truncated');
    refused(['-i', s.dir], 'VNET_E_CORRUPT_FILE', new RegExp(s.files[0]));
  });
  itData('one file name for several inputs', () => {
    const d = tmpDir('two');
    fs.copyFileSync(real('001'), path.join(d, 'a.nii.gz'));
    fs.copyFileSync(real('003'), path.join(d, 'b.nii.gz'));
    const r = runCli(['predict', '-i', d, '-o', path.join(work, 'x.nii.gz'), '--model', model]);
    expect(err(r)).toBe('VNET_E_BAD_FLAG');
    expect(fs.existsSync(path.join(work, 'x.nii.gz'))).toBe(false);
  });
});

describe('shipped models', () => {
  itData('packModel writes F16 weights and checksums; a damaged file is refused by name; F16 predicts the F32 mask', async () => {
    const shipped = path.join(work, 'models');
    const { bytes } = await packModel(model, path.join(shipped, 'tiny'), { half: true });
    expect(bytes).toBeLessThan(fs.statSync(path.join(model, 'final.safetensors')).size);
    expect(shippedModelNames(shipped)).toEqual(['tiny']);
    expect(resolveModel('tiny', '--model', shipped).dir).toBe(path.join(shipped, 'tiny'));
    expect(resolveModel(model, '--model', shipped)).toEqual({ dir: path.resolve(model) });
    const a = path.join(work, 'f32.nii.gz');
    const b = path.join(work, 'f16.nii.gz');
    expect(runCli(['predict', '-i', real('001'), '-o', a, '--model', model, '--no-tta']).code).toBe(0);
    expect(runCli(['predict', '-i', real('001'), '-o', b, '--model', path.join(shipped, 'tiny'), '--no-tta']).code).toBe(0);
    const ma = readNiftiLabels(a).data;
    const mb = readNiftiLabels(b).data;
    let same = 0;
    for (let i = 0; i < ma.length; i++) if (ma[i] === mb[i]) same++;
    expect(same / ma.length).toBeGreaterThan(0.999);
    const w = path.join(shipped, 'tiny', 'final.safetensors');
    const bytesW = fs.readFileSync(w);
    bytesW[bytesW.length - 1] ^= 1;
    fs.writeFileSync(w, bytesW);
    expect(() => resolveModel('tiny', '--model', shipped)).toThrow(/final\.safetensors does not match its checksum/);
  });
});
