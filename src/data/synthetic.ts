// A synthetic hippocampus-like dataset in MSD layout, written without any network, so demos and
// tests can train end to end anywhere: two adjoining labelled structures in a noisy volume.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { DataError, Rng, readJsonFile, writeFileAtomicSync } from './index.js';

export interface SyntheticOptions {
  /** Training cases; default 24. */
  cases?: number;
  /** Unlabelled test cases; default 4. */
  testCases?: number;
  /** Seed of every random draw; default 1. */
  seed?: number;
  /** Base (nx, ny, nz); each case adds up to ±2 voxels per axis. Default 36×48×36. */
  shape?: [number, number, number];
  /** Gaussian noise sd relative to the background–structure contrast; default 0.1. */
  noise?: number;
}

export interface SyntheticSummary {
  dir: string;
  training: string[];
  test: string[];
}

/** The dataset.json "name" we write; we only overwrite a dataset.json that carries it. */
export const SYNTHETIC_NAME = 'SyntheticHippocampus';

// Module-level copies: global lookups in per-voxel loops are slow inside jest's vm context.
const { sin, cos, sqrt, log, abs, PI } = Math;

function gaussian(rand: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) { const s = spare; spare = undefined; return s; }
    const u = 1 - rand();
    const v = rand();
    const r = sqrt(-2 * log(u));
    spare = r * sin(2 * PI * v);
    return r * cos(2 * PI * v);
  };
}

/**
 * A NIfTI-1 single file (348-byte header, 4 zero extension bytes, voxels x fastest): identity
 * qform and sform, 1 mm spacing, origin 0. `data` is already in file order.
 */
export function buildNifti1(shape: [number, number, number], data: Float32Array | Int16Array | Uint8Array): Uint8Array {
  const float = data instanceof Float32Array, short = data instanceof Int16Array;
  const size = data.BYTES_PER_ELEMENT;
  const out = new Uint8Array(352 + data.length * size);
  const dv = new DataView(out.buffer);
  dv.setInt32(0, 348, true); // sizeof_hdr
  out[38] = 'r'.charCodeAt(0); // regular = 'r' (legacy ANALYZE field, set by most writers)
  [3, shape[0], shape[1], shape[2], 1, 1, 1, 1].forEach((d, i) => dv.setInt16(40 + 2 * i, d, true));
  dv.setInt16(70, float ? 16 : short ? 4 : 2, true); // datatype: float32 / int16 / uint8
  dv.setInt16(72, size * 8, true); // bitpix
  [1, 1, 1, 1, 1, 0, 0, 0].forEach((p, i) => dv.setFloat32(76 + 4 * i, p, true)); // pixdim[0] = qfac 1
  dv.setFloat32(108, 352, true); // vox_offset
  dv.setFloat32(112, 1, true); // scl_slope
  dv.setFloat32(116, 0, true); // scl_inter
  out[123] = 2 | 8; // xyzt_units: mm, s
  Buffer.from('vnet-native synthetic', 'latin1').copy(out, 148); // descrip
  dv.setInt16(252, 1, true); // qform_code: scanner
  dv.setInt16(254, 1, true); // sform_code: scanner
  // quatern_b/c/d = 0 (identity rotation), qoffset = 0: already zero.
  [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]].forEach((row, r) => row.forEach((v, c) => dv.setFloat32(280 + 16 * r + 4 * c, v, true)));
  out.set([0x6e, 0x2b, 0x31, 0x00], 344); // magic "n+1\0"
  // Bytes 348..351 stay 0: no extensions.
  if (float) for (let i = 0; i < data.length; i++) dv.setFloat32(352 + 4 * i, data[i], true);
  else if (short) for (let i = 0; i < data.length; i++) dv.setInt16(352 + 2 * i, data[i], true);
  else out.set(data, 352);
  return out;
}

/**
 * One case in file order: an elongated, tapered ellipsoid along a jittered axis near y, its "head"
 * (label 1, Anterior) and "body/tail" (label 2, Posterior) split across the long axis, so the two
 * touch along a plane. Each class has its own mean intensity; a smooth multiplicative bias field
 * and Gaussian noise on top.
 */
