// One DICOM Part 10 file -> the image frames it holds (one for a classic slice, NumberOfFrames for
// an enhanced multi-frame image), each with its geometry, its rescale and its stored pixels.
// dicom-parser does the tag-level parsing; the checks that make a hostile or cut file a clear
// error (element bounds, pixel data length, transfer syntax, deflate size) are ours.
import zlib from 'node:zlib';
import dicomParser, { type DataSet } from 'dicom-parser';
import { DataError } from '../errors.js';
import { LIMITS } from '../reader.js';

/** One 2-D image of a series: a single-frame file, or one frame of a multi-frame file. */
export interface DicomFrame {
  file: string;
  /** 1-based frame number in a multi-frame file; undefined for a single-frame file. */
  frameNumber?: number;
  sopClassUid: string;
  sopInstanceUid: string;
  seriesUid: string;
  rows: number;
  cols: number;
  /** ImageOrientationPatient: the row cosine (towards higher columns), then the column cosine (LPS). */
  orientation: number[];
  /** PixelSpacing as DICOM orders it: [between rows, between columns] in mm. */
  pixelSpacing: [number, number];
  /** ImagePositionPatient of the first stored pixel (LPS, mm). */
  position: [number, number, number];
  slope: number;
  intercept: number;
  /** GantryDetectorTilt in degrees (0 when absent). */
  gantryTilt: number;
  sliceThickness?: number;
  /** The frame's stored values (rows x cols, row-major), before rescale. */
  pixels(): Float64Array | Int32Array;
}

/** Study-level attributes a derived object (a SEG) copies from its source. */
export type StudyAttributes = Record<(typeof STUDY_TAGS)[number][0], string>;

const STUDY_TAGS = [
  ['PatientName', 'x00100010'], ['PatientID', 'x00100020'], ['PatientBirthDate', 'x00100030'], ['PatientSex', 'x00100040'],
  ['StudyInstanceUID', 'x0020000d'], ['StudyDate', 'x00080020'], ['StudyTime', 'x00080030'], ['StudyID', 'x00200010'],
  ['AccessionNumber', 'x00080050'], ['ReferringPhysicianName', 'x00080090'], ['FrameOfReferenceUID', 'x00200052'],
  ['PositionReferenceIndicator', 'x00201040'], ['SeriesInstanceUID', 'x0020000e'], ['Modality', 'x00080060'],
] as const;

/** Transfer syntaxes with native (uncompressed) pixel data. */
const NATIVE = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1.99']);

/** True when `b` carries the Part 10 "DICM" prefix after its 128-byte preamble. */
export function isDicom(b: Uint8Array): boolean {
  return b.byteLength >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d;
}

/** Parses `bytes` (the whole file) into its frames and study attributes. */
export function parseDicomFile(bytes: Uint8Array, file: string): { frames: DicomFrame[]; study: StudyAttributes } {
  if (!isDicom(bytes)) throw new DataError('VNET_E_NOT_DICOM', 'not a DICOM file (no "DICM" prefix at byte 128); a series folder must hold only the slices of one series', file);
  const ds = parse(bytes, file);
  checkBounds(ds, file);
  if (!ds.elements.x7fe00010) {
    throw new DataError('VNET_E_NOT_DICOM', `a DICOM object with no pixel data (SOP class ${ds.string('x00080016') ?? '?'}), not an image; keep only the image series in the folder`, file);
  }
  const study = decodeStudy(ds);
  return { frames: frames(ds, file), study };
}

function parse(bytes: Uint8Array, file: string): DataSet {
  const u8 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    const syntax = dicomParser.readPart10Header(u8).string('x00020010') ?? '';
    if (!NATIVE.has(syntax)) {
      throw new DataError('VNET_E_UNSUPPORTED', `transfer syntax ${syntax || '(none)'} has compressed pixel data; decompress the series first (e.g. gdcmconv --raw or dcmdjpeg)`, file);
    }
    return dicomParser.parseDicom(u8, { inflater: (b, at) => inflate(b, at, file) });
  } catch (e) {
    if (e instanceof DataError) throw e;
    // dicom-parser throws strings as well as Errors.
    const msg = e instanceof Error ? e.message : String(e);
    throw new DataError('VNET_E_CORRUPT_FILE', `cannot be parsed as DICOM (${msg.replace(/^dicomParser\.\w+: /, '')}); is it cut short?`, file);
  }
}

