// Dataset validation: list every problem with a stable code before any training starts (the
// same check runs at training start). Errors stop training; warnings are worth a look.
import fs from 'node:fs';
import path from 'node:path';
import { inspectDataset, type DatasetFormat, type DatasetSpec } from './dataset.js';
import { isDataError, type Problem } from './errors.js';
import { niftiAffine } from './nifti-header.js';
import { readNifti, readNiftiChannels, type NiftiVolume } from './nifti.js';
import { checkChannelFile } from './channels.js';
import type { CaseRef } from './preprocess.js';

export type { Problem } from './errors.js';

export interface ValidateOptions {
  /** Scan voxel values (NaN/inf, label values); default true. false checks headers and shapes only. */
  values?: boolean;
  /** Also check the test images; default true. */
  test?: boolean;
  /** Largest spacing / affine difference (mm) between image and label not reported; default 1e-3. */
  geometryTolerance?: number;
  /** Called after each case with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

export interface ValidationResult {
  errors: Problem[];
  warnings: Problem[];
  /** Training cases listed. */
  cases: number;
  /** Test images listed. */
  testCases: number;
  format?: DatasetFormat;
}

/** Check dataset.json, then every listed file: existence, integrity, shapes, geometry, values. */
export function validateDataset(dataDir: string, opts: ValidateOptions = {}): ValidationResult {
  const ins = inspectDataset(dataDir);
  const res: ValidationResult = { errors: ins.errors, warnings: ins.warnings, cases: 0, testCases: 0 };
  const spec = ins.spec;
  if (!spec) return res;
  res.format = spec.format;
  res.cases = spec.training.length;
  const tests = opts.test === false ? [] : spec.test;
  res.testCases = spec.test.length;
  const ctx = { res, spec, values: opts.values !== false, tol: opts.geometryTolerance ?? 1e-3, seen: new Set<number>() };
  const total = spec.training.length + tests.length;
  let done = 0;
  for (const c of spec.training) {
    checkPair(ctx, readImage(ctx, c), c.image, c.label);
    opts.onProgress?.(++done, total);
  }
  for (const c of tests) {
    readImage(ctx, c);
    opts.onProgress?.(++done, total);
  }
  if (ctx.values && res.cases > 0) {
    const unused = spec.labels.filter((l) => !ctx.seen.has(l.value));
    if (unused.length > 0) {
      res.warnings.push({ code: 'VNET_W_LABEL_UNUSED', file: spec.jsonPath, message: `classes never present in any label: ${unused.map((l) => `${l.value} (${l.name})`).join(', ')}` });
    }
  }
  return res;
}

interface Ctx {
  res: ValidationResult;
  spec: DatasetSpec;
  values: boolean;
  tol: number;
  seen: Set<number>;
}

/**
 * A case's image: every channel file read and checked against the first (3-D, same grid), or
 * its one file holding as many volumes as the dataset lists modalities.
 */
function readImage(ctx: Ctx, c: CaseRef): NiftiVolume | undefined {
  const C = ctx.spec.channels;
  if (!c.channels) return read(ctx, c.image, false, ctx.spec.modality.length ? C : undefined);
  const vols = c.channels.map((f) => read(ctx, f, false, 1));
  const first = vols[0];
  if (!first) return undefined;
  for (const [k, v] of vols.entries()) {
    if (!v || k === 0) continue;
    try {
      checkChannelFile(v, first, c.channels[k]);
    } catch (e) {
      if (!isDataError(e)) throw e;
      ctx.res.errors.push({ code: e.code, file: c.channels[k], message: e.detail });
    }
  }
  return first;
}

/**
 * One file, checked: it exists, decodes, has a finite positive spacing and (values) finite voxels.
 * `volumes`: how many volumes an image must hold (the dataset's channels); unknown: a 4-D file
 * is read as the reference does, its last volume, with a warning.
 */
