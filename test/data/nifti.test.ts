// NIfTI reading: real cases (cross-checked with nifti-reader-js), every datatype in both byte
// orders and both versions, scaling, 4-D, and the failure codes.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import * as nrj from 'nifti-reader-js';
import { readNifti, readNiftiHeader, readNiftiLabels } from '../../src/data/nifti.js';
import { DataError } from '../../src/data/errors.js';
import { at, buildNifti, cleanupTmp, itData, real, tmpDir } from './helpers.js';

afterAll(cleanupTmp);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as DataError).code;
  }
  return undefined;
}

describe('real Task04 cases', () => {
  itData('hippocampus_001 has the documented shape (35, 51, 35) and labels {0,1,2}', () => {
    const img = readNifti(real('001'));
    const lab = readNiftiLabels(real('001', 'label'));
    expect(img.shape).toEqual([35, 51, 35]);
    expect(lab.shape).toEqual([35, 51, 35]);
    expect(img.header.pixdim.slice(1, 4)).toEqual([1, 1, 1]);
    expect(img.header.qformCode).toBe(1);
    expect(img.header.sformCode).toBe(1);
    expect(new Set(lab.data)).toEqual(new Set([0, 1, 2]));
  });

  itData('the two float32 labels (003, 243) come out as integers {0,1,2}', () => {
    for (const n of ['003', '243']) {
      const lab = readNiftiLabels(real(n, 'label'));
      expect(lab.header.datatype).toBe(16);
      expect(lab.data).toBeInstanceOf(Int32Array);
      expect(new Set(lab.data)).toEqual(new Set([0, 1, 2]));
    }
  });

  itData('voxels and header agree with nifti-reader-js, transposed to (x slowest, z fastest)', () => {
    for (const n of ['001', '003', '017', '243', '394']) {
      for (const file of [real(n), real(n, 'label')]) {
        const ours = readNifti(file);
        const raw = fs.readFileSync(file);
        const ab = nrj.decompress(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer) as ArrayBuffer;
        const h = nrj.readHeader(ab) as nrj.NIFTI1;
        expect(ours.shape).toEqual(h.dims.slice(1, 4));
        expect(ours.header.pixdim.slice(0, 4)).toEqual(h.pixDims.slice(0, 4));
        expect(ours.header.srow[0][3]).toBeCloseTo(h.affine[0][3], 6);
        const img = nrj.readImage(h, ab);
        const vals = h.datatypeCode === 2 ? new Uint8Array(img) : new Float32Array(img);
        const [nx, ny, nz] = ours.shape;
        let mismatches = 0;
        for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
          if (at(ours.data, ours.shape, x, y, z) !== vals[x + nx * (y + ny * z)]) mismatches++;
        }
        expect(mismatches).toBe(0);
      }
    }
  });

  itData('readNiftiHeader (partial gunzip) matches the full read', () => {
    const full = readNifti(real('017'));
    const head = readNiftiHeader(real('017'));
    expect(head.header).toEqual(full.header);
    expect(Buffer.from(head.headerBytes).equals(Buffer.from(full.headerBytes))).toBe(true);
  });
});