/** Deflated transfer syntax: inflate, but never past the volume limit (a small file cannot fill memory). */
function inflate(b: Uint8Array, at: number, file: string): Buffer {
  let body: Buffer;
  try {
    body = zlib.inflateRawSync(b.subarray(at), { maxOutputLength: LIMITS.volume() });
  } catch (e) {
    throw new DataError('VNET_E_CORRUPT_FILE', `deflated data: ${(e as Error).message}`, file);
  }
  return Buffer.concat([b.subarray(0, at), body]);
}

/** Every top-level element must end inside the file: a cut file otherwise parses "fine". */
function checkBounds(ds: DataSet, file: string): void {
  const size = ds.byteArray.length;
  for (const el of Object.values(ds.elements)) {
    if (el.dataOffset + el.length > size) {
      throw new DataError('VNET_E_CORRUPT_FILE', `truncated: element (${el.tag.slice(1, 5)},${el.tag.slice(5)}) needs ${el.dataOffset + el.length} bytes, the file has ${size}`, file);
    }
  }
}

function decodeStudy(ds: DataSet): StudyAttributes {
  // Names may be UTF-8 (ISO_IR 192); the default repertoire and Latin-1 decode as latin1.
  const utf8 = (ds.string('x00080005') ?? '').includes('ISO_IR 192');
  const out = {} as StudyAttributes;
  for (const [name, tag] of STUDY_TAGS) {
    const el = ds.elements[tag];
    const raw = el ? Buffer.from(ds.byteArray.buffer, ds.byteArray.byteOffset + el.dataOffset, el.length) : Buffer.alloc(0);
    out[name] = raw.toString(utf8 ? 'utf8' : 'latin1').replace(/[\0 ]+$/, '');
  }
  return out;
}

/** The first item's data set of sequence `tag` in `ds`, if any. */
function item(ds: DataSet | undefined, tag: string): DataSet | undefined {
  return ds?.elements[tag]?.items?.[0]?.dataSet;
}

function numbers(ds: DataSet | undefined, tag: string, n: number): number[] | undefined {
  if (!ds?.elements[tag]) return undefined;
  const v = Array.from({ length: n }, (_, i) => ds.floatString(tag, i) ?? NaN);
  return v.every(Number.isFinite) ? v : undefined;
}

