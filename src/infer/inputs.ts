// What `predict -i` segments: one NIfTI file, a DICOM series folder, or a folder of NIfTI files
// and DICOM series subfolders, each a case with an id for its output file names.
import fs from 'node:fs';
import path from 'node:path';
import { DataError, stripNiftiExt } from '../data/index.js';
import { isDicom, isDicomFolder } from '../data/dicom/index.js';

/** A NIfTI case's `file` is its (first) image; `channels`, when given, its per-channel files in order. */
export type InputCase = { id: string; kind: 'nifti'; file: string; channels?: string[] } | { id: string; kind: 'dicom'; dir: string };

const isNifti = (f: string) => /\.nii(\.gz)?$/i.test(f);
/** nnU-Net names the channels of a case case_0000.nii.gz, case_0001.nii.gz, ...: the mask is case.nii.gz. */
const caseId = (file: string) => stripNiftiExt(file).replace(/_0000$/, '');
const CHANNEL = /^(.+)_(\d{4})$/;

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
  // Symbolic links are followed (a folder of links into a dataset is a common layout); a broken
  // link is listed with the skipped entries.
  const entries = fs.readdirSync(input, { withFileTypes: true }).filter((e) => !e.name.startsWith('.')).sort((a, b) => a.name.localeCompare(b.name))
    .map((e) => (e.isSymbolicLink() ? followed(path.join(input, e.name), e.name) : e));
  // Cases with a <case>_0000 file gather their <case>_0001, ... files as further channels.
  const stems = new Set(entries.filter((e) => e.isFile() && isNifti(e.name)).map((e) => stripNiftiExt(e.name)));
  const channelOf = (stem: string) => { const m = CHANNEL.exec(stem); return m && stems.has(`${m[1]}_0000`) ? { id: m[1], k: Number(m[2]) } : undefined; };
  const byId = new Map<string, string[]>();
  for (const e of entries) {
    const p = path.join(input, e.name);
    const ch = e.isFile() && isNifti(e.name) ? channelOf(stripNiftiExt(e.name)) : undefined;
    if (ch) (byId.get(ch.id) ?? byId.set(ch.id, []).get(ch.id)!)[ch.k] = p;
    else if (e.isFile() && isNifti(e.name)) cases.push({ id: caseId(e.name), kind: 'nifti', file: p });
    else if (e.isDirectory() && isDicomFolder(p)) cases.push({ id: e.name, kind: 'dicom', dir: p });
    else skipped.push(p);
  }
  for (const [id, files] of byId) {
    const gap = Array.from(files, (f, k) => (f ? -1 : k)).find((k) => k >= 0);
    if (gap !== undefined) throw new DataError('VNET_E_MISSING_FILE', `case ${id} has channel files up to _${String(files.length - 1).padStart(4, '0')} but no _${String(gap).padStart(4, '0')}`, path.join(input, `${id}_${String(gap).padStart(4, '0')}.nii.gz`));
    cases.push(files.length > 1 ? { id, kind: 'nifti', file: files[0], channels: files } : { id, kind: 'nifti', file: files[0] });
  }
  cases.sort((a, b) => a.id.localeCompare(b.id));
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

/** What a symbolic link points at, as a directory entry of its own name (neither file nor folder when broken). */
function followed(p: string, name: string): { name: string; isFile(): boolean; isDirectory(): boolean } {
  let st: fs.Stats | undefined;
  try { st = fs.statSync(p); } catch { st = undefined; }
  return { name, isFile: () => st?.isFile() ?? false, isDirectory: () => st?.isDirectory() ?? false };
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
