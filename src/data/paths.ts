// Where the dataset lives by default, and how a case id is derived from a file name.
import { envValue } from '../env.js';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Environment variable that overrides the dataset folder (the one holding dataset.json). */
export const DATA_DIR_ENV = 'VNET_DATA_DIR' as const;

/**
 * The repository root: the nearest folder above this module whose package.json is vnet-native's.
 * Walking up works both from src/data (tests) and from dist/src/data (compiled); falls back to
 * the working directory when the module was compiled somewhere else.
 */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if ((JSON.parse(fs.readFileSync(pj, 'utf8')) as { name?: string }).name === 'vnet-native') return dir;
      } catch { /* not ours: keep walking */ }
    }
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/** `$VNET_DATA_DIR`, else `<repo>/../shared/data/Task04_Hippocampus`. */
export function defaultDataDir(): string {
  const env = envValue(DATA_DIR_ENV);
  if (env && env.length > 0) return path.resolve(env);
  return path.resolve(repoRoot(), '../shared/data/Task04_Hippocampus');
}

/** File name without folder and without `.nii.gz` / `.nii` (any other extension is kept). */
export function stripNiftiExt(file: string): string {
  const base = path.basename(file);
  if (base.endsWith('.nii.gz')) return base.slice(0, -7);
  if (base.endsWith('.nii')) return base.slice(0, -4);
  return base;
}

/** This package's version, from its package.json ('unknown' when that cannot be read). */
export function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