function frames(ds: DataSet, file: string): DicomFrame[] {
  const need = <T>(v: T | undefined, what: string, code: 'VNET_E_GEOMETRY' | 'VNET_E_CORRUPT_FILE' = 'VNET_E_GEOMETRY'): T => {
    if (v === undefined) throw new DataError(code, `has no usable ${what}`, file);
    return v;
  };
  const rows = need(ds.uint16('x00280010'), 'Rows');
  const cols = need(ds.uint16('x00280011'), 'Columns');
  const count = ds.intString('x00280008') ?? 1;
  if (!(rows > 0 && cols > 0 && count >= 1)) throw new DataError('VNET_E_CORRUPT_FILE', `bad image size ${rows}x${cols}x${count}`, file);
  const decode = pixelDecoder(ds, rows * cols, count, file);
  const common = {
    file, rows, cols,
    sopClassUid: ds.string('x00080016') ?? '', sopInstanceUid: need(ds.string('x00080018'), 'SOPInstanceUID', 'VNET_E_CORRUPT_FILE'),
    seriesUid: need(ds.string('x0020000e'), 'SeriesInstanceUID', 'VNET_E_CORRUPT_FILE'), gantryTilt: ds.floatString('x00181120') ?? 0,
  };
  const shared = item(ds, 'x52009229');
  const perFrame = ds.elements.x52009230?.items;
  if (count > 1 && !perFrame) {
    throw new DataError('VNET_E_UNSUPPORTED', `a multi-frame image without per-frame positions (no PerFrameFunctionalGroupsSequence); only enhanced multi-frame images are read`, file);
  }
  return Array.from({ length: count }, (_, f) => {
    const own = perFrame?.[f]?.dataSet;
    // A functional group is looked up per frame first, then in the shared groups, then at the top level.
    const group = (seq: string) => item(own, seq) ?? item(shared, seq);
    const orientation = need(numbers(group('x00209116'), 'x00200037', 6) ?? numbers(ds, 'x00200037', 6), 'ImageOrientationPatient');
    const position = need(numbers(group('x00209113'), 'x00200032', 3) ?? numbers(ds, 'x00200032', 3), 'ImagePositionPatient') as [number, number, number];
    const measures = group('x00289110');
    const pixelSpacing = need(numbers(measures, 'x00280030', 2) ?? numbers(ds, 'x00280030', 2), 'PixelSpacing') as [number, number];
    const scale = group('x00289145') ?? ds;
    const slope = scale.floatString('x00281053') ?? 1;
    const intercept = scale.floatString('x00281052') ?? 0;
    return {
      ...common, frameNumber: count > 1 || perFrame ? f + 1 : undefined, orientation, position, pixelSpacing,
      slope: slope === 0 || !Number.isFinite(slope) ? 1 : slope, intercept: Number.isFinite(intercept) ? intercept : 0,
      sliceThickness: measures?.floatString('x00180050') ?? ds.floatString('x00180050'), pixels: () => decode(f),
    };
  });
}

/** A function decoding frame f's stored values; checks the pixel format and that the data is all there. */
function pixelDecoder(ds: DataSet, n: number, count: number, file: string): (f: number) => Float64Array | Int32Array {
  const px = ds.elements.x7fe00010;
  const samples = ds.uint16('x00280002') ?? 1;
  const bits = ds.uint16('x00280100') ?? 0;
  const stored = ds.uint16('x00280101') ?? bits;
  const signed = ds.uint16('x00280103') === 1;
  if (samples !== 1) throw new DataError('VNET_E_UNSUPPORTED', `${samples} samples per pixel (colour); only grey-scale images are read`, file);
  if (![8, 16, 32].includes(bits) || !(stored >= 1 && stored <= bits)) throw new DataError('VNET_E_UNSUPPORTED', `BitsAllocated ${bits} / BitsStored ${stored} is not supported`, file);
  if (px.encapsulatedPixelData) throw new DataError('VNET_E_UNSUPPORTED', 'encapsulated (compressed) pixel data; decompress the series first', file);
  const bytes = bits / 8;
  const frameBytes = n * bytes;
  if (px.length < frameBytes * count) {
    throw new DataError('VNET_E_CORRUPT_FILE', `truncated: pixel data holds ${px.length} bytes, ${count} frame(s) of ${frameBytes} need ${frameBytes * count}`, file);
  }
  const le = ds.byteArrayParser === dicomParser.littleEndianByteArrayParser;
  const dv = new DataView(ds.byteArray.buffer, ds.byteArray.byteOffset + px.dataOffset, frameBytes * count);
  // Bits above BitsStored may hold overlays: masked off, then sign-extended from BitsStored.
  const mask = stored === 32 ? 0xffffffff : 2 ** stored - 1;
  const top = 2 ** (stored - 1);
  return (f) => {
    const out = bits === 32 && !signed ? new Float64Array(n) : new Int32Array(n);
    const base = f * frameBytes;
    for (let i = 0; i < n; i++) {
      const at = base + i * bytes;
      let v = bits === 8 ? dv.getUint8(at) : bits === 16 ? dv.getUint16(at, le) : dv.getUint32(at, le);
      if (stored < bits) v &= mask;
      if (signed && v >= top) v -= 2 * top;
      out[i] = v;
    }
    return out;
  };
}
