// The one way input files are read: a regular file (never a FIFO, device or socket, which could
// hang or never end), of a size known before reading and under a cap, read whole. Every input
// of the project (NIfTI, dataset.json, config.json, split.json, checkpoints, archives) goes
// through here, so the limits below are the only ones to know.
import fs from 'node:fs';
import { DataError } from './errors.js';
import { EnvError, limitBytes } from '../env.js';

const MiB = 1 << 20;

/** Caps, in bytes; each can be raised (or lowered) by its environment variable. */
export const LIMITS = {
  /** One input file (a volume, a checkpoint): VNET_MAX_FILE_MB, default 2048. */
  file: () => envMb('VNET_MAX_FILE_MB', 2048),
  /** A small JSON file (dataset.json, config.json, split.json): VNET_MAX_JSON_MB, default 64. */
  json: () => envMb('VNET_MAX_JSON_MB', 64),
  /** One decompressed volume (what a NIfTI header may declare): VNET_MAX_VOLUME_MB, default 2048. */
  volume: () => envMb('VNET_MAX_VOLUME_MB', 2048),
  /** A download without a known size: VNET_MAX_DOWNLOAD_MB, default 4096. */
  download: () => envMb('VNET_MAX_DOWNLOAD_MB', 4096),
};

function envMb(name: Parameters<typeof limitBytes>[0], dflt: number): number {
  try {
    return limitBytes(name, dflt);
  } catch (e) {
    if (e instanceof EnvError) throw new DataError('VNET_E_BAD_ARGUMENT', e.message);
    throw e;
  }
}

/** Opens `file` for reading without blocking on a FIFO; checks it is a regular file under `maxBytes`. */
export function openRegular(file: string, maxBytes: number): { fd: number; size: number } {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(code === 'ENOENT' ? 'VNET_E_MISSING_FILE' : 'VNET_E_CORRUPT_FILE', (e as Error).message, file);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new DataError('VNET_E_NOT_A_FILE', `not a regular file (${kind(st)}); inputs must be plain files`, file);
    if (st.size > maxBytes) {
      throw new DataError('VNET_E_TOO_LARGE', `${st.size} bytes is over the ${Math.round(maxBytes / MiB)} MiB limit for this input (raise VNET_MAX_FILE_MB / VNET_MAX_JSON_MB if it is right)`, file);
    }
    return { fd, size: st.size };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

function kind(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}

/** Reads a whole regular file of at most `maxBytes` (default: the file limit). */
export function readRegularFile(file: string, maxBytes = LIMITS.file()): Buffer {
  const { fd, size } = openRegular(file, maxBytes);
  try {
    const b = Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) {
      const n = fs.readSync(fd, b, off, size - off, off);
      if (n <= 0) break; // the file shrank while we read it
      off += n;
    }
    return off === size ? b : b.subarray(0, off);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads and parses a JSON file under the JSON limit; VNET_E_BAD_JSON names the file. */
export function readJsonFile(file: string): unknown {
  const text = readRegularFile(file, LIMITS.json()).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DataError('VNET_E_BAD_JSON', text.trim() === '' ? 'the file is empty' : (e as Error).message, file);
  }
}
