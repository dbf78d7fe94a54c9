// dataset.json parsing for the two layouts users bring: MSD v1 (explicit `training` / `test`
// lists, paths relative to the json's folder) and nnU-Net v2 (`channel_names`, `labels`
// name -> int, `file_ending`; cases discovered as imagesTr/<case>_0000<ending> with
// labelsTr/<case><ending>). Parsing collects problems instead of stopping at the first, so
// `validateDataset` can list them all; `loadDataset` throws the first error.
import fs from 'node:fs';
import path from 'node:path';
import { DataError, isDataError, type DataErrorCode, type Problem } from './errors.js';
import { readJsonFile } from './reader.js';
import { stripNiftiExt } from './paths.js';
import type { CaseRef } from './preprocess.js';

/** Which dataset.json dialect was found. */
export type DatasetFormat = 'msd' | 'nnunetv2';

/** A class of the label map. */
export interface LabelClass {
  value: number;
  name: string;
}

/** A parsed dataset: absolute paths, labels sorted by value. */
export interface DatasetSpec {
  dir: string;
  jsonPath: string;
  format: DatasetFormat;
  name?: string;
  labels: LabelClass[];
  /** MSD `modality` values or nnU-Net `channel_names` values, in key order. */
  modality: string[];
  /** Input channels: one per modality (1 when none is listed). */
  channels: number;
  training: (CaseRef & { label: string })[];
  test: CaseRef[];
  /** nnU-Net's file ending (".nii.gz"), undefined for MSD. */
  fileEnding?: string;
}

/** The result of a tolerant parse: a spec when one could be built, and what was wrong. */
export interface DatasetInspection {
  spec?: DatasetSpec;
  errors: Problem[];
  warnings: Problem[];
}

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parse `<dir>/dataset.json` and list problems of the JSON itself (files are not opened). */
export function inspectDataset(dataDir: string): DatasetInspection {
  const dir = path.resolve(dataDir);
  const jsonPath = path.join(dir, 'dataset.json');
  const out: DatasetInspection = { errors: [], warnings: [] };
  const err = (code: DataErrorCode, message: string, file = jsonPath) => out.errors.push({ code, file, message });
  if (!fs.existsSync(jsonPath)) {
    err('VNET_E_NO_DATASET_JSON', fs.existsSync(dir) ? 'no dataset.json in the data folder' : 'data folder does not exist');
    return out;
  }
  let j: unknown;
  try {
    j = readJsonFile(jsonPath);
  } catch (e) {
    if (!isDataError(e)) throw e;
    err(e.code, e.detail);
    return out;
  }
  if (!isObj(j)) {
    err('VNET_E_BAD_JSON', 'top level is not an object');
    return out;
  }
  const nnunet = !Array.isArray(j.training) && ('file_ending' in j || 'channel_names' in j);
  const spec = nnunet ? parseNnunet(j, dir, jsonPath, out) : parseMsd(j, dir, jsonPath, out);
  if (spec) {
    const seen = new Set<string>();
    for (const c of [...spec.training, ...spec.test]) {
      if (seen.has(c.id)) err('VNET_E_DUPLICATE_CASE', `case id ${c.id} is listed more than once`);
      seen.add(c.id);
    }
    if (typeof j.numTraining === 'number' && j.numTraining !== spec.training.length) {
      out.warnings.push({ code: 'VNET_W_COUNT_MISMATCH', file: jsonPath, message: `numTraining is ${j.numTraining} but ${spec.training.length} training cases are listed` });
    }
    if (spec.training.length === 0) err('VNET_E_NO_CASES', 'no training cases');
    out.spec = spec;
  }
  return out;
}

/** Parse `<dataDir>/dataset.json` (MSD or nnU-Net v2); throws a DataError on the first error. */
export function loadDataset(dataDir: string): DatasetSpec {
  const r = inspectDataset(dataDir);
  const first = r.errors[0];
  if (first) throw new DataError(first.code as DataErrorCode, first.message, first.file);
  return r.spec as DatasetSpec;
}

function parseMsd(j: Json, dir: string, jsonPath: string, out: DatasetInspection): DatasetSpec | undefined {
  const err = (code: DataErrorCode, message: string) => out.errors.push({ code, file: jsonPath, message });
  if (!Array.isArray(j.training)) { err('VNET_E_MISSING_KEY', 'missing "training" list'); return undefined; }
  const labels = parseLabels(j.labels, false, (m) => err(m.startsWith('missing') ? 'VNET_E_MISSING_KEY' : 'VNET_E_BAD_JSON', m));
  if (!labels) return undefined;
  const training: DatasetSpec['training'] = [];
  j.training.forEach((t: unknown, i: number) => {
    if (!isObj(t) || typeof t.image !== 'string' || typeof t.label !== 'string') {
      err('VNET_E_BAD_JSON', `training[${i}] needs "image" and "label" strings`);
      return;
    }
    training.push({ id: stripNiftiExt(t.image), image: path.resolve(dir, t.image), label: path.resolve(dir, t.label) });
  });
  const test: CaseRef[] = [];
  if (j.test === undefined) out.warnings.push({ code: 'VNET_W_MISSING_KEY', file: jsonPath, message: 'no "test" list' });
  else if (!Array.isArray(j.test)) err('VNET_E_BAD_JSON', '"test" is not a list');
  else j.test.forEach((t: unknown, i: number) => {
    const p = typeof t === 'string' ? t : isObj(t) && typeof t.image === 'string' ? t.image : undefined;
    if (p === undefined) err('VNET_E_BAD_JSON', `test[${i}] is not a path`);
    else test.push({ id: stripNiftiExt(p), image: path.resolve(dir, p) });
  });
  if (!isObj(j.modality)) out.warnings.push({ code: 'VNET_W_MISSING_KEY', file: jsonPath, message: 'no "modality" object' });
  const modality = isObj(j.modality) ? sortedValues(j.modality) : [];
  return { dir, jsonPath, format: 'msd', name: typeof j.name === 'string' ? j.name : undefined, labels, modality, channels: Math.max(1, modality.length), training, test };
}

