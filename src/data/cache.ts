// The on-disk cache of preprocessed full-resolution cases (--cache_dir): each case written once,
// in a raw format read by region, so training holds patches, not volumes, and its memory does
// not grow with the number or size of the cases. A file is reused while its key (the source
// files' paths, sizes and mtimes, and the preprocessing) matches, and rebuilt when it does not.
//
// Layout of <dir>/<id>-<hash>.vnc: "VNC1", a uint32 header length, the JSON header (padded to 8 bytes),
// then the image (C, D, H, W) float32, the labels (D, H, W) as uint8 or int32, and the flat
// indices of the labelled voxels (int32, ascending), so a foreground patch picks one by offset.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from './atomic.js';
import { DataError } from './errors.js';
import type { Shape3 } from './nifti.js';
import { prepareCase, type CaseRef, type InputSpec } from './preprocess.js';

const MAGIC = 'VNC1';
export const CACHE_VERSION = 1;

/** What a batch job needs to read a cached case: its file and layout (a few numbers, cheap to post to a worker). */
export interface DiskCase {
  file: string;
  id: string;
  key: string;
  channels: number;
  /** The grid of the cached arrays (the case at its target spacing). */
  shape: Shape3;
  originalShape: Shape3;
  imageOffset: number;
  labelOffset: number;
  labelBytes: 1 | 4;
  fgOffset: number;
  /** Labelled voxels. */
  fgCount: number;
}

/** The key of a case's cache file: its source files (path, size, mtime) and the preprocessing. */
export function cacheKey(ref: CaseRef, input: InputSpec): string {
  const files = [...(ref.channels ?? [ref.image]), ...(ref.label ? [ref.label] : [])].map((f) => {
    const st = fs.statSync(f);
    return [path.resolve(f), st.size, st.mtimeMs];
  });
  return crypto.createHash('sha256').update(JSON.stringify({ v: CACHE_VERSION, files, input })).digest('hex');
}

/** The case's file: its id made safe for a file name, plus a hash of the id so two ids never share a file. */
const fileOf = (dir: string, id: string) => path.join(dir, `${id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100)}-${crypto.createHash('sha256').update(id).digest('hex').slice(0, 8)}.vnc`);

/** The cached case when its file exists and matches the key; undefined to rebuild. */
export function openDiskCase(dir: string, ref: CaseRef, input: InputSpec): DiskCase | undefined {
  const file = fileOf(dir, ref.id);
  if (!fs.existsSync(file)) return undefined;
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(8);
    if (fs.readSync(fd, head, 0, 8, 0) !== 8 || head.toString('latin1', 0, 4) !== MAGIC) return undefined;
    const n = head.readUInt32LE(4);
    if (n > 1 << 16) return undefined;
    const json = Buffer.alloc(n);
    if (fs.readSync(fd, json, 0, n, 8) !== n) return undefined;
    const d = JSON.parse(json.toString('utf8')) as DiskCase;
    const end = d.fgOffset + 4 * d.fgCount;
    if (d.key !== cacheKey(ref, input) || fs.fstatSync(fd).size !== end) return undefined;
    return { ...d, file };
  } catch {
    return undefined; // unreadable: rebuilt
  } finally {
    fs.closeSync(fd);
  }
}