function makeCase(rand: () => number, base: [number, number, number], noise: number) {
  const gauss = gaussian(rand);
  const uni = (lo: number, hi: number) => lo + (hi - lo) * rand();
  const shape = base.map((s) => Math.max(8, s + Math.floor(uni(-2, 3)))) as [number, number, number];
  const [nx, ny, nz] = shape;
  const centre = [nx / 2 + uni(-2, 2), ny / 2 + uni(-2, 2), nz / 2 + uni(-2, 2)];
  const scale = Math.min(nx / 36, ny / 48, nz / 36);
  const L = uni(13, 16) * scale; // half-length along the long axis
  const a = uni(4, 5.5) * scale; // cross-section half-widths
  const c = uni(3.5, 4.5) * scale;
  const split = uni(-0.1, 0.2); // where the head starts, in units of L along the axis
  // Long axis: y rotated by theta towards x, then tilted by phi towards z.
  const theta = uni(-0.35, 0.35);
  const phi = uni(-0.2, 0.2);
  const ax = [Math.sin(theta) * Math.cos(phi), Math.cos(theta) * Math.cos(phi), Math.sin(phi)];
  const bx = [Math.cos(theta), -Math.sin(theta), 0]; // cross axis 1, in the x-y plane
  const cx = [ax[1] * bx[2] - ax[2] * bx[1], ax[2] * bx[0] - ax[0] * bx[2], ax[0] * bx[1] - ax[1] * bx[0]];
  const flip = rand() < 0.5 ? 1 : -1; // which end of y the head is at, so position alone is not enough
  const level = [0.3, 1.0, 0.72].map((m) => m * uni(0.93, 1.07));
  const bias = [uni(0.5, 1.5), uni(0.5, 1.5), uni(0.5, 1.5), uni(0, 6.3), uni(0, 6.3), uni(0, 6.3)];
  const n = nx * ny * nz;
  const image = new Float32Array(n);
  const label = new Uint8Array(n);
  const sd = noise * (level[1] - level[0]);
  // The bias field is separable: 1 + 0.12·bx(x)·by(y) + 0.06·bz(z).
  const wave = (len: number, f: number, ph: number) => Float64Array.from({ length: len }, (_, k) => sin((f * 2 * PI * k) / len + ph));
  const [bfx, bfy, bfz] = [wave(nx, bias[0], bias[3]), wave(ny, bias[1], bias[4]), wave(nz, bias[2], bias[5])];
  let i = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, i++) {
        const p0 = x - centre[0];
        const p1 = y - centre[1];
        const p2 = z - centre[2];
        const t = (flip * (p0 * ax[0] + p1 * ax[1] + p2 * ax[2])) / L;
        const u = p0 * bx[0] + p1 * bx[1] + p2 * bx[2];
        const w = p0 * cx[0] + p1 * cx[1] + p2 * cx[2];
        const r = t >= 0 ? 1.05 : 1 + 0.45 * t; // bulky head, tapering tail
        const inside = abs(t) <= 1 && r > 0 && t * t + (u / (a * r)) ** 2 + (w / (c * r)) ** 2 <= 1;
        const lab = inside ? (t >= split ? 1 : 2) : 0;
        label[i] = lab;
        const field = 1 + 0.12 * bfx[x] * bfy[y] + 0.06 * bfz[z];
        image[i] = 100 * (level[lab] * field + sd * gauss());
      }
    }
  }
  return { shape, image, label };
}

/**
 * Write `<dir>/dataset.json`, imagesTr, labelsTr and imagesTs (gzipped NIfTI-1). Deterministic for
 * a given seed and options. Refuses to overwrite a dataset.json that is not a synthetic one.
 */
export function writeSyntheticDataset(dir: string, opts: SyntheticOptions = {}): SyntheticSummary {
  const cases = opts.cases ?? 24;
  const testCases = opts.testCases ?? 4;
  const base = opts.shape ?? [36, 48, 36];
  const noise = opts.noise ?? 0.1;
  if (!(Number.isInteger(cases) && cases >= 1 && Number.isInteger(testCases) && testCases >= 0)) {
    throw new DataError('VNET_E_BAD_ARGUMENT', `cases must be ≥ 1 and testCases ≥ 0 (got ${cases}, ${testCases})`);
  }
  if (!(noise >= 0)) throw new DataError('VNET_E_BAD_ARGUMENT', `noise must be ≥ 0 (got ${noise})`);
  const jsonPath = path.join(dir, 'dataset.json');
  if (fs.existsSync(jsonPath)) {
    let name: unknown;
    try { name = (readJsonFile(jsonPath) as { name?: unknown }).name; } catch { name = undefined; }
    if (name !== SYNTHETIC_NAME) throw new DataError('VNET_E_DATA_EXISTS', 'a dataset.json that is not a synthetic dataset is already there', jsonPath);
  }
  const rng = new Rng(opts.seed ?? 1); // the data pipeline's one generator
  const rand = () => rng.float();
  const write = (rel: string, shape: [number, number, number], data: Float32Array | Uint8Array) =>
    writeFileAtomicSync(path.join(dir, rel), zlib.gzipSync(buildNifti1(shape, data), { level: 6 }));
  const training: string[] = [];
  const test: string[] = [];
  for (let k = 0; k < cases + testCases; k++) {
    const id = `synth_${String(k + 1).padStart(3, '0')}`;
    const cs = makeCase(rand, base, noise);
    if (k < cases) {
      write(`imagesTr/${id}.nii.gz`, cs.shape, cs.image);
      write(`labelsTr/${id}.nii.gz`, cs.shape, cs.label);
      training.push(id);
    } else {
      write(`imagesTs/${id}.nii.gz`, cs.shape, cs.image);
      test.push(id);
    }
  }
  const json = {
    name: SYNTHETIC_NAME,
    description: 'Synthetic two-part hippocampus-like structures (vnet-native writeSyntheticDataset)',
    reference: 'generated',
    licence: 'CC0',
    release: '1.0',
    tensorImageSize: '3D',
    modality: { 0: 'MRI' },
    labels: { 0: 'background', 1: 'Anterior', 2: 'Posterior' },
    numTraining: cases,
    numTest: testCases,
    training: training.map((id) => ({ image: `./imagesTr/${id}.nii.gz`, label: `./labelsTr/${id}.nii.gz` })),
    test: test.map((id) => `./imagesTs/${id}.nii.gz`),
  };
  writeFileAtomicSync(jsonPath, JSON.stringify(json, null, 4) + '\n');
  return { dir: path.resolve(dir), training, test };
}
