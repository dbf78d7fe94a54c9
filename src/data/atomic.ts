// Atomic file writes: write a sibling temporary file, then rename over the target, so a reader
// (or a crash) never sees a half-written mask, split or dataset.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeDirs } from './outputs.js';

function tmpName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Write `data` to `target` through a temporary file in the same folder and a rename. */
export function writeFileAtomicSync(target: string, data: string | Uint8Array): void {
  makeDirs(path.dirname(target));
  const tmp = tmpName(target);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** Async form of {@link writeFileAtomicSync}. */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  makeDirs(path.dirname(target));
  const tmp = tmpName(target);
  try {
    await fs.promises.writeFile(tmp, data);
    await fs.promises.rename(tmp, target);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
}
