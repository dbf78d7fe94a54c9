// Mask writing keeps the input's geometry: same dims, pixdim, qform/sform codes and matrices,
// only the data fields patched; read back by our reader, by nifti-reader-js and (when
// installed) by nibabel.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import * as nrj from 'nifti-reader-js';
import { readNifti, readNiftiLabels } from '../../src/data/nifti.js';
import { encodeMask, writeMask } from '../../src/data/nifti-write.js';
import { DataError } from '../../src/data/errors.js';
import { at, buildNifti, cleanupTmp, itData, itIf, real, tmpDir } from './helpers.js';

afterAll(cleanupTmp);

const PATCHED_V1 = new Set([70, 71, 72, 73, ...[108, 112, 116, 124, 128].flatMap((o) => [o, o + 1, o + 2, o + 3])]);

function geometry(h: ReturnType<typeof readNifti>['header']) {
  return { dim: h.dim, pixdim: h.pixdim, q: h.qformCode, s: h.sformCode, quatern: h.quatern, qoffset: h.qoffset, srow: h.srow, units: h.xyztUnits };
}

describe('writeMask', () => {
  itData('a real label written as a mask reads back identical, with identical geometry', async () => {
    const dir = tmpDir('write');
    const ref = readNifti(real('017'));
    const lab = readNiftiLabels(real('017', 'label'));
    const out = path.join(dir, 'pred', 'hippocampus_017.nii.gz');
    await writeMask(out, ref, lab.data);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['hippocampus_017.nii.gz']); // no temp file left
    const back = readNiftiLabels(out);
    expect(geometry(back.header)).toEqual(geometry(ref.header));
    expect(back.header.datatype).toBe(2);
    expect(back.header.voxOffset).toBe(352);
    expect(back.header.sclSlope).toBe(1);
    expect(back.header.sclInter).toBe(0);
    expect(back.header.calMax).toBe(2);
    expect(Buffer.from(back.data.buffer).equals(Buffer.from(lab.data.buffer))).toBe(true);
    // Byte for byte, only the data fields of the header changed.
    const raw = zlib.gunzipSync(fs.readFileSync(out));
    const changed = [];
    for (let i = 0; i < 348; i++) if (raw[i] !== ref.headerBytes[i]) changed.push(i);
    expect(changed.every((i) => PATCHED_V1.has(i))).toBe(true);
    expect([...raw.subarray(348, 352)]).toEqual([0, 0, 0, 0]);
    expect(raw.length).toBe(352 + lab.data.length);
    // An independent reader sees the same geometry and voxels (x fastest in the file).
    const ab = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length) as ArrayBuffer;
    const h = nrj.readHeader(ab) as nrj.NIFTI1;
    expect(h.dims.slice(0, 4)).toEqual(ref.header.dim.slice(0, 4));
    expect(h.affine).toEqual((nrj.readHeader(zlib.gunzipSync(fs.readFileSync(real('017'))).buffer as ArrayBuffer) as nrj.NIFTI1).affine);
    const vox = new Uint8Array(nrj.readImage(h, ab));
    const [nx, ny] = back.shape;
    expect(vox[5 + nx * (7 + ny * 9)]).toBe(at(lab.data, lab.shape, 5, 7, 9));
  });

  it('keeps a big-endian NIfTI-2 4-D header (mask is 3-D) and uses int16 for wide values', () => {
    const dims = [3, 4, 2, 2];
    const srow = [[0, 0.5, 0, 10], [-0.7, 0, 0, 20], [0, 0, 2, -30]];
    const ref = readNifti(buildNifti({ version: 2, littleEndian: false, datatype: 64, dims, values: new Array(48).fill(3), pixdim: [0.7, 0.5, 2], sformCode: 2, qformCode: 0, srow }));
    const mask = Int32Array.from({ length: 24 }, (_, i) => (i % 5) * 100 - 100);
    const back = readNiftiLabels(encodeMask(ref, mask));
    expect(back.header.version).toBe(2);
    expect(back.header.littleEndian).toBe(false);
    expect(back.header.datatype).toBe(4);
    expect(back.header.voxOffset).toBe(544);
    expect(back.header.dim.slice(0, 5)).toEqual([3, 3, 4, 2, 1]);
    expect(back.volumes).toBe(1);
    expect(back.header.srow).toEqual(ref.header.srow);
    expect(back.header.sformCode).toBe(2);
    expect(back.header.pixdim).toEqual(ref.header.pixdim);
    expect([...back.data]).toEqual([...mask]);
  });

  it('refuses a mask of the wrong size', () => {
    const ref = readNifti(buildNifti({ datatype: 2, dims: [2, 2, 2], values: new Array(8).fill(0) }));
    expect(() => encodeMask(ref, new Int32Array(7))).toThrow(DataError);
  });

  it('writes uncompressed .nii when the name says so', async () => {
    const dir = tmpDir('write');
    const ref = readNifti(buildNifti({ datatype: 16, dims: [2, 3, 4], values: new Array(24).fill(0) }));
    const f = path.join(dir, 'm.nii');
    await writeMask(f, ref, new Int32Array(24).fill(1));
    const raw = fs.readFileSync(f);
    expect(raw[0]).not.toBe(0x1f);
    expect(readNiftiLabels(f).data.every((v) => v === 1)).toBe(true);
  });
});

const py = '/usr/bin/python3';
const nibabel = fs.existsSync(py) && spawnSync(py, ['-c', 'import nibabel'], { stdio: 'ignore' }).status === 0;

describe('cross-check with nibabel', () => {
  itIf(nibabel && fs.existsSync(real('017')), `${py} has no nibabel (apt-get install python3-nibabel), or no data`)('nibabel reads our mask with the input affine and voxels', async () => {
    const dir = tmpDir('nib');
    const ref = readNifti(real('017'));
    const lab = readNiftiLabels(real('017', 'label'));
    const out = path.join(dir, 'm.nii.gz');
    await writeMask(out, ref, lab.data);
    const script = 'import sys, nibabel as nib, numpy as np\n'
      + 'a = nib.load(sys.argv[1]); b = nib.load(sys.argv[2]); c = nib.load(sys.argv[3])\n'
      + 'assert a.shape == b.shape and np.allclose(a.affine, b.affine) and np.allclose(a.header.get_zooms(), b.header.get_zooms())\n'
      + 'assert int(a.header["qform_code"]) == int(b.header["qform_code"]) and int(a.header["sform_code"]) == int(b.header["sform_code"])\n'
      + 'assert np.array_equal(np.asarray(b.dataobj), np.rint(np.asarray(c.dataobj)).astype(np.uint8))\n'
      + 'print("ok")\n';
    const res = execFileSync(py, ['-c', script, real('017'), out, real('017', 'label')], { encoding: 'utf8' });
    expect(res.trim()).toBe('ok');
  });
});
