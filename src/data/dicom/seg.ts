// A predicted mask as a DICOM Segmentation (SEG) object: one binary segment per label, with its
// name, each frame tied to the source slice it was derived from, in the source's patient, study
// and frame of reference, so PACS viewers overlay it on the series it came from.
import { writeFileAtomic } from '../atomic.js';
import { DataError } from '../errors.js';
import { packageVersion } from '../paths.js';
import { el, encodePart10, newUid, seq, type DataSet } from './encode.js';
import type { DicomSource } from './series.js';

const SEG_CLASS = '1.2.840.10008.5.1.4.1.1.66.4';

/** A coded concept (code value, scheme, meaning), e.g. ['85756007', 'SCT', 'Tissue']. */
export type Code = readonly [value: string, scheme: string, meaning: string];

export interface SegLabel {
  /** The voxel value of this label in the mask (> 0). */
  value: number;
  name: string;
  /** Defaults: category and type "Tissue" (SCT 85756007); the name says what it is. */
  category?: Code;
  type?: Code;
}

export interface SegOptions {
  seriesDescription?: string;
  seriesNumber?: number;
  /** The model that produced the mask (SegmentAlgorithmName). */
  algorithmName?: string;
}

const TISSUE: Code = ['85756007', 'SCT', 'Tissue'];
const code = ([v, s, m]: Code): DataSet => [el(0x00080100, 'SH', v), el(0x00080102, 'SH', s), el(0x00080104, 'LO', m)];

function now(): { date: string; time: string } {
  const iso = new Date().toISOString(); // UTC: 2024-01-02T03:04:05.678Z
  return { date: iso.slice(0, 10).replace(/-/g, ''), time: iso.slice(11, 19).replace(/:/g, '') };
}

/**
 * The SEG file for `mask` ((x, y, z) = (column, rows-1-row, slice) of `source`, tensor order:
 * z fastest), one segment per entry of `labels`. Slices where a label is absent get no frame;
 * a label absent everywhere keeps one empty frame, so every segment has a frame.
 */
export function encodeDicomSeg(source: DicomSource, mask: ArrayLike<number>, labels: readonly SegLabel[], o: SegOptions = {}): Uint8Array {
  const { rows, cols } = source;
  const nz = source.frames.length;
  if (mask.length !== rows * cols * nz) {
    throw new DataError('VNET_E_SHAPE_MISMATCH', `mask has ${mask.length} voxels, the DICOM series ${cols}x${rows}x${nz} has ${rows * cols * nz}`);
  }
  const known = new Set(labels.map((l) => l.value));
  if (labels.length === 0 || known.has(0) || known.size !== labels.length) throw new DataError('VNET_E_BAD_ARGUMENT', 'SEG labels must be distinct, non-zero values (background is not a segment)');
  // pixel (row, col) of slice z -> mask index
  const at = (row: number, col: number, z: number) => (col * rows + (rows - 1 - row)) * nz + z;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] !== 0 && !known.has(mask[i])) throw new DataError('VNET_E_LABEL_VALUES', `mask value ${mask[i]} is not among the labels ${[...known].join(', ')}`);
  }
  const frames: { segment: number; z: number }[] = [];
  labels.forEach((l, s) => {
    const before = frames.length;
    for (let z = 0; z < nz; z++) {
      let hit = false;
      for (let row = 0; row < rows && !hit; row++) for (let col = 0; col < cols && !hit; col++) hit = mask[at(row, col, z)] === l.value;
      if (hit) frames.push({ segment: s + 1, z });
    }
    if (frames.length === before) frames.push({ segment: s + 1, z: 0 });
  });
  // BitsAllocated 1: frames are packed one after another, first pixel in the lowest bit.
  const n = rows * cols;
  const bits = new Uint8Array(Math.ceil((frames.length * n) / 8));
  frames.forEach((f, k) => {
    const value = labels[f.segment - 1].value;
    for (let row = 0; row < rows; row++) {
      for (let col = 0; col < cols; col++) {
        if (mask[at(row, col, f.z)] !== value) continue;
        const b = k * n + row * cols + col;
        bits[b >> 3] |= 1 << (b & 7);
      }
    }
  });
  const uid = newUid();
  return encodePart10(segDataSet(source, labels, frames, bits, uid, o), SEG_CLASS, uid, packageVersion());
}

