// Hostile NIfTI files: a gzip bomb, headers declaring absurd sizes, headers far into the gzip
// stream, bad spacing, truncation, and generated header and byte mutations.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { isDataError, readNifti, readNiftiHeader } from '../../src/data/index.js';
import { CASE_LIMIT_MS, cli, dataset, expectIntact, expectRefused, fingerprint, lib, nifti, requireBuilt, tmp } from './helpers.js';

requireBuilt();

/** A valid 8³ header and data, then 1 GiB of zeros, as a ~1 MB multi-member .nii.gz. */
function gzipBomb(file: string): number {
  const head = zlib.gzipSync(nifti([8, 8, 8]));
  const zeros = zlib.gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  const parts = [head, ...Array.from({ length: 1024 }, () => zeros)];
  fs.writeFileSync(file, Buffer.concat(parts));
  return fs.statSync(file).size;
}

/** The first training image of a synthetic dataset. */
function firstImage(dir: string): string {
  const j = JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8')) as { training: { image: string }[] };
  return path.resolve(dir, j.training[0].image);
}

test('a 1 MB .nii.gz that inflates to 1 GiB is refused by validate in bounded memory', () => {
  const dir = dataset();
  const img = firstImage(dir);
  const size = gzipBomb(img);
  expect(size).toBeLessThan(1_200_000);
  const before = fingerprint(dir);
  const o = cli(['validate', '--data_dir', dir]);
  expectRefused(o, { exit: 1, code: 'VNET_E_CORRUPT_FILE', names: [img, 'inflates to more than'], maxRssMb: 300 });
  process.stdout.write(`hostile nifti: gzip bomb (${size} bytes -> 1 GiB) peak RSS ${o.rssMb?.toFixed(0)} MB in ${o.ms} ms\n`);
  expectIntact(before);
}, CASE_LIMIT_MS);

test('a header declaring terabytes is refused before anything is inflated', () => {
  const dir = tmp('nii');
  const file = path.join(dir, 'huge.nii.gz');
  fs.writeFileSync(file, zlib.gzipSync(nifti([8, 8, 8], (dv) => {
    [32767, 32767, 32767].forEach((d, i) => dv.setInt16(42 + 2 * i, d, true));
    dv.setInt16(70, 64, true); // float64
  })));
  const o = lib(`const { readNifti } = await import(D + '/data/index.js'); return readNifti(${JSON.stringify(file)}).shape;`);
  expectRefused(o, { exit: 0, code: 'VNET_E_TOO_LARGE', names: [file, 'VNET_MAX_VOLUME_MB'], maxMs: 5000, maxRssMb: 150 });
}, CASE_LIMIT_MS);

test('a header that starts past the first 64 KiB of the gzip stream is read (long name field, empty members)', () => {
  const dir = tmp('nii');
  const vol = nifti([8, 6, 4]);
  const gz = zlib.gzipSync(vol);
  // FNAME: flag bit 3, a zero-terminated name after the 10-byte member header.
  const named = Buffer.concat([gz.subarray(0, 3), Buffer.from([gz[3] | 0x08]), gz.subarray(4, 10), Buffer.alloc(100_000, 0x61), Buffer.from([0]), gz.subarray(10)]);
  const empties = Buffer.concat(Array.from({ length: 5000 }, () => zlib.gzipSync(Buffer.alloc(0))));
  for (const [name, bytes] of [['named.nii.gz', named], ['empties.nii.gz', Buffer.concat([empties, gz])]] as const) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    expect(bytes.length).toBeGreaterThan(65536);
    expect(readNiftiHeader(file).shape).toEqual([8, 6, 4]);
    expect(readNifti(file).data.length).toBe(8 * 6 * 4);
  }
}, CASE_LIMIT_MS);

test('NaN and zero voxel spacing fail validation (they would skew resampling and HD95)', () => {
  const dir = dataset();
  const img = firstImage(dir);
  const j = JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8')) as { training: { image: string }[] };
  const second = path.resolve(dir, j.training[1].image);
  fs.writeFileSync(img, zlib.gzipSync(nifti([16, 16, 16], (dv) => dv.setFloat32(80, NaN, true))));
  fs.writeFileSync(second, zlib.gzipSync(nifti([16, 16, 16], (dv) => dv.setFloat32(84, 0, true))));
  const before = fingerprint(dir);
  const o = lib(`const { validateDataset } = await import(D + '/data/index.js');
    const r = validateDataset(${JSON.stringify(dir)}, { values: false });
    const g = r.errors.filter((e) => e.code === 'VNET_E_GEOMETRY');
    throw Object.assign(new Error(g.map((e) => e.file + ': ' + e.message).join('\\n')), { code: g.length === 2 ? 'VNET_E_GEOMETRY' : 'MISSING' });`);
  expectRefused(o, { exit: 0, code: 'VNET_E_GEOMETRY', names: [img, second, 'NaN', 'finite positive'], maxMs: 10_000 });
  expectIntact(before);
}, CASE_LIMIT_MS);

