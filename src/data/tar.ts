// A small streaming tar extractor (ustar, GNU long names; pax headers honoured for path and
// size, otherwise skipped) for the MSD archives, so downloads need no external tool. Links and
// devices are skipped; absolute or '..' paths are refused; macOS '._*' sidecar files (found in
// the MSD tars) are dropped.
import fs from 'node:fs';
import path from 'node:path';
import { DataError } from './errors.js';
import { makeDirs } from './outputs.js';
import { openRegular } from './reader.js';

const BLOCK = 512;

function cstr(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

/** An unsigned octal (or GNU base-256) field; NaN when it is anything else (a sign, a stray digit). */
function octal(b: Buffer, off: number, len: number): number {
  if (b[off] === 0x80) {
    // GNU base-256 for sizes >= 8 GiB: big-endian bytes after the marker byte (0xff: negative).
    let v = 0;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i];
    return v;
  }
  if (b[off] & 0x80) return NaN;
  const s = b.toString('latin1', off, off + len).replace(/[\0 ]+/g, ' ').trim();
  if (s === '') return 0;
  return /^[0-7]+$/.test(s) ? parseInt(s, 8) : NaN;
}

/** A member size must be a whole number of bytes that fits the archive: never negative or NaN. */
function checkSize(size: number, fileSize: number, at: number, tarFile: string): number {
  if (!Number.isSafeInteger(size) || size < 0) throw new DataError('VNET_E_CORRUPT_FILE', `bad member size ${size} in the header at byte ${at}`, tarFile);
  if (at + BLOCK + size > fileSize) throw new DataError('VNET_E_CORRUPT_FILE', 'archive truncated in a file', tarFile);
  return size;
}

function checksumOk(h: Buffer): boolean {
  const stored = octal(h, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  return stored === unsigned || stored === signed;
}

function safeJoin(dest: string, name: string, tarFile: string): string {
  const norm = path.posix.normalize(name.replace(/\\/g, '/'));
  if (path.posix.isAbsolute(norm) || norm.split('/').includes('..')) {
    throw new DataError('VNET_E_CORRUPT_FILE', `refusing unsafe path in archive: ${name}`, tarFile);
  }
  return path.join(dest, norm);
}

/** Summary of an extraction. */
export interface TarSummary {
  files: number;
  bytes: number;
}

/** Extract `tarFile` into `destDir` (created). Throws VNET_E_CORRUPT_FILE on a damaged archive. */
export function extractTar(tarFile: string, destDir: string): TarSummary {
  makeDirs(destDir);
  const { fd, size: fileSize } = openRegular(tarFile, Number.MAX_SAFE_INTEGER);
  const h = Buffer.alloc(BLOCK);
  const chunk = Buffer.alloc(1 << 20);
  let pos = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  let paxSize: number | undefined;
  const out: TarSummary = { files: 0, bytes: 0 };
  const readData = (size: number): Buffer => {
    const b = Buffer.alloc(size);
    if (fs.readSync(fd, b, 0, size, pos) !== size) throw new DataError('VNET_E_CORRUPT_FILE', 'archive truncated', tarFile);
    return b;
  };
  try {
    for (;;) {
      if (fs.readSync(fd, h, 0, BLOCK, pos) < BLOCK) {
        if (pos >= fileSize) break; // archive without end blocks
        throw new DataError('VNET_E_CORRUPT_FILE', 'archive truncated in a header', tarFile);
      }
      pos += BLOCK;
      if (h.every((v) => v === 0)) break; // end of archive
      if (!checksumOk(h)) throw new DataError('VNET_E_CORRUPT_FILE', `bad header checksum at byte ${pos - BLOCK}`, tarFile);
      const type = String.fromCharCode(h[156] || 0x30);
      const size = checkSize(paxSize ?? octal(h, 124, 12), fileSize, pos - BLOCK, tarFile);
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      const posix = h.toString('latin1', 257, 263) === 'ustar\0';
      const prefix = posix ? cstr(h, 345, 155) : '';
      let name = paxPath ?? longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
      if (type === 'L') {
        longName = cstr(readData(size), 0, size);
        pos += padded;
        continue;
      }
      if (type === 'x') {
        const pax = parsePax(readData(size));
        paxPath = pax.path;
        paxSize = pax.size === undefined ? undefined : /^\d+$/.test(pax.size) ? Number(pax.size) : NaN;
        pos += padded;
        continue;
      }
      longName = paxPath = paxSize = undefined;
      name = name.replace(/^(\.\/)+/, '');
      const base = path.posix.basename(name);
      if (type === '5') {
        if (name) fs.mkdirSync(safeJoin(destDir, name, tarFile), { recursive: true });
      } else if ((type === '0' || type === '7') && name && !base.startsWith('._')) {
        const target = safeJoin(destDir, name, tarFile);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        // O_NOFOLLOW: a member never writes through a link (none are extracted, but be sure).
        const ofd = fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW);
        try {
          for (let left = size, at = pos; left > 0;) {
            const n = fs.readSync(fd, chunk, 0, Math.min(left, chunk.length), at);
            if (n <= 0) throw new DataError('VNET_E_CORRUPT_FILE', 'archive truncated in a file', tarFile);
            fs.writeSync(ofd, chunk, 0, n);
            left -= n;
            at += n;
          }
        } finally {
          fs.closeSync(ofd);
        }
        out.files++;
        out.bytes += size;
      } // 'g' global pax, 'K' long link, links and devices: skipped
      pos += padded;
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

function parsePax(b: Buffer): Record<string, string> {
  // Record lengths count bytes (UTF-8), so walk the buffer, not a decoded string.
  const out: Record<string, string> = {};
  let i = 0;
  while (i < b.length) {
    const sp = b.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(b.toString('latin1', i, sp), 10);
    if (!(len > 0) || i + len > b.length) break;
    const rec = b.toString('utf8', sp + 1, i + len - 1); // drop the trailing newline
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}
