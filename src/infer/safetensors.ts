// Checkpoints in the safetensors format (readable by the Python `safetensors` package), written
// atomically and read back with every header field checked, so a bad file fails loudly by name.
import { DataError, readRegularFile, writeFileAtomicSync } from '../data/index.js';

export type StDtype = 'F32' | 'F16' | 'I32';

/** One tensor. F16 data is the raw IEEE half bits. */
export interface StTensor {
  dtype: StDtype;
  shape: number[];
  data: Float32Array | Uint16Array | Int32Array;
}

export interface StFile {
  tensors: Map<string, StTensor>;
  metadata: Record<string, string>;
}

/** A checkpoint that cannot be read; `file` names it. */
export class CheckpointError extends Error {
  readonly code = 'VNET_E_CHECKPOINT';
  readonly file?: string;
  constructor(message: string, file?: string) {
    super(`VNET_E_CHECKPOINT ${file ?? '<bytes>'}: ${message}`);
    this.name = 'CheckpointError';
    this.file = file;
  }
}

const BYTES: Record<StDtype, number> = { F32: 4, F16: 2, I32: 4 };
/** The reference implementation refuses headers over 100 MB; so do we. */
const MAX_HEADER = 100_000_000;

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Serialise. Order is deterministic: larger element size first (keeps every tensor aligned to its
 * element size within the 8-aligned data section, as the Rust writer does), then name.
 */
export function encodeSafetensors(tensors: ReadonlyMap<string, StTensor>, metadata?: Record<string, string>): Uint8Array {
  const names = [...tensors.keys()].sort((a, b) => {
    const d = BYTES[tensors.get(b)!.dtype] - BYTES[tensors.get(a)!.dtype];
    return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
  });
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new Error(`safetensors metadata ${k} is not a string`);
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new Error('"__metadata__" cannot be a tensor name');
    const t = tensors.get(name)!;
    if (!(t.dtype in BYTES)) throw new Error(`tensor ${name}: unsupported dtype ${t.dtype}`);
    if (!t.shape.every((s) => Number.isInteger(s) && s >= 0)) throw new Error(`tensor ${name}: bad shape [${t.shape}]`);
    const n = count(t.shape);
    if (t.data.length !== n) throw new Error(`tensor ${name}: ${t.data.length} elements for shape [${t.shape}]`);
    if (t.data.BYTES_PER_ELEMENT !== BYTES[t.dtype]) throw new Error(`tensor ${name}: ${t.data.constructor.name} for ${t.dtype}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n * BYTES[t.dtype]] };
    offset += n * BYTES[t.dtype];
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  for (const name of names) {
    const t = tensors.get(name)!;
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(bytes, at);
    if (!le) swap(out.subarray(at, at + bytes.length), t.data.BYTES_PER_ELEMENT);
    at += bytes.length;
  }
  return out;
}

function swap(b: Uint8Array, size: number): void {
  for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
}

/**
 * Write `file` atomically (the data layer's one atomic writer: temporary file, fsync, rename).
 * A crash leaves the previous checkpoint (or none) under the final name, never a half-written one.
 */
export function writeSafetensors(file: string, tensors: ReadonlyMap<string, StTensor>, metadata?: Record<string, string>): void {
  writeFileAtomicSync(file, encodeSafetensors(tensors, metadata));
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Parse safetensors bytes; `file` only names the source in errors. Data is copied out. */
export function decodeSafetensors(b: Uint8Array, file?: string): StFile {
  const fail = (m: string): never => { throw new CheckpointError(m, file); };
  if (b.length < 8) fail(`too short for a safetensors file (${b.length} bytes)`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(Math.min(MAX_HEADER, b.length - 8))) fail(`header length ${n64} is absurd for a ${b.length}-byte file`);
  const n = Number(n64);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(8, 8 + n)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (!isObj(header)) return fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = b.length - dataStart;
  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  const tensors = new Map<string, StTensor>();
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isObj(v)) fail('__metadata__ is not an object');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') fail(`__metadata__.${k} is not a string`);
        metadata[k] = s as string;
      }
      continue;
    }
    if (!isObj(v)) return fail(`tensor ${name}: entry is not an object`);
    const { dtype, shape, data_offsets: off } = v;
    if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'I32') return fail(`tensor ${name}: unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isIndex)) return fail(`tensor ${name}: bad shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(off) || off.length !== 2 || !isIndex(off[0]) || !isIndex(off[1]) || off[0] > off[1]) {
      return fail(`tensor ${name}: bad data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    if (end > dataLen) fail(`tensor ${name}: data_offsets [${begin}, ${end}] run past the data (${dataLen} bytes; file truncated?)`);
    const need = count(shape) * BYTES[dtype];
    if (end - begin !== need) fail(`tensor ${name}: ${end - begin} bytes but ${dtype} [${shape}] needs ${need}`);
    spans.push({ name, begin, end });
    const bytes = new Uint8Array(b.subarray(dataStart + begin, dataStart + end)); // a copy, not a view
    const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    if (!le) swap(bytes, BYTES[dtype]);
    const data = dtype === 'F32' ? new Float32Array(bytes.buffer) : dtype === 'I32' ? new Int32Array(bytes.buffer) : new Uint16Array(bytes.buffer);
    tensors.set(name, { dtype, shape: [...shape], data });
  }
  spans.sort((a, c) => a.begin - c.begin || a.end - c.end);
  let prev = 0;
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    // Empty tensors may sit anywhere; real bytes may not be shared.
    if (s.begin < prev && s.end > s.begin) fail(`tensor ${s.name}: data_offsets [${s.begin}, ${s.end}] overlap ${spans[i - 1].name}`);
    prev = Math.max(prev, s.end);
  }
  if (prev !== dataLen) fail(`${dataLen - prev} bytes after the last tensor (header says ${prev} data bytes, file has ${dataLen})`);
  return { tensors, metadata };
}

/** Read and validate a safetensors file; every failure is a CheckpointError naming `file`. */
export function readSafetensors(file: string): StFile {
  let b: Buffer;
  try {
    b = readRegularFile(file);
  } catch (e) {
    throw new CheckpointError(e instanceof DataError ? `${e.code}: ${e.detail}` : (e as Error).message, file);
  }
  return decodeSafetensors(b, file);
}
