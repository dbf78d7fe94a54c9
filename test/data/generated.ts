// Generated datasets for the multi-channel, CT and spacing tests: a two-channel MRI-like set
// (MSD: one 4-D file per case; nnU-Net v2: one file per channel) and a CT-like set in Hounsfield
// units (air, soft tissue, bone, a labelled organ). Written by the tests themselves into a
// temporary folder with the independent fixture writer of helpers.ts (uncompressed .nii).
import fs from 'node:fs';
import path from 'node:path';
import { buildNifti } from './helpers.js';

export interface GenOptions {
  cases?: number;
  tests?: number;
  /** (nx, ny, nz) of every case; default 20 x 24 x 16. */
  shape?: [number, number, number];
  pixdim?: [number, number, number];
  seed?: number;
}

/** A deterministic uniform generator in [0, 1) (an LCG: the tests need no quality, only repeatability). */
function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

/** One case in file order (x fastest): label 1 an ellipsoid, label 2 a box beside it; `value(label, r)` gives the intensity. */
function makeCase(shape: [number, number, number], rand: () => number, value: (label: number, x: number, y: number, z: number) => number): { label: Uint8Array; image: Float32Array } {
  const [nx, ny, nz] = shape;
  const cx = nx * (0.4 + 0.1 * rand()), cy = ny * (0.5 + 0.1 * rand()), cz = nz / 2;
  const label = new Uint8Array(nx * ny * nz), image = new Float32Array(nx * ny * nz);
  let i = 0;
  for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++, i++) {
    const e = ((x - cx) / (nx * 0.2)) ** 2 + ((y - cy) / (ny * 0.25)) ** 2 + ((z - cz) / (nz * 0.25)) ** 2;
    const l = e <= 1 ? 1 : x > cx + nx * 0.25 && x < cx + nx * 0.4 && Math.abs(y - cy) < ny * 0.15 && Math.abs(z - cz) < nz * 0.2 ? 2 : 0;
    label[i] = l;
    image[i] = value(l, x, y, z);
  }
  return { label, image };
}

function writeNii(file: string, dims: number[], values: ArrayLike<number>, datatype: number, pixdim?: [number, number, number]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, buildNifti({ datatype, dims, values, pixdim }));
}

/** Two MRI-like channels of very different scales: channel 0 ~ 100-300, channel 1 ~ 2000-5000 (contrast inverted). */
function mriChannels(shape: [number, number, number], rand: () => number) {
  const noise = () => rand() - 0.5;
  const a = makeCase(shape, rand, (l) => [100, 300, 220][l] + 20 * noise());
  const image1 = Float32Array.from(a.label, (l) => [5000, 2000, 3500][l] + 300 * noise());
  return { label: a.label, channels: [a.image, image1] };
}

/**
 * A two-channel MRI-like dataset. `layout` msd: imagesTr/<id>.nii with dims (nx, ny, nz, 2) and
 * modality {0: T1, 1: T2}; nnunet: imagesTr/<id>_0000.nii and _0001.nii with channel_names.
 */
export function writeTwoChannel(dir: string, layout: 'msd' | 'nnunet', o: GenOptions = {}): { ids: string[]; tests: string[] } {
  const shape = o.shape ?? [20, 24, 16];
  const rand = lcg(o.seed ?? 7);
  const ids: string[] = [], tests: string[] = [];
  const n = o.cases ?? 6, t = o.tests ?? 2;
  for (let k = 0; k < n + t; k++) {
    const id = `case_${String(k).padStart(3, '0')}`;
    const c = mriChannels(shape, rand);
    const sub = k < n ? 'imagesTr' : 'imagesTs';
    if (layout === 'msd') {
      const both = new Float32Array(c.channels[0].length * 2);
      both.set(c.channels[0]);
      both.set(c.channels[1], c.channels[0].length);
      writeNii(path.join(dir, sub, `${id}.nii`), [...shape, 2], both, 16, o.pixdim);
    } else c.channels.forEach((ch, j) => writeNii(path.join(dir, sub, `${id}_000${j}.nii`), shape, ch, 16, o.pixdim));
    if (k < n) writeNii(path.join(dir, 'labelsTr', `${id}.nii`), shape, c.label, 2, o.pixdim);
    (k < n ? ids : tests).push(id);
  }
  const labels = { 0: 'background', 1: 'organ', 2: 'box' };
  const json = layout === 'msd'
    ? { name: 'TwoChannel', modality: { 0: 'T1', 1: 'T2' }, labels, numTraining: n, training: ids.map((id) => ({ image: `./imagesTr/${id}.nii`, label: `./labelsTr/${id}.nii` })), test: tests.map((id) => `./imagesTs/${id}.nii`) }
    : { name: 'TwoChannel', channel_names: { 0: 'T1', 1: 'T2' }, labels: { background: 0, organ: 1, box: 2 }, numTraining: n, file_ending: '.nii' };
  fs.writeFileSync(path.join(dir, 'dataset.json'), JSON.stringify(json));
  return { ids, tests };
}

/**
 * A CT-like MSD dataset in Hounsfield units (int16): air -1000 outside a body cylinder, soft
 * tissue 40, a bone ring at 700-1200, the organ (label 1) 80 and the box (label 2) 20, with
 * noise; modality {0: CT}.
 */
export function writeCt(dir: string, o: GenOptions = {}): { ids: string[]; tests: string[] } {
  const shape = o.shape ?? [20, 24, 16];
  const rand = lcg(o.seed ?? 11);
  const ids: string[] = [], tests: string[] = [];
  const n = o.cases ?? 6, t = o.tests ?? 1;
  for (let k = 0; k < n + t; k++) {
    const id = `ct_${String(k).padStart(3, '0')}`;
    const c = makeCase(shape, rand, (l, x, y) => {
      const r = Math.hypot((x - shape[0] / 2) / (shape[0] / 2), (y - shape[1] / 2) / (shape[1] / 2));
      const base = l === 1 ? 80 : l === 2 ? 20 : r > 0.95 ? -1000 : r > 0.85 ? 700 + 500 * rand() : 40;
      return Math.round(base + 15 * (rand() - 0.5));
    });
    const sub = k < n ? 'imagesTr' : 'imagesTs';
    writeNii(path.join(dir, sub, `${id}.nii`), shape, c.image, 4, o.pixdim);
    if (k < n) writeNii(path.join(dir, 'labelsTr', `${id}.nii`), shape, c.label, 2, o.pixdim);
    (k < n ? ids : tests).push(id);
  }
  fs.writeFileSync(path.join(dir, 'dataset.json'), JSON.stringify({
    name: 'CtLike', modality: { 0: 'CT' }, labels: { 0: 'background', 1: 'organ', 2: 'lesion' }, numTraining: n,
    training: ids.map((id) => ({ image: `./imagesTr/${id}.nii`, label: `./labelsTr/${id}.nii` })), test: tests.map((id) => `./imagesTs/${id}.nii`),
  }));
  return { ids, tests };
}

/** Rewrite one file of a generated dataset (a NIfTI with other dims / values / spacing). */
export function overwriteNii(file: string, dims: number[], values: ArrayLike<number>, pixdim?: [number, number, number]): void {
  writeNii(file, dims, values, 16, pixdim);
}