function segDataSet(src: DicomSource, labels: readonly SegLabel[], frames: { segment: number; z: number }[], pixels: Uint8Array, sopInstance: string, o: SegOptions): DataSet {
  const s = src.study;
  const version = packageVersion();
  const t = now();
  const dims = newUid();
  const instances = new Map(src.frames.map((f) => [f.sopInstanceUid, f.sopClassUid]));
  const segments = labels.map((l, i) => [
    seq(0x00620003, [code(l.category ?? TISSUE)]),
    el(0x00620004, 'US', i + 1),
    el(0x00620005, 'LO', l.name.slice(0, 64)),
    el(0x00620008, 'CS', 'AUTOMATIC'),
    el(0x00620009, 'LO', (o.algorithmName ?? 'vnet-native V-Net').slice(0, 64)),
    seq(0x0062000f, [code(l.type ?? TISSUE)]),
  ]);
  const perFrame = frames.map(({ segment, z }) => {
    const f = src.frames[z];
    const source: DataSet = [
      el(0x00081150, 'UI', f.sopClassUid), el(0x00081155, 'UI', f.sopInstanceUid),
      seq(0x0040a170, [code(['121322', 'DCM', 'Source image for image processing operation'])]),
    ];
    if (f.frameNumber !== undefined) source.push(el(0x00081160, 'IS', f.frameNumber));
    return [
      seq(0x00089124, [[seq(0x00082112, [source]), seq(0x00089215, [code(['113076', 'DCM', 'Segmentation'])])]]),
      seq(0x00209111, [[el(0x00209157, 'UL', [segment, z + 1])]]),
      seq(0x00209113, [[el(0x00200032, 'DS', f.position)]]),
      seq(0x0062000a, [[el(0x0062000b, 'US', segment)]]),
    ];
  });
  return [
    el(0x00080005, 'CS', 'ISO_IR 192'),
    el(0x00080008, 'CS', ['DERIVED', 'PRIMARY']),
    el(0x00080016, 'UI', SEG_CLASS), el(0x00080018, 'UI', sopInstance),
    el(0x00080020, 'DA', s.StudyDate), el(0x00080030, 'TM', s.StudyTime),
    el(0x00080023, 'DA', t.date), el(0x00080033, 'TM', t.time),
    el(0x00080050, 'SH', s.AccessionNumber), el(0x00080060, 'CS', 'SEG'),
    el(0x00080070, 'LO', 'vnet-native'), el(0x00080090, 'PN', s.ReferringPhysicianName),
    el(0x0008103e, 'LO', (o.seriesDescription ?? 'vnet-native segmentation').slice(0, 64)),
    el(0x00081090, 'LO', 'vnet-native'),
    seq(0x00081115, [[seq(0x0008114a, [...instances].map(([uid, cls]) => [el(0x00081150, 'UI', cls), el(0x00081155, 'UI', uid)])), el(0x0020000e, 'UI', src.seriesUid)]]),
    el(0x00100010, 'PN', s.PatientName), el(0x00100020, 'LO', s.PatientID),
    el(0x00100030, 'DA', s.PatientBirthDate), el(0x00100040, 'CS', s.PatientSex),
    el(0x00181000, 'LO', '1'), el(0x00181020, 'LO', version),
    el(0x0020000d, 'UI', s.StudyInstanceUID), el(0x0020000e, 'UI', newUid()),
    el(0x00200010, 'SH', s.StudyID), el(0x00200011, 'IS', o.seriesNumber ?? 9001), el(0x00200013, 'IS', 1),
    el(0x00200052, 'UI', s.FrameOfReferenceUID), el(0x00201040, 'LO', s.PositionReferenceIndicator),
    seq(0x00209221, [[el(0x00209164, 'UI', dims)]]),
    seq(0x00209222, [
      [el(0x00209164, 'UI', dims), el(0x00209165, 'AT', 0x0062000b), el(0x00209167, 'AT', 0x0062000a), el(0x00209421, 'LO', 'ReferencedSegmentNumber')],
      [el(0x00209164, 'UI', dims), el(0x00209165, 'AT', 0x00200032), el(0x00209167, 'AT', 0x00209113), el(0x00209421, 'LO', 'ImagePositionPatient')],
    ]),
    el(0x00280002, 'US', 1), el(0x00280004, 'CS', 'MONOCHROME2'), el(0x00280008, 'IS', frames.length),
    el(0x00280010, 'US', src.rows), el(0x00280011, 'US', src.cols),
    el(0x00280100, 'US', 1), el(0x00280101, 'US', 1), el(0x00280102, 'US', 0), el(0x00280103, 'US', 0),
    el(0x00282110, 'CS', '00'),
    el(0x00620001, 'CS', 'BINARY'), seq(0x00620002, segments),
    el(0x00700080, 'CS', 'VNET'), el(0x00700081, 'LO', 'automatic segmentation'), el(0x00700084, 'PN', ''),
    seq(0x52009229, [[
      seq(0x00209116, [[el(0x00200037, 'DS', src.orientation)]]),
      seq(0x00289110, [[
        el(0x00180050, 'DS', src.sliceThickness ?? src.sliceSpacing), el(0x00180088, 'DS', src.sliceSpacing),
        el(0x00280030, 'DS', src.pixelSpacing),
      ]]),
    ]]),
    seq(0x52009230, perFrame),
    el(0x7fe00010, 'OB', pixels),
  ];
}

/** Writes the SEG to `file` atomically (temporary file, then rename). */
export async function writeDicomSeg(file: string, source: DicomSource, mask: ArrayLike<number>, labels: readonly SegLabel[], o: SegOptions = {}): Promise<void> {
  await writeFileAtomic(file, encodeDicomSeg(source, mask, labels, o));
}