function parseNnunet(j: Json, dir: string, jsonPath: string, out: DatasetInspection): DatasetSpec | undefined {
  const err = (code: DataErrorCode, message: string, file = jsonPath) => out.errors.push({ code, file, message });
  if (!isObj(j.channel_names)) { err('VNET_E_MISSING_KEY', 'missing "channel_names" object'); return undefined; }
  if (typeof j.file_ending !== 'string') { err('VNET_E_MISSING_KEY', 'missing "file_ending" string'); return undefined; }
  const modality = sortedValues(j.channel_names);
  const C = modality.length;
  if (C < 1) { err('VNET_E_BAD_JSON', '"channel_names" is empty'); return undefined; }
  const labels = parseLabels(j.labels, true, (m) => err(m.startsWith('missing') ? 'VNET_E_MISSING_KEY' : 'VNET_E_BAD_JSON', m));
  if (!labels) return undefined;
  const fe = j.file_ending;
  // Channel k of a case is <case>_000k<ending>; one channel keeps the plain `image` only.
  const withChannels = (ref: CaseRef, files: string[]): CaseRef => (C > 1 ? { ...ref, channels: files } : ref);
  const channelFiles = (d: string, id: string) => Array.from({ length: C }, (_, k) => path.join(d, `${id}_${String(k).padStart(4, '0')}${fe}`));
  const listCases = (sub: string): string[] => {
    const d = path.join(dir, sub);
    if (!fs.existsSync(d)) return [];
    return fs.readdirSync(d).filter((f) => !f.startsWith('.') && f.endsWith(`_0000${fe}`)).map((f) => f.slice(0, -(5 + fe.length))).sort();
  };
  let training: DatasetSpec['training'];
  if (isObj(j.dataset)) {
    // nnU-Net v2 also allows explicit cases: { case: { images: [...], label } }, paths relative.
    training = Object.entries(j.dataset).flatMap(([id, v]) => {
      if (!isObj(v) || !Array.isArray(v.images) || !v.images.every((f) => typeof f === 'string') || typeof v.label !== 'string') {
        err('VNET_E_BAD_JSON', `dataset.${id} needs "images" and "label"`);
        return [];
      }
      if (v.images.length !== C) {
        err('VNET_E_CHANNEL_COUNT', `dataset.${id} lists ${v.images.length} image(s) for the ${C} channels of "channel_names"`);
        return [];
      }
      const files = (v.images as string[]).map((f) => path.resolve(dir, f));
      return [{ ...withChannels({ id, image: files[0] }, files), label: path.resolve(dir, v.label) }];
    });
  } else {
    if (!fs.existsSync(path.join(dir, 'imagesTr'))) err('VNET_E_MISSING_FILE', 'imagesTr folder is missing', path.join(dir, 'imagesTr'));
    const d = path.join(dir, 'imagesTr');
    training = listCases('imagesTr').map((id) => {
      const files = channelFiles(d, id);
      return { ...withChannels({ id, image: files[0] }, files), label: path.join(dir, 'labelsTr', `${id}${fe}`) };
    });
  }
  const ts = path.join(dir, 'imagesTs');
  const test = listCases('imagesTs').map((id) => { const files = channelFiles(ts, id); return withChannels({ id, image: files[0] }, files); });
  return { dir, jsonPath, format: 'nnunetv2', name: typeof j.name === 'string' ? j.name : undefined, labels, modality, channels: C, training, test, fileEnding: fe };
}

/** MSD: {"0": "background"}; nnU-Net v2 (`byName`): {"background": 0}. */
function parseLabels(v: unknown, byName: boolean, fail: (m: string) => void): LabelClass[] | undefined {
  if (!isObj(v)) { fail('missing "labels" object'); return undefined; }
  const out: LabelClass[] = [];
  for (const [k, val] of Object.entries(v)) {
    const value = byName ? val : Number(k);
    const name = byName ? k : val;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || typeof name !== 'string') {
      fail(`label ${JSON.stringify(k)}: ${JSON.stringify(val)} is not a non-negative integer class (region labels are not supported)`);
      return undefined;
    }
    out.push({ value, name });
  }
  if (out.length === 0) { fail('"labels" is empty'); return undefined; }
  out.sort((a, b) => a.value - b.value);
  // Names key the per-class Dice and the best-checkpoint choice; values index the network's
  // output channels. Both must be unique, and the values exactly 0..N-1 (what training needs).
  const names = new Set<string>();
  for (const [i, l] of out.entries()) {
    if (names.has(l.name)) { fail(`label name ${JSON.stringify(l.name)} is used by more than one class`); return undefined; }
    names.add(l.name);
    if (l.value !== i) { fail(`label values must be 0..${out.length - 1} with no gaps or repeats, got ${out.map((c) => c.value).join(', ')}`); return undefined; }
  }
  return out;
}

function sortedValues(o: Json): string[] {
  return Object.keys(o).sort((a, b) => Number(a) - Number(b)).map((k) => String(o[k]));
}
