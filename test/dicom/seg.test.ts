// DICOM SEG out: validated by dciodvfy (dicom3tools) with no errors, and read back by pydicom:
// one segment per label with its name, the right frames per segment, each frame's pixels equal
// to the mask on the source slice it references.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { encodeDicomSeg, readDicomFolder, writeDicomSeg, type DicomVolume } from '../../src/data/dicom/index.js';
import { readNiftiLabels } from '../../src/data/index.js';
import { cleanupTmp, itIf, real, tmpDir } from '../data/helpers.js';
import { HAVE_DCIODVFY, HAVE_PYDICOM, NO_PYDICOM, flipY, makeSeries, mismatches, python } from './helpers.js';

afterAll(cleanupTmp);

const itPy = itIf(HAVE_PYDICOM, NO_PYDICOM);
const LABELS = [{ value: 1, name: 'Anterior' }, { value: 2, name: 'Posterior' }];

// pydicom rebuilds the label volume from the SEG: each frame's segment number painted on the
// source slice its SourceImageSequence names (by SOP instance and frame number).
const READ_BACK = `
import json, sys, pydicom, numpy as np
seg = pydicom.dcmread(sys.argv[1])
order = json.loads(sys.argv[2])  # [[sop_instance_uid, frame_number or null], ...] in slice order
where = {(u, f): z for z, (u, f) in enumerate(order)}
px = seg.pixel_array.reshape(int(seg.NumberOfFrames), seg.Rows, seg.Columns)
vol = np.zeros((len(order), seg.Rows, seg.Columns), np.int32)
frames = {}
for k, fg in enumerate(seg.PerFrameFunctionalGroupsSequence):
    s = int(fg.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
    src = fg.DerivationImageSequence[0].SourceImageSequence[0]
    fn = int(src.ReferencedFrameNumber) if 'ReferencedFrameNumber' in src else None
    z = where[(src.ReferencedSOPInstanceUID, fn)]
    vol[z][px[k] == 1] = s
    frames[s] = frames.get(s, 0) + 1
print(json.dumps({
    'modality': seg.Modality, 'type': seg.SegmentationType, 'series': seg.ReferencedSeriesSequence[0].SeriesInstanceUID,
    'study': seg.StudyInstanceUID, 'patient': str(seg.PatientName), 'frame_of_reference': seg.FrameOfReferenceUID,
    'segments': [[int(s.SegmentNumber), s.SegmentLabel] for s in seg.SegmentSequence], 'frames': frames,
    'volume': vol.tolist(),
}))
`;

interface ReadBack { modality: string; type: string; series: string; study: string; patient: string; frame_of_reference: string; segments: [number, string][]; frames: Record<string, number>; volume: number[][][] }

function readBack(file: string, vol: DicomVolume): ReadBack {
  const order = vol.dicom.frames.map((f) => [f.sopInstanceUid, f.frameNumber ?? null]);
  return JSON.parse(python(READ_BACK, [file, JSON.stringify(order)])) as ReadBack;
}

/** The read-back volume [z][row][col] of segment numbers -> our mask layout with label values. */
function toMask(v: number[][][], vol: DicomVolume): Int32Array {
  const [nx, ny, nz] = vol.shape;
  const out = new Int32Array(nx * ny * nz);
  for (let z = 0; z < nz; z++) for (let row = 0; row < ny; row++) for (let x = 0; x < nx; x++) out[(x * ny + (ny - 1 - row)) * nz + z] = v[z][row][x];
  return out;
}

/** How many slices of `mask` hold `value`. */
function slicesWith(mask: Int32Array, vol: DicomVolume, value: number): number {
  const nz = vol.shape[2];
  const seen = new Set<number>();
  for (let i = 0; i < mask.length; i++) if (mask[i] === value) seen.add(i % nz);
  return seen.size;
}

function dciodvfy(file: string): string[] {
  const r = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
  return `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /^Error/.test(l));
}

describe('DICOM SEG', () => {
  for (const variant of ['single', 'multiframe']) {
    itPy(`${variant} source: pydicom reads one segment per label, its frames and pixels; dciodvfy finds no error`, async () => {
      const s = makeSeries(variant);
      const vol = readDicomFolder(s.dir);
      const lab = readNiftiLabels(real('001', 'label'));
      const mask = flipY(lab.data, lab.shape);
      const file = path.join(tmpDir('seg'), 'seg.dcm');
      await writeDicomSeg(file, vol.dicom, mask, LABELS, { seriesDescription: 'hippocampus' });
      if (HAVE_DCIODVFY) expect(dciodvfy(file)).toEqual([]);
      else console.warn('skipped: dciodvfy check: no dciodvfy (apt-get install dicom3tools)');
      const r = readBack(file, vol);
      expect([r.modality, r.type, r.series, r.study, r.patient]).toEqual(['SEG', 'BINARY', s.series, vol.dicom.study.StudyInstanceUID, 'Hippocampus^Test']);
      expect(r.frame_of_reference).toBe(vol.dicom.study.FrameOfReferenceUID);
      expect(r.segments).toEqual([[1, 'Anterior'], [2, 'Posterior']]);
      expect(r.frames).toEqual({ 1: slicesWith(mask, vol, 1), 2: slicesWith(mask, vol, 2) });
      expect(mismatches(toMask(r.volume, vol), mask)).toBe(0);
    });
  }

  itPy('a label absent from the mask keeps one empty frame; the file stays valid', async () => {
    const vol = readDicomFolder(makeSeries('single').dir);
    const mask = new Int32Array(vol.data.length);
    mask[123] = 1;
    const file = path.join(tmpDir('seg'), 'seg.dcm');
    await writeDicomSeg(file, vol.dicom, mask, LABELS);
    if (HAVE_DCIODVFY) expect(dciodvfy(file)).toEqual([]);
    const r = readBack(file, vol);
    expect(r.frames).toEqual({ 1: 1, 2: 1 });
    expect(mismatches(toMask(r.volume, vol), mask)).toBe(0);
  });

  itPy('bad masks and labels are refused and an existing file is left as it was', async () => {
    const vol = readDicomFolder(makeSeries('single').dir);
    const file = path.join(tmpDir('seg'), 'seg.dcm');
    fs.writeFileSync(file, 'previous result');
    const n = vol.data.length;
    await expect(writeDicomSeg(file, vol.dicom, new Int32Array(n - 1), LABELS)).rejects.toMatchObject({ code: 'VNET_E_SHAPE_MISMATCH' });
    await expect(writeDicomSeg(file, vol.dicom, new Int32Array(n).fill(7), LABELS)).rejects.toMatchObject({ code: 'VNET_E_LABEL_VALUES' });
    expect(() => encodeDicomSeg(vol.dicom, new Int32Array(n), [{ value: 0, name: 'background' }])).toThrow(/non-zero/);
    expect(fs.readFileSync(file, 'utf8')).toBe('previous result');
  });
});
