// A DICOM series (a folder of slices, one multi-frame image, or uploaded files) -> the same
// float32 volume + NIfTI header the NIfTI reader gives, plus what a DICOM SEG needs to refer
// back to it. The folder must hold one image series; anything else is an error naming a file.
import fs from 'node:fs';
import path from 'node:path';
import { DataError } from '../errors.js';
import { parseNiftiHeader } from '../nifti-header.js';
import type { NiftiVolume } from '../nifti.js';
import { LIMITS, openRegular, readRegularFile } from '../reader.js';
import { seriesGeometry } from './geometry.js';
import { niftiHeaderBytes } from './header.js';
import { isDicom, parseDicomFile, type DicomFrame, type StudyAttributes } from './parse.js';

/** Where each slice of the volume came from, and the study it belongs to. */
export interface DicomSource {
  study: StudyAttributes;
  seriesUid: string;
  /** One per slice z (the volume's last axis), in the volume's order. */
  frames: { file: string; sopClassUid: string; sopInstanceUid: string; frameNumber?: number; position: [number, number, number] }[];
  rows: number;
  cols: number;
  /** ImageOrientationPatient (row cosine, column cosine). */
  orientation: number[];
  /** [between rows, between columns] (DICOM order). */
  pixelSpacing: [number, number];
  /** Distance between slices, from their positions. */
  sliceSpacing: number;
  sliceThickness?: number;
}

/** A volume read from DICOM: voxel (x, y, z) = (column, rows-1-row, slice), as dcm2niix lays it out. */
export interface DicomVolume extends NiftiVolume<Float32Array> {
  dicom: DicomSource;
}

export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

const MiB = 1 << 20;

/** True when `dir` holds at least one DICOM file (checked by content, not by name). */
export function isDicomFolder(dir: string): boolean {
  return listFiles(dir).some((f) => {
    let fd: number;
    try {
      ({ fd } = openRegular(f, LIMITS.file()));
    } catch {
      return false; // a broken link or an unreadable entry is not a slice; reading the series names it
    }
    try {
      const head = Buffer.alloc(132);
      return isDicom(head.subarray(0, fs.readSync(fd, head, 0, 132, 0)));
    } finally {
      fs.closeSync(fd);
    }
  });
}

/** The regular files of `dir` by name; dot files (.DS_Store and the like) are not part of a series. */
function listFiles(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(code === 'ENOENT' ? 'VNET_E_MISSING_FILE' : 'VNET_E_NOT_A_FILE', (e as Error).message, dir);
  }
  return entries.filter((e) => !e.name.startsWith('.') && !e.isDirectory()).map((e) => path.join(dir, e.name)).sort();
}

/** Reads the series in folder `dir` (its files only; subfolders are not searched). */
export function readDicomFolder(dir: string): DicomVolume {
  const files = listFiles(dir);
  if (files.length === 0) {
    const subs = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).length;
    throw new DataError('VNET_E_EMPTY_FOLDER', `no files to read${subs ? ` (${subs} subfolder(s): give the folder of one series)` : ''}`, dir);
  }
  let total = 0;
  const limit = LIMITS.volume();
  return readDicomFiles(files.map((f) => {
    const bytes = readRegularFile(f);
    total += bytes.byteLength;
    if (total > limit) throw new DataError('VNET_E_TOO_LARGE', `the series is over the ${Math.round(limit / MiB)} MiB limit (VNET_MAX_VOLUME_MB)`, f);
    return { name: f, bytes };
  }), dir);
}

/** Reads one series from files already in memory (an upload); `where` names them in errors. */
export function readDicomFiles(files: NamedBytes[], where = 'the upload'): DicomVolume {
  if (files.length === 0) throw new DataError('VNET_E_EMPTY_FOLDER', 'no DICOM files', where);
  const bySeries = new Map<string, { frames: DicomFrame[]; study: StudyAttributes; file: string }>();
  for (const f of files) {
    const { frames, study } = parseDicomFile(f.bytes, f.name);
    const s = bySeries.get(study.SeriesInstanceUID) ?? bySeries.set(study.SeriesInstanceUID, { frames: [], study, file: f.name }).get(study.SeriesInstanceUID)!;
    s.frames.push(...frames);
  }
  if (bySeries.size > 1) {
    const list = [...bySeries.entries()].map(([uid, s]) => `${uid} (${s.frames.length} frame(s), e.g. ${s.file})`);
    throw new DataError('VNET_E_MIXED_SERIES', `${bySeries.size} series in one folder: ${list.join('; ')}; give the folder of one series`, [...bySeries.values()][1].file);
  }
  const { frames, study } = [...bySeries.values()][0];
  const g = seriesGeometry(frames);
  const [nx, ny, nz] = g.shape;
  const limit = LIMITS.volume();
  if (nx * ny * nz * 4 > limit) throw new DataError('VNET_E_TOO_LARGE', `a ${g.shape.join('x')} volume is over the ${Math.round(limit / MiB)} MiB limit (VNET_MAX_VOLUME_MB)`, where);
  // Tensor order (x slowest, z fastest), x = column, y = rows-1-row, z = slice.
  const data = new Float32Array(nx * ny * nz);
  g.frames.forEach((f, z) => {
    const px = f.pixels();
    for (let row = 0; row < ny; row++) {
      const y = ny - 1 - row;
      for (let x = 0; x < nx; x++) data[(x * ny + y) * nz + z] = px[row * nx + x] * f.slope + f.intercept;
    }
  });
  const headerBytes = niftiHeaderBytes(g.shape, g.spacing, g.affine, `DICOM series ${study.SeriesInstanceUID}`);
  const first = g.frames[0];
  return {
    file: where, header: parseNiftiHeader(headerBytes, where), headerBytes, shape: g.shape, volumes: 1, data,
    dicom: {
      study, seriesUid: study.SeriesInstanceUID, rows: ny, cols: nx, orientation: first.orientation, pixelSpacing: first.pixelSpacing,
      sliceSpacing: g.spacing[2], sliceThickness: first.sliceThickness,
      frames: g.frames.map((f) => ({ file: f.file, sopClassUid: f.sopClassUid, sopInstanceUid: f.sopInstanceUid, frameNumber: f.frameNumber, position: f.position })),
    },
  };
}
