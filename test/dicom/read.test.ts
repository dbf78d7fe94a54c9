// Reading DICOM series written by pydicom from real MSD cases: the same voxels and affine as
// dcm2niix gives for the same series, the rescale applied, spacing from positions, uploads read
// as folders are, and a DICOM volume usable wherever a NIfTI volume is (the mask writer).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isDicomFolder, readDicomFiles, readDicomFolder } from '../../src/data/dicom/index.js';
import { niftiAffine, readNifti, readNiftiLabels, writeMask } from '../../src/data/index.js';
import { cleanupTmp, itIf, real, tmpDir } from '../data/helpers.js';
import { HAVE_DCM2NIIX, HAVE_PYDICOM, NO_PYDICOM, flipY, makeSeries, mismatches } from './helpers.js';

afterAll(cleanupTmp);

const itPy = itIf(HAVE_PYDICOM, NO_PYDICOM);
const itDcm2niix = itIf(HAVE_PYDICOM && HAVE_DCM2NIIX, HAVE_PYDICOM ? 'no dcm2niix (apt-get install dcm2niix)' : NO_PYDICOM);

const maxDiff = (a: number[][], b: number[][]) => Math.max(...a.slice(0, 3).flatMap((r, i) => r.map((v, j) => Math.abs(v - b[i][j]))));

function dcm2niix(dir: string): string {
  const out = tmpDir('dcm2niix');
  execFileSync('dcm2niix', ['-z', 'n', '-f', 'out', '-o', out, dir], { stdio: 'ignore' });
  return path.join(out, 'out.nii');
}

describe('DICOM series against dcm2niix', () => {
  for (const variant of ['single', 'multiframe']) {
    itDcm2niix(`${variant}: same shape, voxels and affine`, () => {
      const s = makeSeries(variant);
      const ours = readDicomFolder(s.dir);
      const theirs = readNifti(dcm2niix(s.dir));
      expect(ours.shape).toEqual(theirs.shape);
      expect(ours.data.length).toBe(theirs.data.length);
      expect(mismatches(ours.data, theirs.data)).toBe(0);
      // Both headers store the affine as float32: a few ulps at ~80 mm.
      expect(maxDiff(niftiAffine(ours.header), niftiAffine(theirs.header))).toBeLessThan(1e-4);
    });
  }
});

describe('DICOM series read', () => {
  for (const variant of ['single', 'multiframe', 'bigendian', 'deflate']) {
    itPy(`${variant}: the source image, rescaled, on the oblique grid pydicom wrote`, () => {
      const s = makeSeries(variant);
      const vol = readDicomFolder(s.dir);
      const src = readNifti(real('001'));
      expect(vol.shape).toEqual(s.shape);
      // Stored = (v - inter) / slope, so stored * slope + inter gives the image back exactly.
      expect(mismatches(vol.data, flipY(src.data, src.shape))).toBe(0);
      // Spacing from positions (1.3 mm), not SliceThickness (3 mm).
      expect(vol.header.pixdim.slice(1, 4).map((v) => +v.toFixed(5))).toEqual(s.spacing);
      const A = niftiAffine(vol.header);
      // Column x: the row cosine (LPS) times the column spacing, in RAS.
      const ras = (v: number[]) => [-v[0], -v[1], v[2]];
      ras(s.row).forEach((v, i) => expect(A[i][0]).toBeCloseTo(v * s.spacing[0], 5));
      ras(s.col).forEach((v, i) => expect(A[i][1]).toBeCloseTo(-v * s.spacing[1], 5));
      // Voxel (0, rows-1, 0) is the first stored pixel of the first slice: the written origin.
      const at = (x: number, y: number, z: number) => [0, 1, 2].map((i) => A[i][0] * x + A[i][1] * y + A[i][2] * z + A[i][3]);
      at(0, s.shape[1] - 1, 0).forEach((v, i) => expect(v).toBeCloseTo(ras(s.origin)[i], 4));
      // The quaternion (qform) says the same as the sform.
      expect(maxDiff(niftiAffine({ ...vol.header, sformCode: 0 }), A)).toBeLessThan(1e-4);
      expect(vol.dicom.frames.length).toBe(s.shape[2]);
      expect(vol.dicom.seriesUid).toBe(s.series);
    });
  }

  itPy('uploaded files read as the folder does; isDicomFolder tells a series from NIfTI', () => {
    const s = makeSeries('single');
    const files = fs.readdirSync(s.dir).map((n) => ({ name: n, bytes: fs.readFileSync(path.join(s.dir, n)) }));
    const a = readDicomFolder(s.dir);
    const b = readDicomFiles(files.reverse());
    expect(mismatches(b.data, a.data)).toBe(0);
    expect(Array.from(b.headerBytes)).toEqual(Array.from(a.headerBytes));
    expect(isDicomFolder(s.dir)).toBe(true);
    expect(isDicomFolder(path.dirname(real('001')))).toBe(false);
  });

  itPy('a mask written with the DICOM volume as reference keeps its grid (NIfTI output for DICOM input)', async () => {
    const s = makeSeries('single');
    const vol = readDicomFolder(s.dir);
    const lab = readNiftiLabels(real('001', 'label'));
    const mask = flipY(lab.data, lab.shape);
    const f = path.join(tmpDir('dmask'), 'mask.nii.gz');
    await writeMask(f, vol, mask);
    const back = readNiftiLabels(f);
    expect(back.shape).toEqual(vol.shape);
    expect(mismatches(back.data, mask)).toBe(0);
    expect(maxDiff(niftiAffine(back.header), niftiAffine(vol.header))).toBe(0);
  });
});