/** Preprocess a labelled case at full resolution and write its cache file (atomically). */
export function writeDiskCase(dir: string, ref: CaseRef, input: InputSpec): DiskCase {
  if (!ref.label) throw new DataError('VNET_E_BAD_ARGUMENT', `case ${ref.id}: only labelled training cases are cached`);
  const key = cacheKey(ref, input);
  const c = prepareCase(ref, undefined, { fullResolution: true, input });
  const label = c.label!;
  const shape = c.shape ?? c.originalShape;
  let max = 0, fgCount = 0;
  for (let i = 0; i < label.length; i++) { if (label[i] > max) max = label[i]; if (label[i] > 0) fgCount++; }
  const labelBytes = max < 256 ? 1 : 4;
  const fg = new Int32Array(fgCount);
  for (let i = 0, k = 0; i < label.length; i++) if (label[i] > 0) fg[k++] = i;
  const meta = { id: ref.id, key, channels: input.channels ?? 1, shape, originalShape: c.originalShape, labelBytes };
  // Offsets depend on the header's length, which depends on the offsets: size it with room to spare.
  const headLen = Math.ceil((JSON.stringify({ ...meta, imageOffset: 0, labelOffset: 0, fgOffset: 0, fgCount }).length + 64) / 8) * 8;
  const imageOffset = 8 + headLen;
  const labelOffset = imageOffset + c.image.byteLength;
  const fgOffset = labelOffset + Math.ceil((label.length * labelBytes) / 4) * 4;
  const header = JSON.stringify({ ...meta, imageOffset, labelOffset, fgOffset, fgCount }).padEnd(headLen, ' ');
  const out = new Uint8Array(fgOffset + fg.byteLength);
  out.set(Buffer.from(MAGIC, 'latin1'), 0);
  new DataView(out.buffer).setUint32(4, headLen, true);
  out.set(Buffer.from(header, 'utf8'), 8);
  out.set(new Uint8Array(c.image.buffer, c.image.byteOffset, c.image.byteLength), imageOffset);
  if (labelBytes === 1) out.set(Uint8Array.from(label), labelOffset);
  else out.set(new Uint8Array(label.buffer, label.byteOffset, label.byteLength), labelOffset);
  out.set(new Uint8Array(fg.buffer), fgOffset);
  const file = fileOf(dir, ref.id);
  writeFileAtomicSync(file, out);
  return { file, ...meta, imageOffset, labelOffset, fgOffset, fgCount } as DiskCase;
}

/** The cached case, written first when it is missing or stale. */
export function diskCase(dir: string, ref: CaseRef, input: InputSpec): DiskCase {
  return openDiskCase(dir, ref, input) ?? writeDiskCase(dir, ref, input);
}

/** An open cache file: reads of boxes of the image's channels and labels, and foreground voxels by rank. */
export class DiskReader {
  private readonly fd: number;
  constructor(readonly d: DiskCase) {
    this.fd = fs.openSync(d.file, 'r');
  }

  /** The flat index of the k-th labelled voxel (ascending order). */
  foreground(k: number): number {
    const b = Buffer.alloc(4);
    fs.readSync(this.fd, b, 0, 4, this.d.fgOffset + 4 * k);
    return b.readInt32LE(0);
  }

  /**
   * The box of `patch` voxels at `start` (may reach outside: `pad` there) of one channel (or
   * the labels, channel -1), into `dst`: one read per x plane of the rows the box spans.
   */
  readBox(channel: number, start: readonly number[], patch: Shape3, dst: Float32Array | Int32Array, pad = 0): void {
    const [D, H, W] = this.d.shape, [pd, ph, pw] = patch;
    const isLabel = channel < 0, bytes = isLabel ? this.d.labelBytes : 4;
    const base = isLabel ? this.d.labelOffset : this.d.imageOffset + channel * D * H * W * 4;
    const y0 = Math.max(0, start[1]), y1 = Math.min(H, start[1] + ph);
    const z0 = Math.max(0, -start[2]), z1 = Math.min(pw, W - start[2]);
    dst.fill(pad);
    if (y1 <= y0 || z1 <= z0) return;
    const rows = Buffer.alloc((y1 - y0) * W * bytes);
    const view = bytes === 1 ? new Uint8Array(rows.buffer, rows.byteOffset, rows.length) : bytes === 4 && isLabel ? new Int32Array(rows.buffer, rows.byteOffset, rows.length / 4) : new Float32Array(rows.buffer, rows.byteOffset, rows.length / 4);
    for (let x = 0; x < pd; x++) {
      const sx = start[0] + x;
      if (sx < 0 || sx >= D) continue;
      fs.readSync(this.fd, rows, 0, rows.length, base + (sx * H + y0) * W * bytes);
      for (let y = y0; y < y1; y++) {
        const o = (x * ph + (y - start[1])) * pw, s = (y - y0) * W + start[2];
        for (let z = z0; z < z1; z++) dst[o + z] = view[s + z];
      }
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
