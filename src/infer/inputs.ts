// What `predict -i` segments: one NIfTI file, a DICOM series folder, or a folder of NIfTI files
// and DICOM series subfolders, each a case with an id for its output file names.
import fs from 'node:fs';
import path from 'node:path';
import { DataError, stripNiftiExt } from '../data/index.js';
import { isDicom, isDicomFolder } from '../data/dicom/index.js';

export type InputCase = { id: string; kind: 'nifti'; file: string } | { id: string; kind: 'dicom'; dir: string };

const isNifti = (f: string) => /\.nii(\.gz)?$/i.test(f);
/** nnU-Net names the channels of a case case_0000.nii.gz, ...: the mask is case.nii.gz. */
const caseId = (file: string) => stripNiftiExt(file).replace(/_0000$/, '');

/** The cases under `input`, in name order; `skipped` lists files of a folder that are neither. */
export function findInputs(input: string): { cases: InputCase[]; skipped: string[] } {
  let st: fs.Stats;
  try {
    st = fs.statSync(input);
  } catch {
    throw new DataError('VNET_E_MISSING_FILE', 'no such file or folder (-i)', input);
  }
  if (st.isFile()) {
    if (isNifti(input)) return { cases: [{ id: caseId(input), kind: 'nifti', file: input }], skipped: [] };
    if (startsLikeDicom(input)) return { cases: [{ id: stripNiftiExt(input).replace(/\.dcm$/i, ''), kind: 'dicom', dir: input }], skipped: [] };
    throw new DataError('VNET_E_NOT_IMAGE', 'not a NIfTI file (.nii, .nii.gz) or a DICOM file', input);
  }
  if (!st.isDirectory()) throw new DataError('VNET_E_NOT_A_FILE', 'not a regular file or folder', input);
  if (isDicomFolder(input)) return { cases: [{ id: path.basename(path.resolve(input)), kind: 'dicom', dir: input }], skipped: [] };
  const cases: InputCase[] = [];
  const skipped: string[] = [];
  for (const e of fs.readdirSync(input, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(input, e.name);
    if (e.isFile() && isNifti(e.name)) cases.push({ id: caseId(e.name), kind: 'nifti', file: p });
    else if (e.isDirectory() && isDicomFolder(p)) cases.push({ id: e.name, kind: 'dicom', dir: p });
    else skipped.push(p);
  }
  if (!cases.length) throw new DataError('VNET_E_EMPTY_FOLDER', `no NIfTI files (.nii, .nii.gz) or DICOM series in it${skipped.length ? ` (${skipped.length} other entr${skipped.length === 1 ? 'y' : 'ies'}, e.g. ${path.basename(skipped[0])})` : ''}`, input);
  const seen = new Map<string, string>();
  for (const c of cases) {
    const where = c.kind === 'nifti' ? c.file : c.dir;
    const before = seen.get(c.id);
    if (before) throw new DataError('VNET_E_DUPLICATE_CASE', `${path.basename(before)} and ${path.basename(where)} would both be written as ${c.id}`, where);
    seen.set(c.id, where);
  }
  return { cases, skipped };
}

function startsLikeDicom(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(132);
    return isDicom(head.subarray(0, fs.readSync(fd, head, 0, 132, 0)));
  } finally {
    fs.closeSync(fd);
  }
}
