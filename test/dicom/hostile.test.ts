// Series a reader must refuse, each with a stable code and the file at fault named: gantry tilt,
// duplicate positions, a missing slice, two series, a non-DICOM file, a cut file, compressed
// data, an empty folder; and files that claim more than they hold (memory stays bounded).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { readDicomFiles, readDicomFolder } from '../../src/data/dicom/index.js';
import { el, encodeDataSet, encodePart10, newUid, type DataSet } from '../../src/data/dicom/encode.js';
import { cleanupTmp, itIf, tmpDir } from '../data/helpers.js';
import { HAVE_PYDICOM, NO_PYDICOM, makeSeries } from './helpers.js';

afterAll(cleanupTmp);

const itPy = itIf(HAVE_PYDICOM, NO_PYDICOM);

/** The error `fn` throws (fails the test when it throws none). */
function caught(fn: () => unknown): { code?: string; message: string; file?: string } {
  try {
    fn();
  } catch (e) {
    return e as { code?: string; message: string; file?: string };
  }
  throw new Error('expected an error, none was thrown');
}

describe('hostile series written by pydicom', () => {
  const cases: [variant: string, code: string, named: 'all' | 'one' | 'each'][] = [
    ['tilt', 'VNET_E_GANTRY_TILT', 'one'],
    ['duplicate', 'VNET_E_DUPLICATE_SLICE', 'each'],
    ['missing', 'VNET_E_MISSING_SLICE', 'each'],
    ['mixed', 'VNET_E_MIXED_SERIES', 'each'],
    ['nondicom', 'VNET_E_NOT_DICOM', 'each'],
    ['truncated', 'VNET_E_CORRUPT_FILE', 'each'],
    ['compressed', 'VNET_E_UNSUPPORTED', 'one'],
  ];
  for (const [variant, code, named] of cases) {
    itPy(`${variant}: ${code} naming the file`, () => {
      const s = makeSeries(variant);
      const e = caught(() => readDicomFolder(s.dir));
      expect(e.code).toBe(code);
      expect(e.file).toBeDefined();
      expect(path.dirname(e.file!.replace(/ \(frame \d+\)$/, ''))).toBe(s.dir);
      // 'each': every file the generator says is at fault is in the message ('one': at least one).
      const hits = s.files.filter((f) => e.message.includes(f));
      expect(named === 'each' ? hits.length === s.files.length : hits.length > 0).toBe(true);
    });
  }

  itPy('an upload is checked the same way (mixed series, cut file)', () => {
    for (const variant of ['mixed', 'truncated']) {
      const s = makeSeries(variant);
      const files = fs.readdirSync(s.dir).map((n) => ({ name: n, bytes: fs.readFileSync(path.join(s.dir, n)) }));
      const e = caught(() => readDicomFiles(files));
      expect(e.code).toBe(variant === 'mixed' ? 'VNET_E_MIXED_SERIES' : 'VNET_E_CORRUPT_FILE');
      expect(s.files.some((f) => e.message.includes(f))).toBe(true);
    }
  });

  itPy('dot files (.DS_Store) are not part of the series; the volume limit is checked', () => {
    const s = makeSeries('single');
    fs.writeFileSync(path.join(s.dir, '.DS_Store'), 'Bud1 not dicom');
    expect(readDicomFolder(s.dir).shape).toEqual(s.shape);
    const old = process.env.VNET_MAX_VOLUME_MB;
    process.env.VNET_MAX_VOLUME_MB = '0.1';
    try {
      expect(caught(() => readDicomFolder(s.dir)).code).toBe('VNET_E_TOO_LARGE');
    } finally {
      if (old === undefined) delete process.env.VNET_MAX_VOLUME_MB;
      else process.env.VNET_MAX_VOLUME_MB = old;
    }
  });
});

describe('folders', () => {
  it('an empty folder, a folder of folders, a missing folder', () => {
    const dir = tmpDir('dcm-empty');
    let e = caught(() => readDicomFolder(dir));
    expect([e.code, e.file]).toEqual(['VNET_E_EMPTY_FOLDER', dir]);
    fs.mkdirSync(path.join(dir, 'series1'));
    e = caught(() => readDicomFolder(dir));
    expect(e.code).toBe('VNET_E_EMPTY_FOLDER');
    expect(e.message).toMatch(/1 subfolder/);
    expect(caught(() => readDicomFolder(path.join(dir, 'nope'))).code).toBe('VNET_E_MISSING_FILE');
    expect(caught(() => readDicomFiles([])).code).toBe('VNET_E_EMPTY_FOLDER');
  });
});