function read(ctx: Ctx, file: string, isLabel: boolean, volumes?: number): NiftiVolume | undefined {
  const { res } = ctx;
  if (!fs.existsSync(file)) {
    res.errors.push({ code: 'VNET_E_MISSING_FILE', file, message: `${isLabel ? 'label' : (volumes === 1 && ctx.spec.channels > 1 ? 'channel' : 'image')} file does not exist` });
    return undefined;
  }
  let v: NiftiVolume;
  try {
    v = !isLabel && volumes !== undefined && volumes > 1 ? readNiftiChannels(file) : readNifti(file);
  } catch (e) {
    if (isDataError(e)) res.errors.push({ code: e.code, file, message: e.detail ?? e.message });
    else res.errors.push({ code: 'VNET_E_CORRUPT_FILE', file, message: (e as Error).message });
    return undefined;
  }
  const spacing = v.header.pixdim.slice(1, 4);
  // Resampling and HD95 scale by the spacing: NaN or zero would skew every distance silently.
  if (spacing.some((s) => !(Number.isFinite(s) && s > 0))) {
    res.errors.push({ code: 'VNET_E_GEOMETRY', file, message: `voxel spacing (pixdim[1..3]) is ${spacing.join(', ')}; each must be a finite positive number of mm` });
  }
  if (volumes !== undefined && !isLabel && v.volumes !== volumes) {
    const what = ctx.spec.channels > 1 && volumes === 1 ? 'a channel file must hold one 3-D volume' : `dataset.json lists ${volumes} modalit${volumes === 1 ? 'y' : 'ies'} (one volume each)`;
    res.errors.push({ code: 'VNET_E_CHANNEL_COUNT', file, message: `${v.volumes} volume(s), but ${what}` });
  } else if (v.volumes > 1 && (isLabel || volumes === undefined)) res.warnings.push({ code: 'W_4D', file, message: `${v.volumes} volumes; only the last one is used` });
  if (ctx.values) {
    let bad = 0;
    for (let i = 0; i < v.data.length; i++) {
      const x = v.data[i];
      if (x - x !== 0) bad++; // NaN or +-inf; cheaper than Number.isFinite per voxel
    }
    if (bad > 0) res.errors.push({ code: 'VNET_E_NONFINITE', file, message: `${bad} NaN or infinite voxels` });
  }
  return v;
}

function checkPair(ctx: Ctx, img: NiftiVolume | undefined, imageFile: string, labelFile: string): void {
  const { res } = ctx;
  const lab = read(ctx, labelFile, true);
  if (lab && ctx.values) checkLabelValues(ctx, lab, labelFile);
  if (!img || !lab) return;
  if (img.shape.some((s, i) => s !== lab.shape[i])) {
    res.errors.push({ code: 'VNET_E_SHAPE_MISMATCH', file: labelFile, message: `label shape ${lab.shape.join('x')} differs from image shape ${img.shape.join('x')} (${path.basename(imageFile)})` });
    return;
  }
  const si = img.header.pixdim.slice(1, 4);
  const sl = lab.header.pixdim.slice(1, 4);
  const spacingDiff = Math.max(...si.map((s, i) => Math.abs(s - sl[i])));
  const ai = niftiAffine(img.header);
  const al = niftiAffine(lab.header);
  const affineDiff = Math.max(...ai.flatMap((r, i) => r.map((v, k) => Math.abs(v - al[i][k]))));
  if (spacingDiff > ctx.tol || affineDiff > ctx.tol) {
    const fmt = (a: number[]) => a.map((x) => +x.toFixed(4)).join(',');
    res.warnings.push({
      code: 'VNET_W_GEOMETRY_MISMATCH', file: labelFile,
      message: spacingDiff > ctx.tol ? `spacing ${fmt(sl)} differs from the image's ${fmt(si)}` : `affine differs from the image's by up to ${affineDiff.toPrecision(3)} mm`,
    });
  }
}

function checkLabelValues(ctx: Ctx, lab: NiftiVolume, file: string): void {
  const allowed = new Set(ctx.spec.labels.map((l) => l.value));
  const found = new Set<number>();
  const d = lab.data;
  let prev = NaN;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v === prev) continue; // long runs of one value: skip the Set
    prev = v;
    if (v - v === 0) found.add(v);
  }
  const bad = [...found].filter((v) => !Number.isInteger(v) || !allowed.has(v)).sort((a, b) => a - b);
  for (const v of found) if (allowed.has(v)) ctx.seen.add(v);
  if (bad.length > 0) {
    const list = bad.slice(0, 8).join(', ') + (bad.length > 8 ? `, ... (${bad.length} values)` : '');
    ctx.res.errors.push({ code: 'VNET_E_LABEL_VALUES', file, message: `values ${list} are not in labels {${[...allowed].join(', ')}}` });
  }
}

/** One line per problem: `<code> <file>: <message>`, files relative to `relativeTo` when inside it. */
export function formatProblems(problems: readonly Problem[], opts: { relativeTo?: string } = {}): string {
  return problems.map((p) => {
    let f = p.file ?? '-';
    if (p.file && opts.relativeTo) {
      const rel = path.relative(opts.relativeTo, p.file);
      if (!rel.startsWith('..') && !path.isAbsolute(rel)) f = rel || '.';
    }
    return `${p.code} ${f}: ${p.message}`;
  }).join('\n');
}