test('a truncated .nii.gz and a data section shorter than declared are clear errors', () => {
  const dir = tmp('nii');
  const gz = zlib.gzipSync(nifti([8, 8, 8]));
  const cut = path.join(dir, 'cut.nii.gz');
  fs.writeFileSync(cut, gz.subarray(0, gz.length >> 1));
  const short = path.join(dir, 'short.nii');
  fs.writeFileSync(short, nifti([8, 8, 8]).subarray(0, 600));
  for (const f of [cut, short]) {
    const o = lib(`const { readNifti } = await import(D + '/data/index.js'); return readNifti(${JSON.stringify(f)}).shape;`);
    expectRefused(o, { exit: 0, code: 'VNET_E_CORRUPT_FILE', names: [f], maxMs: 5000, maxRssMb: 150 });
  }
}, CASE_LIMIT_MS);

// Generated cases: random values in the header fields a reader trusts, and random byte damage
// of a compressed file. The reader must return a consistent volume or throw a DataError:
// never another exception, never a huge allocation.
const FIELDS = [40, 42, 44, 46, 48, 50, 52, 54, 70, 72, 108];

test('generated header mutations: a consistent volume or a DataError', () => {
  const base = nifti([6, 5, 4]);
  fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom(...FIELDS), fc.integer({ min: -40000, max: 40000 })), { minLength: 1, maxLength: 4 }), fc.boolean(), (edits, gz) => {
    const b = new Uint8Array(base);
    const dv = new DataView(b.buffer);
    for (const [off, v] of edits) if (off === 108) dv.setFloat32(off, v, true); else dv.setInt16(off, v, true);
    try {
      const vol = readNifti(gz ? zlib.gzipSync(b) : b, 'mutated.nii');
      expect(vol.data.length).toBe(vol.shape[0] * vol.shape[1] * vol.shape[2]);
    } catch (e) {
      if (!isDataError(e)) throw e;
      expect(String((e as Error).message)).toContain('mutated.nii');
    }
  }), { numRuns: 300, seed: 13 });
}, CASE_LIMIT_MS);

test('generated damage to a .nii.gz: a consistent volume or a DataError', () => {
  const gz = zlib.gzipSync(nifti([6, 5, 4]));
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat(gz.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(gz.length), (flips, keep) => {
    const b = Buffer.from(gz.subarray(0, Math.max(keep, 2)));
    for (const [i, v] of flips) if (i < b.length) b[i] = v;
    try {
      const vol = readNifti(b, 'damaged.nii.gz');
      expect(vol.data.length).toBe(vol.shape[0] * vol.shape[1] * vol.shape[2]);
    } catch (e) {
      if (!isDataError(e)) throw e;
    }
  }), { numRuns: 300, seed: 13 });
}, CASE_LIMIT_MS);

test('a NIfTI header field far beyond the volume limit is refused by the header reader too', () => {
  const dir = tmp('nii');
  const file = path.join(dir, 'wide.nii');
  fs.writeFileSync(file, nifti([8, 8, 8], (dv) => dv.setInt16(40, 7, true))); // dim[0] = 7 with dims 4..7 = 1
  expect(readNiftiHeader(file).volumes).toBe(1);
  const o = lib(`const { readNifti } = await import(D + '/data/index.js');
    const b = new Uint8Array(${JSON.stringify(Array.from(nifti([2, 2, 2])))});
    const dv = new DataView(b.buffer); dv.setInt16(40, 7, true); for (let i = 4; i <= 7; i++) dv.setInt16(40 + 2 * i, 30000, true);
    const { gzipSync } = await import('node:zlib');
    return readNifti(gzipSync(b), 'many-volumes.nii.gz').shape;`);
  expectRefused(o, { exit: 0, code: 'VNET_E_TOO_LARGE', names: ['many-volumes.nii.gz'], maxMs: 5000, maxRssMb: 150 });
}, CASE_LIMIT_MS);