describe('synthetic files', () => {
  const dims = [3, 4, 2];
  const n = 24;
  const cases: [number, number[]][] = [
    [2, [0, 1, 7, 255]], [256, [-128, -1, 0, 127]], [4, [-32768, -5, 3, 32767]], [512, [0, 1, 40000, 65535]],
    [8, [-2147483648, -7, 9, 2147483647]], [768, [0, 1, 3000000000, 4294967295]], [16, [-1.5, 0.25, 3.75, 1e20]],
    [64, [-1e-300, 0.1, Math.PI, 1e300]], [1024, [-(2 ** 40), -1, 5, 2 ** 50]], [1280, [0, 2, 2 ** 33, 2 ** 52]],
  ];
  const fileValues = (pool: number[]) => Array.from({ length: n }, (_, i) => pool[i % pool.length]);

  for (const [dt, pool] of cases) {
    for (const version of [1, 2] as const) {
      for (const littleEndian of [true, false]) {
        it(`datatype ${dt}, NIfTI-${version}, ${littleEndian ? 'little' : 'big'}-endian, plain and gzipped`, () => {
          const values = fileValues(pool);
          const bytes = buildNifti({ version, littleEndian, datatype: dt, dims, values });
          for (const b of [bytes, zlib.gzipSync(bytes)]) {
            const v = readNifti(b);
            expect(v.header.version).toBe(version);
            expect(v.header.littleEndian).toBe(littleEndian);
            expect(v.shape).toEqual(dims);
            for (let z = 0; z < 2; z++) for (let y = 0; y < 4; y++) for (let x = 0; x < 3; x++) {
              expect(at(v.data, v.shape, x, y, z)).toBe(Math.fround(values[x + 3 * (y + 4 * z)]));
            }
          }
        });
      }
    }
  }

  it('applies scl_slope / scl_inter, and slope 0 means no scaling', () => {
    const values = Array.from({ length: n }, (_, i) => i);
    const scaled = readNifti(buildNifti({ datatype: 4, dims, values, slope: 0.5, inter: -3 }));
    const plain = readNifti(buildNifti({ datatype: 4, dims, values, slope: 0, inter: 100 }));
    expect(at(scaled.data, dims, 2, 3, 1)).toBe(23 * 0.5 - 3);
    expect(at(plain.data, dims, 2, 3, 1)).toBe(23);
    const be2 = readNifti(buildNifti({ version: 2, littleEndian: false, datatype: 2, dims, values, slope: 2, inter: 1 }));
    expect(at(be2.data, dims, 1, 0, 0)).toBe(3);
  });

  it('labels are rounded to integers after scaling', () => {
    const values = Array.from({ length: n }, (_, i) => (i % 3) + (i % 2 ? 0.9999 : -0.0001));
    const lab = readNiftiLabels(buildNifti({ datatype: 16, dims, values }));
    expect([...lab.data]).toEqual(Array.from(lab.data, (v) => Math.round(v)));
    expect(new Set(lab.data)).toEqual(new Set([0, 1, 2, 3]));
  });

  it('a 4-D file keeps its last volume', () => {
    const values = Array.from({ length: n * 3 }, (_, i) => Math.floor(i / n) * 100 + (i % n));
    const v = readNifti(buildNifti({ datatype: 4, dims: [3, 4, 2, 3], values }));
    expect(v.volumes).toBe(3);
    expect(v.shape).toEqual([3, 4, 2]);
    expect(at(v.data, v.shape, 0, 0, 0)).toBe(200);
    expect(at(v.data, v.shape, 2, 3, 1)).toBe(223);
  });
});

describe('failures have stable codes', () => {
  const good = buildNifti({ datatype: 16, dims: [4, 4, 4], values: new Array(64).fill(1) });
  it('missing file', () => expect(codeOf(() => readNifti('/nonexistent/x.nii.gz'))).toBe('VNET_E_MISSING_FILE'));
  it('truncated gzip', () => {
    const gz = zlib.gzipSync(good);
    expect(codeOf(() => readNifti(gz.subarray(0, gz.length - 20)))).toBe('VNET_E_CORRUPT_FILE');
  });
  it('bad header size and bad magic', () => {
    const a = good.slice(); a[0] ^= 0xff;
    const b = good.slice(); b[345] = 0x41;
    expect(codeOf(() => readNifti(a))).toBe('VNET_E_CORRUPT_FILE');
    expect(codeOf(() => readNifti(b))).toBe('VNET_E_CORRUPT_FILE');
  });
  it('data shorter than the header says', () => {
    expect(codeOf(() => readNifti(good.subarray(0, good.length - 1)))).toBe('VNET_E_CORRUPT_FILE');
  });
  it('unsupported datatype', () => {
    const c = good.slice(); new DataView(c.buffer).setInt16(70, 32, true); // complex64
    expect(codeOf(() => readNifti(c))).toBe('VNET_E_UNSUPPORTED');
  });
  it('a truncated real file reports its path', () => {
    const dir = tmpDir('nifti');
    const f = path.join(dir, 'cut.nii.gz');
    fs.writeFileSync(f, zlib.gzipSync(good).subarray(0, 60));
    try {
      readNifti(f);
      throw new Error('no error');
    } catch (e) {
      expect((e as DataError).code).toBe('VNET_E_CORRUPT_FILE');
      expect((e as DataError).file).toBe(f);
    }
  });
});
