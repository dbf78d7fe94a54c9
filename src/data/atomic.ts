// The one atomic file writer: write a sibling temporary file, fsync it, rename it over the
// target, then fsync the folder, so a reader (or a crash, even a power cut) never sees a
// half-written checkpoint, mask, split or dataset: the previous file or the new one, whole.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DataError } from './errors.js';
import { makeDirs } from './outputs.js';

function tmpName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

const TMP_NAME = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;
const swept = new Set<string>();

/** Whether process `pid` still runs (EPERM: it does, as another user). */
function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/**
 * The first write of this process into `dir` removes the temporary files of writers that were
 * killed (their pid no longer runs); a live writer's are left alone.
 */
function sweepStale(dir: string): void {
  if (swept.has(dir)) return;
  swept.add(dir);
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return; }
  for (const n of names) {
    const m = TMP_NAME.exec(n);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) fs.rmSync(path.join(dir, n), { force: true });
  }
}

/** A failed write (disk full, quota, a file-size limit, permissions) names the file it was for. */
function writeError(target: string, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code !== 'string' || !err.syscall) return e as Error;
  return new DataError('VNET_E_WRITE', `cannot write it (${err.code}: ${err.message}); nothing was replaced`, target);
}

// Makes the rename itself durable; not every platform lets a folder be fsync'd.
function syncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  } catch { /* best effort */ }
}

/** Write `data` to `target` through a temporary file in the same folder, fsync and a rename. */
export function writeFileAtomicSync(target: string, data: string | Uint8Array): void {
  const dir = path.dirname(target);
  makeDirs(dir);
  sweepStale(dir);
  const tmp = tmpName(target);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw writeError(target, e);
  }
  syncDir(dir);
}

/** Async form of {@link writeFileAtomicSync}. */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(target);
  makeDirs(dir);
  sweepStale(dir);
  const tmp = tmpName(target);
  try {
    const fh = await fs.promises.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, target);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw writeError(target, e);
  }
  syncDir(dir);
}

/**
 * `target` becomes the same file as `source` (a hard link: no second copy on disk), atomically
 * through a temporary name; a copy where the filesystem has no hard links.
 */
export function linkFileAtomicSync(source: string, target: string): void {
  const tmp = tmpName(target);
  try {
    try { fs.linkSync(source, tmp); } catch { fs.copyFileSync(source, tmp); }
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw writeError(target, e);
  }
  syncDir(path.dirname(target));
}