/** A minimal single-frame image written by our own encoder, for what pydicom would not write. */
function tiny(extra: DataSet, pixels?: Uint8Array): Uint8Array {
  const ds: DataSet = [
    el(0x00080016, 'UI', '1.2.840.10008.5.1.4.1.1.4'), el(0x00080018, 'UI', newUid()), el(0x0020000e, 'UI', '1.2.3.4'),
    el(0x00200032, 'DS', [0, 0, 0]), el(0x00200037, 'DS', [1, 0, 0, 0, 1, 0]), el(0x00280030, 'DS', [1, 1]),
    el(0x00280002, 'US', 1), el(0x00280100, 'US', 16), el(0x00280101, 'US', 16), el(0x00280103, 'US', 0),
    ...extra,
  ];
  if (pixels) ds.push(el(0x7fe00010, 'OB', pixels));
  return encodePart10(ds, '1.2.840.10008.5.1.4.1.1.4', newUid(), 'test');
}

describe('files that claim more than they hold', () => {
  it('no pixel data: not an image', () => {
    const e = caught(() => readDicomFiles([{ name: 'sr.dcm', bytes: tiny([el(0x00280010, 'US', 2), el(0x00280011, 'US', 2)]) }]));
    expect([e.code, e.file]).toEqual(['VNET_E_NOT_DICOM', 'sr.dcm']);
  });

  it('a huge image size with 16 bytes of pixels is refused before anything is allocated', () => {
    const bytes = tiny([el(0x00280010, 'US', 60000), el(0x00280011, 'US', 60000), el(0x00280008, 'IS', 100000)], new Uint8Array(16));
    const e = caught(() => readDicomFiles([{ name: 'big.dcm', bytes }]));
    expect([e.code, e.file]).toEqual(['VNET_E_CORRUPT_FILE', 'big.dcm']);
    expect(e.message).toMatch(/truncated: pixel data holds 16 bytes/);
  });

  it('a pixel-data length past the end of the file', () => {
    const ok = tiny([el(0x00280010, 'US', 2), el(0x00280011, 'US', 2)], new Uint8Array(8));
    const cut = ok.subarray(0, ok.length - 3);
    const e = caught(() => readDicomFiles([{ name: 'cut.dcm', bytes: cut }]));
    expect([e.code, e.file]).toEqual(['VNET_E_CORRUPT_FILE', 'cut.dcm']);
  });

  it('a deflated data set that inflates past the volume limit', () => {
    const meta = encodeDataSet([
      el(0x00020001, 'OB', Uint8Array.of(0, 1)), el(0x00020002, 'UI', '1.2.840.10008.5.1.4.1.1.4'),
      el(0x00020003, 'UI', newUid()), el(0x00020010, 'UI', '1.2.840.10008.1.2.1.99'),
    ]);
    const head = encodeDataSet([el(0x00020000, 'UL', meta.length)]);
    const bomb = zlib.deflateRawSync(Buffer.alloc(8 << 20)); // 8 MiB of zeros in ~8 KiB
    const bytes = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), head, meta, bomb]);
    const old = process.env.VNET_MAX_VOLUME_MB;
    process.env.VNET_MAX_VOLUME_MB = '1';
    try {
      const e = caught(() => readDicomFiles([{ name: 'bomb.dcm', bytes }]));
      expect([e.code, e.file]).toEqual(['VNET_E_CORRUPT_FILE', 'bomb.dcm']);
      expect(e.message).toMatch(/deflated data/);
    } finally {
      if (old === undefined) delete process.env.VNET_MAX_VOLUME_MB;
      else process.env.VNET_MAX_VOLUME_MB = old;
    }
  });

  it('random bytes after a DICM prefix', () => {
    const bytes = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), Buffer.from('\x02\x00\x10\x00UI\xff\xff garbage')]);
    const e = caught(() => readDicomFiles([{ name: 'junk.dcm', bytes }]));
    expect([e.code, e.file]).toEqual(['VNET_E_CORRUPT_FILE', 'junk.dcm']);
  });
});
