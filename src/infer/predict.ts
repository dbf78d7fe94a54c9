// The predict mode's writing loop: every case through the segmenter (the one inference path,
// shared with `serve`), its mask written to `<outDir>/<id>.nii.gz` at the input's shape and geometry.
import fs from 'node:fs';
import path from 'node:path';
import { imageSource, writeFileAtomic, type CaseRef } from '../data/index.js';
import type { Segmenter } from './segmenter.js';

/** Segments every case with `seg` and writes `<outDir>/<id>.nii.gz` at the input's shape and geometry. */
export async function predictCases(seg: Segmenter, cases: CaseRef[], outDir: string, onCase?: (id: string, file: string) => void): Promise<string[]> {
  const files: string[] = [];
  fs.mkdirSync(outDir, { recursive: true });
  // A few batches per call, so reading overlaps the forward passes without holding every mask.
  const chunkSize = 4 * seg.info.maxBatch;
  for (let i = 0; i < cases.length; i += chunkSize) {
    const chunk = cases.slice(i, i + chunkSize);
    const res = await seg.segmentBatch(chunk.map(imageSource));
    for (let j = 0; j < chunk.length; j++) {
      const file = path.join(outDir, `${chunk[j].id}.nii.gz`);
      await writeFileAtomic(file, res[j].mask);
      files.push(file);
      onCase?.(chunk[j].id, file);
    }
  }
  return files;
}
