// A small DICOM writer: a data set is a list of elements, each with its VR spelled out, encoded as
// a Part 10 file in explicit VR little endian (the transfer syntax every reader must take), with
// defined-length sequences and items. Enough for the objects this project writes (DICOM SEG).
import crypto from 'node:crypto';

export type VR = 'AT' | 'CS' | 'DA' | 'DS' | 'FD' | 'IS' | 'LO' | 'LT' | 'OB' | 'PN' | 'SH' | 'SQ' | 'ST' | 'TM' | 'UI' | 'UL' | 'US' | 'UT';
type Value = string | number | readonly (string | number)[] | Uint8Array | readonly DataSet[];
export interface Element { tag: number; vr: VR; value: Value }
export type DataSet = Element[];

/** An element; `tag` as 0xGGGGEEEE. */
export const el = (tag: number, vr: VR, value: Value): Element => ({ tag, vr, value });
/** A sequence of items. */
export const seq = (tag: number, items: readonly DataSet[]): Element => ({ tag, vr: 'SQ', value: items });

/** A new UID under 2.25 (a UUID written as a decimal integer), as PS3.5 B.2 allows. */
export function newUid(): string {
  return `2.25.${BigInt(`0x${crypto.randomUUID().replace(/-/g, '')}`).toString()}`;
}

/** A decimal string of at most 16 characters (the DS limit). */
export function formatDS(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`DS value ${x} is not finite`);
  for (let p = 15; p >= 1; p--) {
    const s = String(Number(x.toPrecision(p)));
    if (s.length <= 16) return s;
  }
  return x.toExponential(8);
}

const LONG = new Set<VR>(['OB', 'SQ', 'UT']);
const TEXT = new Set<VR>(['LO', 'LT', 'PN', 'SH', 'ST', 'UT']);
const NUMERIC: Partial<Record<VR, [number, (dv: DataView, at: number, v: number) => void]>> = {
  US: [2, (dv, at, v) => dv.setUint16(at, v, true)],
  UL: [4, (dv, at, v) => dv.setUint32(at, v, true)],
  FD: [8, (dv, at, v) => dv.setFloat64(at, v, true)],
  // A tag value: group then element, each little endian.
  AT: [4, (dv, at, v) => { dv.setUint16(at, v >>> 16, true); dv.setUint16(at + 2, v & 0xffff, true); }],
};

function valueBytes(e: Element): Uint8Array {
  const v = e.value;
  if (e.vr === 'SQ') {
    return concat((v as readonly DataSet[]).map((item) => {
      const body = encodeDataSet(item);
      return concat([tagLength(0xfffee000, body.length), body]);
    }));
  }
  if (e.vr === 'OB') return pad(v as Uint8Array, 0);
  const list = Array.isArray(v) ? (v as (string | number)[]) : [v as string | number];
  const num = NUMERIC[e.vr];
  if (num) {
    const out = new Uint8Array(num[0] * list.length);
    const dv = new DataView(out.buffer);
    list.forEach((x, i) => num[1](dv, i * num[0], Number(x)));
    return out;
  }
  const text = list.map((x) => (typeof x === 'number' ? (e.vr === 'DS' ? formatDS(x) : String(Math.round(x))) : x)).join('\\');
  const bytes = Buffer.from(text, TEXT.has(e.vr) ? 'utf8' : 'latin1');
  return pad(bytes, e.vr === 'UI' ? 0 : 0x20);
}

/** Values have even length: UIDs and bytes pad with NUL, text with a space. */
function pad(b: Uint8Array, fill: number): Uint8Array {
  if (b.length % 2 === 0) return b;
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  out[b.length] = fill;
  return out;
}

function tagLength(tag: number, length: number): Uint8Array {
  const out = new Uint8Array(8);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, tag >>> 16, true);
  dv.setUint16(2, tag & 0xffff, true);
  dv.setUint32(4, length, true);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

/** The elements of `ds`, sorted by tag, in explicit VR little endian. */
export function encodeDataSet(ds: DataSet): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of [...ds].sort((a, b) => a.tag - b.tag)) {
    const value = valueBytes(e);
    const head = new Uint8Array(LONG.has(e.vr) ? 12 : 8);
    const dv = new DataView(head.buffer);
    dv.setUint16(0, e.tag >>> 16, true);
    dv.setUint16(2, e.tag & 0xffff, true);
    head[4] = e.vr.charCodeAt(0);
    head[5] = e.vr.charCodeAt(1);
    if (LONG.has(e.vr)) dv.setUint32(8, value.length, true);
    else if (value.length > 0xffff) throw new Error(`element ${e.tag.toString(16)} (${e.vr}) is ${value.length} bytes, over the 65535 its VR allows`);
    else dv.setUint16(6, value.length, true);
    parts.push(head, value);
  }
  return concat(parts);
}

/** UIDs naming this writer in the file meta information. */
const IMPLEMENTATION_UID = '2.25.258436108016497245396911651587374346523';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

/** A Part 10 file: preamble, "DICM", the file meta group, then `ds`. */
export function encodePart10(ds: DataSet, sopClassUid: string, sopInstanceUid: string, version: string): Uint8Array {
  const meta = encodeDataSet([
    el(0x00020001, 'OB', Uint8Array.of(0, 1)),
    el(0x00020002, 'UI', sopClassUid),
    el(0x00020003, 'UI', sopInstanceUid),
    el(0x00020010, 'UI', EXPLICIT_LE),
    el(0x00020012, 'UI', IMPLEMENTATION_UID),
    el(0x00020013, 'SH', `VNET_${version}`.slice(0, 16)),
  ]);
  const groupLength = encodeDataSet([el(0x00020000, 'UL', meta.length)]);
  return concat([new Uint8Array(128), Buffer.from('DICM', 'latin1'), groupLength, meta, encodeDataSet(ds)]);
}
